"""The alert pump (hipsense.mqtt.delivery) over a real SQLite outbox, without a broker.

``publish`` stands for the MQTT client's hand-over: it records what the pump hands over and answers with the
client's result code and message id, as paho's ``publish()`` does.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from hipsense.mqtt.delivery import STOP, WAKE, Ack, Link, pump_alerts
from hipsense.outbox import Outbox


@dataclass(frozen=True)
class _Info:
    rc: int
    mid: int


class _Pump:
    """The pump on its own thread, with the alerts it handed over (topic, payload, mid) in order."""

    def __init__(self, outbox: Outbox, window: int) -> None:
        self.outbox = outbox
        self.events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.progress = threading.Condition()
        self.handed: list[tuple[str, str, int]] = []
        self.thread = threading.Thread(
            target=pump_alerts,
            args=(self.events, outbox, self._publish),
            kwargs={"window": window, "progress": self.progress, "broker_url": "mqtt://test"},
            daemon=True,
        )

    def _publish(self, topic: str, payload: str) -> _Info:
        mid = len(self.handed) + 1
        self.handed.append((topic, payload, mid))
        return _Info(mqtt.MQTT_ERR_SUCCESS, mid)

    def until(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()`` (checked after each batch of the pump's work); fail after 30 s."""
        with self.progress:
            assert self.progress.wait_for(done, timeout=30.0), "the pump did not get there"


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.sqlite3") as box:
        yield box


def _alert(i: int) -> dict[str, str]:
    return {"event_type": "prolonged_sitting", "time": f"2026-01-01T10:00:{i:02d}+00:00", "message": f"a{i}"}


def test_pump_hands_alerts_in_order_within_the_window_and_acks_empty_the_outbox(outbox: Outbox) -> None:
    ids = [outbox.put("hipsense/anna/alert", _alert(i)).alert_id for i in range(5)]
    pump = _Pump(outbox, window=2)
    pump.thread.start()
    pump.events.put(Link(connected=True))
    pump.events.put(WAKE)
    pump.until(lambda: len(pump.handed) == 2)
    assert len(outbox) == 5  # handed over is not delivered: nothing leaves the outbox before its PUBACK
    success = ReasonCode(PacketTypes.PUBACK, "Success")
    for mid in range(1, 6):
        pump.events.put(Ack(mid, success))
        pump.until(lambda mid=mid: len(outbox) == 5 - mid)
    pump.events.put(STOP)
    pump.thread.join()
    assert len(pump.handed) == 5
    assert [m for _, _, m in pump.handed] == [1, 2, 3, 4, 5]
    assert all(topic == "hipsense/anna/alert" for topic, _, _ in pump.handed)
    assert all(f'"id":"{alert_id}"' in p for (_, p, _), alert_id in zip(pump.handed, ids, strict=True))
    assert len(outbox) == 0


def test_a_refused_alert_stays_in_the_outbox(outbox: Outbox) -> None:
    alert_id = outbox.put("hipsense/anna/alert", _alert(0)).alert_id
    pump = _Pump(outbox, window=10)
    pump.thread.start()
    pump.events.put(Link(connected=True))
    pump.events.put(WAKE)
    pump.until(lambda: len(pump.handed) == 1)
    pump.events.put(Ack(1, ReasonCode(PacketTypes.PUBACK, "Unspecified error")))
    pump.events.put(STOP)
    pump.thread.join()
    assert [e.alert_id for e in outbox.pending()] == [alert_id]
