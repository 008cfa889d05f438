"""Exercise logged by hand over MQTT (``<base>/exercise/log``) reaches the history store and the day's total."""

from __future__ import annotations

import json
import logging
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import paho.mqtt.publish as mqtt_publish
import pytest

from hipsense.exercise_log import ExerciseLog
from hipsense.mqtt import BrokerSettings, Publisher
from hipsense.store import HistoryStore
from processing.pipeline import PipelineParams, PostureTracker
from tests.support.broker import Broker

START = datetime(2026, 4, 6, 17, 0, tzinfo=timezone(timedelta(hours=2)))


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
