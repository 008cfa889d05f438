"""Exercise logged by hand over MQTT (``<base>/exercise/log``, hipsense.exercise_log) reaches the history store and the
day's total, against a real Mosquitto; hostile messages (issue 11, rows 1, 7 and 10) are bounded, validated and
rate-limited, and none may crash a run, grow its memory or fill the history."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import time
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.publish as mqtt_publish
import pytest

from hipsense.commands import live
from hipsense.exercise_log import ExerciseLog
from hipsense.mqtt import BrokerSettings, Publisher
from hipsense.store import HistoryStore
from processing.pipeline import PipelineParams, PostureTracker
from tests.support.broker import Broker
from tests.support.mqtt import publish_all

NESTED = ("[" * 1000 + "]" * 1000).encode()  # 2 KB, 1000 deep: RecursionError in json.loads


START = datetime(2026, 4, 6, 17, 0, tzinfo=timezone(timedelta(hours=2)))


def _drain(exercise: ExerciseLog, *, settle_s: float = 1.0) -> None:
    """Iterate the exercise subscription (as the runtime does) for ``settle_s`` seconds, handing each message to
    ``exercise``."""

    async def consume() -> None:
        async for message in exercise.subscription.messages():
            exercise.handle(message, t=0.0)

    async def main() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(consume(), settle_s)

    asyncio.run(main())


def _tracker() -> PostureTracker:
    now = datetime.now(UTC).astimezone()
    return PostureTracker(PipelineParams(rate_hz=50.0, start=now))


def _parse_live(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hipsense")
    sub = parser.add_subparsers(dest="command", required=True)
    live.register(sub)
    return parser.parse_args(argv)


def _run_live(broker: Broker) -> None:
    args = _parse_live(
        ["live", "--virtual", "--rate", "50", "--scenario", "stand 40", "--speed", "20", "--mqtt", broker.url]
    )
    asyncio.run(live.live_main(args))


def test_exercise_logged_over_mqtt_is_stored_once(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    tracker = PostureTracker(PipelineParams(rate_hz=50.0, start=START))
    with (
        Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3", discovery_prefix=None) as pub,
        HistoryStore(tmp_path / "h.sqlite3") as store,
    ):
        assert pub.wait_connected(5)
        exercise = ExerciseLog.for_publisher(pub, store, tracker)
        time.sleep(0.3)  # the subscription is made on connect
        messages = [
            {"minutes": 6, "what": "glute bridges", "id": "m1"},
            {"minutes": 6, "what": "glute bridges", "id": "m1"},  # delivered twice: counted once
            {"minutes": 4, "what": "dead bugs", "day": "2026-04-05"},
            "not json",
            {"minutes": -3},
        ]
        for m in messages:
            payload = m if isinstance(m, str) else json.dumps(m)
            mqtt_publish.single(pub.exercise_topic, payload, qos=1, hostname="127.0.0.1", port=broker.port)
        deadline = time.monotonic() + 5
        got = []
        while len(got) < len(messages) and time.monotonic() < deadline:
            got += pub.exercise_log.take()
            time.sleep(0.05)
        assert len(got) == len(messages)
        with caplog.at_level(logging.WARNING):
            for message in got:
                exercise.handle(message, t=0.0)
        log_today = store.exercise_log(date(2026, 4, 6))
        log_before = store.exercise_log(date(2026, 4, 5))
    assert log_today == [(360.0, "glute bridges", "mqtt")]
    assert log_before == [(240.0, "dead bugs", "mqtt")]
    assert tracker.days[date(2026, 4, 6)].exercise_s == 360.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all(w.startswith("hipsense/anna/exercise/log: ignored") for w in warnings)


# issue 11, rows 1 and 10: retained messages at every restart
@pytest.mark.parametrize("payload", [NESTED, b'{"minutes": 5, "what": "bridges"}'], ids=["nested", "valid"])
def test_live_survives_a_retained_exercise_message_at_every_restart_and_logs_it_once(
    payload: bytes, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("bumble")
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text('[wearer]\nid = "me"\n')
    publish_all(broker, "hipsense/me/exercise/log", [payload], retain=True)
    for _ in range(2):  # a restart receives the retained message again
        _run_live(broker)
    with HistoryStore(tmp_path / "home" / "data" / "history.sqlite3") as store:
        logged = [row for day in {date.today(), date.today() - timedelta(days=1)} for row in store.exercise_log(day)]
    assert logged == ([] if payload is NESTED else [(300.0, "bridges", "mqtt")])


# issue 11, rows 10 and 7: a flood
def test_exercise_log_flood_is_rate_limited_and_capped_per_day(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    tracker = _tracker()
    today = tracker.clock.day(0.0)
    with (
        Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3", discovery_prefix=None) as pub,
        HistoryStore(tmp_path / "h.sqlite3") as store,
    ):
        assert pub.wait_connected(5)
        exercise = ExerciseLog.for_publisher(pub, store, tracker)
        time.sleep(0.3)
        flood = [json.dumps({"minutes": 60, "what": "flood", "id": f"f{i}"}) for i in range(2000)]
        with caplog.at_level(logging.WARNING):
            publish_all(broker, pub.exercise_topic, flood)
            _drain(exercise, settle_s=2.0)
        logged_s = sum(d for d, _, _ in store.exercise_log(today))
    assert 0 < logged_s <= 4 * 3600  # the daily cap (240 min), not 2000 h
    assert tracker.days[today].exercise_s == logged_s
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) < 50  # one line per window, not one per message
    assert any("dropped" in w or "cap" in w for w in warnings)


# issue 11, row 7: odd types, dates out of the window
@pytest.mark.parametrize(
    "message",
    [
        {"minutes": True},
        {"minutes": "5"},
        {"minutes": 1e308},
        {"minutes": 5, "day": "9999-12-31"},
        {"minutes": 5, "day": "1900-01-01"},
        {"minutes": 5, "what": ["x"]},
        {"minutes": 5, "id": {"a": 1}},
        [5],
    ],
)
def test_exercise_message_with_odd_types_or_dates_is_refused(
    message: object, broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    tracker = _tracker()
    with (
        Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3", discovery_prefix=None) as pub,
        HistoryStore(tmp_path / "h.sqlite3") as store,
    ):
        assert pub.wait_connected(5)
        exercise = ExerciseLog.for_publisher(pub, store, tracker)
        time.sleep(0.3)
        with caplog.at_level(logging.WARNING):
            publish_all(broker, pub.exercise_topic, [json.dumps(message)])
            _drain(exercise)
        (stored,) = store.conn.execute("SELECT COUNT(*) FROM exercise").fetchone()
    assert stored == 0
    assert [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
