"""Helpers for the MQTT tests: publishers against the test broker (:mod:`tests.support.broker`), alert and state
documents, a publisher in a child process (killed with SIGKILL), and a raw client that publishes and waits."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hipsense.mqtt import BrokerSettings, Publisher
from tests.support.broker import REPO, Broker, Received

BASE = "hipsense/anna"


def alert(i: int, event_type: str = "prolonged_sitting") -> dict[str, Any]:
    return {
        "id": f"al-{i:05d}",
        "event_type": event_type,
        "time": "2024-05-01T10:32:00+02:00",
        "message": "You have been sitting for 30 minutes; stand up and walk for 2 minutes.",
        "sitting_bout_s": 1800 + i,
    }


def state(seq: int, tilt_deg: float | None = -18.5, activity: str = "sitting") -> dict[str, Any]:
    return {
        "time": "2024-05-01T10:32:00+02:00",
        "activity": activity,
        "tilt_deg": tilt_deg,
        "obliquity_deg": 1.5,
        "sitting_bout_s": 1900.0,
        "sitting_today_s": 12000.0,
        "calibrated": True,
        "battery_pct": 81,
        "seq": seq,
    }


def make_publisher(url: str, outbox: Path, **kw: Any) -> Publisher:
    settings_kw = {k: kw.pop(k) for k in ("username", "password", "ca_file", "insecure") if k in kw}
    settings = BrokerSettings.from_url(url, keepalive_s=5, env={}, **settings_kw)
    kw.setdefault("reconnect_min_s", 1)
    kw.setdefault("reconnect_max_s", 1)
    return Publisher(settings, wearer="anna", outbox_path=outbox, **kw)


@contextmanager
def running(url: str, outbox: Path, **kw: Any) -> Iterator[Publisher]:
    pub = make_publisher(url, outbox, **kw)
    with pub:
        yield pub


def ids_in_arrival_order(messages: list[Received]) -> tuple[list[str], int]:
    """First-seen order of alert ids, and how many duplicates arrived."""
    seen: dict[str, None] = {}
    dups = 0
    for m in messages:
        alert_id = m.json()["id"]
        if alert_id in seen:
            dups += 1
        seen.setdefault(alert_id, None)
    return list(seen), dups


def wait_until(cond: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


CHILD = """
import sys, time
from hipsense.mqtt import BrokerSettings, Publisher
url, outbox, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
pub = Publisher(BrokerSettings.from_url(url, keepalive_s=5, env={}), wearer="anna", outbox_path=outbox,
                startup_wait_s=3, reconnect_min_s=1, reconnect_max_s=1)
pub.start()
for i in range(n):
    pub.publish_alert({"id": f"al-{i:05d}", "event_type": "recalibrate", "time": "2024-05-01T10:00:00+00:00",
                       "message": "Please stand still for 5 s to recalibrate."})
print("connected" if pub.connected else "offline", pub.pending_alerts, flush=True)
time.sleep(120)
"""


@contextmanager
def child_publisher(url: str, outbox: Path, n_alerts: int, env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """Run a publisher in a child process; yields its report line; SIGKILLs it at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, url, str(outbox), str(n_alerts)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        if not line:
            _, err = proc.communicate(timeout=5)
            raise AssertionError(f"child publisher failed: {err.decode()}")
        yield line[0], int(line[1])
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()


def publish_all(broker: Broker, topic: str, payloads: list[bytes | str], *, retain: bool = False) -> None:
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
