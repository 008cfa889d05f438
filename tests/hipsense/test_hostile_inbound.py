"""Hostile MQTT input against a real Mosquitto (issue 11, rows 1, 7, 9, 10, 11, 12, 15).

Every inbound message is bounded (size, depth, rate, ranges, dates) and validated before use; none of them may
crash a run, grow its memory or fill the history.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from hipsense.commands import live
from hipsense.discovery import DiscoveryMessage
from hipsense.exercise_log import ExerciseLog
from hipsense.mqtt import BrokerError, BrokerSettings, Publisher
from hipsense.store import HistoryStore
from processing.pipeline import PipelineParams, PostureTracker
from tests.support.broker import Broker, Collector

NESTED = ("[" * 1000 + "]" * 1000).encode()  # 2 KB, 1000 deep: RecursionError in json.loads


def _publish(broker: Broker, topic: str, payloads: list[bytes | str], *, retain: bool = False) -> None:
    """Publish every payload with one client (QoS 1, in order), and wait until the broker has them all."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        infos = [client.publish(topic, p, qos=1, retain=retain) for p in payloads]
        for info in infos:
            info.wait_for_publish(timeout=30)
    finally:
        client.disconnect()
        client.loop_stop()


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


# -- row 1 and row 10: retained messages at every restart ---------------------------------------------------------


@pytest.mark.parametrize("payload", [NESTED, b'{"minutes": 5, "what": "bridges"}'], ids=["nested", "valid"])
def test_live_survives_a_retained_exercise_message_at_every_restart_and_logs_it_once(
    payload: bytes, broker: Broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("bumble")
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "config.toml").write_text('[wearer]\nid = "me"\n')
    _publish(broker, "hipsense/me/exercise/log", [payload], retain=True)
    for _ in range(2):  # a restart receives the retained message again
        _run_live(broker)
    with HistoryStore(tmp_path / "home" / "data" / "history.sqlite3") as store:
        logged = [row for day in {date.today(), date.today() - timedelta(days=1)} for row in store.exercise_log(day)]
    assert logged == ([] if payload is NESTED else [(300.0, "bridges", "mqtt")])


# -- row 10 and row 7: flood, odd types, dates out of the window -------------------------------------------------


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
            _publish(broker, pub.exercise_topic, flood)
            _drain(exercise, settle_s=2.0)
        logged_s = sum(d for d, _, _ in store.exercise_log(today))
    assert 0 < logged_s <= 4 * 3600  # the daily cap (240 min), not 2000 h
    assert tracker.days[today].exercise_s == logged_s
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) < 50  # one line per window, not one per message
    assert any("dropped" in w or "cap" in w for w in warnings)


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
            _publish(broker, pub.exercise_topic, [json.dumps(message)])
            _drain(exercise)
        (stored,) = store.conn.execute("SELECT COUNT(*) FROM exercise").fetchone()
    assert stored == 0
    assert [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]


# -- row 9: large inbound messages are not kept -------------------------------------------------------------------


def test_large_inbound_messages_are_dropped_not_kept(broker: Broker, tmp_path: Path) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    with Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3", discovery_prefix=None) as pub:
        assert pub.wait_connected(5)
        time.sleep(0.3)
        big = b"{" + b" " * (4 * 1024 * 1024) + b"}"
        _publish(broker, pub.exercise_topic, [big] * 5 + [b'{"minutes": 5}'])
        got: list[bytes] = []
        deadline = time.monotonic() + 10
        while b'{"minutes": 5}' not in got and time.monotonic() < deadline:
            got += [m.payload for m in pub.exercise_log.take()]
            time.sleep(0.05)
    assert got == [b'{"minutes": 5}']
    # The broker itself never sent them (MQTT v5 Maximum Packet Size): nothing was received to be dropped.
    assert broker.log_text().count("Dropping too large outgoing PUBLISH") == 5


# -- row 11: homeassistant/status flood ---------------------------------------------------------------------------


def test_a_flood_of_online_messages_does_not_flood_discovery(broker: Broker, collect, tmp_path: Path) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    sub: Collector = collect(broker.port, ["homeassistant/#"])
    with Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3") as pub:
        assert pub.wait_connected(5)
        assert pub.discovery is not None
        n_per_send = len(pub.discovery.messages)
        assert sub.wait_for(lambda ms: sum(m.topic.endswith("/config") for m in ms) >= n_per_send)
        _publish(broker, "homeassistant/status", ["online"] * 2000)
        # The broker may drop QoS 0 copies for a subscriber that falls behind on a loaded machine: wait until the
        # flood has stopped arriving rather than for all 2000.
        seen, deadline = -1, time.monotonic() + 30
        while time.monotonic() < deadline:
            now = sum(m.topic == "homeassistant/status" for m in sub.messages)
            if now == seen:
                break
            seen = now
            time.sleep(1.5)
        assert seen >= 500, f"only {seen} status messages arrived: the flood did not happen"
        time.sleep(1.0)  # let the publisher answer what it received
    configs = sum(m.topic.endswith("/config") for m in sub.messages)
    assert n_per_send <= configs <= 3 * n_per_send


# -- row 12: hipsense alerts prints no terminal control sequences -------------------------------------------------


def test_alerts_command_strips_control_characters_and_survives_odd_alerts(
    broker: Broker, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**subprocess_env, "HIPSENSE_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "hipsense", "alerts", "--mqtt", broker.url, "--count", "2", "--timeout", "10"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        assert b"listening for alerts" in proc.stderr.readline()  # subscribed
        now = datetime.now(UTC).isoformat()
        evil = {"id": "e1", "event_type": "recalibrate", "time": now, "message": "hi\x1b]0;pwned\x07\x1b[2J\x9b2Jx"}
        deep = '{"id": "e2", "event_type": "recalibrate", "time": "t", "message": ' + "[" * 5000 + "]" * 5000 + "}"
        odd = {"id": ["x"], "event_type": {"a": 1}, "time": 5, "message": {"b": [1, 2]}}
        last = {"id": "e4", "event_type": "battery_low", "time": now, "message": "battery\nlow\r"}
        _publish(broker, "hipsense/me/alert", [json.dumps(evil), deep, json.dumps(odd), json.dumps(last)])
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    text = out.decode("utf-8")
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text)
    lines = text.splitlines()
    assert len(lines) == 2 and "hi" in lines[0] and "pwned" in lines[0]


# -- row 15: a wildcard prefix; paho's thread dying ---------------------------------------------------------------


@pytest.mark.parametrize("line", ['discovery_prefix = "home/#"', 'discovery_prefix = "ha/+/x"', 'base_topic = "a//b"'])
def test_wildcard_topics_in_the_config_are_refused_naming_the_key(
    line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hipsense.cli import main

    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path))
    (tmp_path / "config.toml").write_text(f"[mqtt]\n{line}\n")
    assert main(["config", "--show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and line.split()[0] in err.splitlines()[0]


def test_a_dead_mqtt_thread_fails_the_run(broker: Broker, tmp_path: Path) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    pub = Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3", startup_wait_s=1.0)
    # A discovery topic paho refuses to publish: its network thread dies in on_connect.
    assert pub.discovery is not None
    pub.discovery.messages = [DiscoveryMessage(topic="homeassistant/#", payload={})]
    with pytest.raises(BrokerError, match="MQTT client thread"), pub:
        pub.publish_alert({"event_type": "recalibrate", "time": datetime.now(UTC).isoformat(), "message": "x"})
