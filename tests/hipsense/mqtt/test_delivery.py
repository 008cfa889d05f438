"""Alert delivery (hipsense.mqtt.delivery).

The pump over a real SQLite outbox, without a broker: ``publish`` stands for the MQTT client's hand-over: it
records what the pump hands over and answers with the client's result code and message id, as paho's ``publish()``
does. Then the whole channel against a real Mosquitto: broker outages, a killed process, alert ids."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from hipsense.config import Config, MqttConfig, WearerConfig
from hipsense.mqtt import publisher_from_config
from hipsense.mqtt.delivery import STOP, WAKE, Ack, Link, pump_alerts
from hipsense.outbox import Outbox
from tests.support.broker import Broker, Collector
from tests.support.mqtt import BASE, alert, child_publisher, ids_in_arrival_order, running


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


def test_broker_outage_mid_stream_loses_no_alert_and_keeps_order(
    broker: Broker, tmp_path: Path, collect: Callable[..., Collector]
) -> None:
    n = 120
    sub = collect(broker.port, [f"{BASE}/alert"])
    waiting_at_restart: list[int] = []
    with running(broker.url, tmp_path / "o.sqlite3") as pub:

        def produce() -> None:
            for i in range(n):
                pub.publish_alert(alert(i))
                time.sleep(0.05)

        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(1.0)
        broker.stop()
        time.sleep(5.0)
        waiting_at_restart.append(pub.pending_alerts)
        broker.start()
        producer.join()
        assert pub.flush(30), f"{pub.pending_alerts} alerts still waiting"
    assert waiting_at_restart[0] > 50  # alerts really were produced while the broker was away
    assert sub.wait_for(lambda ms: len({m.json()["id"] for m in ms}) >= n, timeout_s=20)
    order, _duplicates = ids_in_arrival_order(sub.messages)
    assert order == [f"al-{i:05d}" for i in range(n)]


def test_killed_process_with_broker_down_delivers_everything_after_restart(
    broker: Broker, tmp_path: Path, collect: Callable[..., Collector], subprocess_env: dict[str, str]
) -> None:
    n = 40
    outbox = tmp_path / "data" / "outbox.sqlite3"
    sub = collect(broker.port, [f"{BASE}/alert"], client_id="ha-like-subscriber")
    broker.stop()
    with child_publisher(broker.url, outbox, n, subprocess_env) as (status, waiting):
        assert (status, waiting) == ("offline", n)  # no crash without a broker; all alerts in the outbox
    broker.start()
    with running(broker.url, outbox) as pub:
        assert pub.flush(20)
    assert sub.wait_for(lambda ms: len({m.json()["id"] for m in ms}) >= n, timeout_s=20)
    order, _ = ids_in_arrival_order(sub.messages)
    assert order == [f"al-{i:05d}" for i in range(n)]
    assert sub.messages[0].json()["event_type"] == "recalibrate"


def test_publisher_from_config_and_processing_alerts(broker: Broker, tmp_path: Path) -> None:
    from datetime import datetime, timedelta, timezone

    from processing.alerts import Alert

    assert publisher_from_config(Config(), outbox_path=tmp_path / "o.sqlite3") is None  # no broker configured
    cfg = Config(wearer=WearerConfig(id="bo"), mqtt=MqttConfig(url=broker.url, base_topic="home/hip"))
    pub = publisher_from_config(cfg, outbox_path=tmp_path / "o.sqlite3")
    assert pub is not None and pub.alert_topic == "home/hip/bo/alert"
    fired = Alert(
        id="bo-2024-05-01-prolonged_sitting-1",
        event_type="prolonged_sitting",
        t=1800.0,
        time=datetime(2024, 5, 1, 10, 30, tzinfo=timezone(timedelta(hours=2))),
        message="You have been sitting for 30 minutes.",
        fields={"sitting_bout_s": 1800},
    )
    with pub:
        assert pub.publish_alert(fired.to_payload()) == fired.id
        assert pub.flush(10)


def test_alert_without_id_gets_one_and_bad_alerts_are_rejected(broker: Broker, tmp_path: Path) -> None:
    with running(broker.url, tmp_path / "o.sqlite3") as pub:
        new_id = pub.publish_alert({k: v for k, v in alert(1).items() if k != "id"})
        assert len(new_id) == 32
        with pytest.raises(ValueError, match="event_type"):
            pub.publish_alert({**alert(2), "event_type": "nap"})
        with pytest.raises(ValueError, match="UTC offset"):
            pub.publish_alert({**alert(2), "time": "2024-05-01T10:32:00"})
        assert pub.flush(10)
