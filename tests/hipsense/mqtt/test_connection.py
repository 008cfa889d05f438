"""The connection (hipsense.mqtt.connection) against a real Mosquitto (tests/support/broker.py): the Last Will, login
errors that never show credentials, TLS, asyncio use, and a dead network thread failing the run."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipsense.discovery import DiscoveryMessage
from hipsense.mqtt import BrokerError, BrokerSettings, Publisher
from tests.support.broker import BROKER_PASSWORD, BROKER_USER, Broker, Collector, TlsFiles
from tests.support.mqtt import BASE, alert, child_publisher, make_publisher, running, state


def test_last_will_marks_the_wearer_offline_when_the_publisher_is_killed(
    broker: Broker, tmp_path: Path, collect: Callable[..., Collector], subprocess_env: dict[str, str]
) -> None:
    watcher = collect(broker.port, [f"{BASE}/availability"])
    with child_publisher(broker.url, tmp_path / "o.sqlite3", 0, subprocess_env) as (status, _):
        assert status == "connected"
        assert watcher.wait_for(lambda ms: [m.payload for m in ms] == [b"online"])
    # the context manager SIGKILLed the child: no DISCONNECT was sent, so the broker publishes the will
    assert watcher.wait_for(lambda ms: [m.payload for m in ms] == [b"online", b"offline"], timeout_s=15)
    late = collect(broker.port, [f"{BASE}/availability"])
    assert late.wait_for(lambda ms: len(ms) == 1)
    assert (late.messages[0].payload, late.messages[0].retain) == (b"offline", True)


def test_wrong_password_gives_one_clear_line_and_never_logs_credentials(
    broker: Broker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pub = make_publisher(broker.auth_url, tmp_path / "o.sqlite3", username=BROKER_USER, password="wrong-pw-x1")
    with pytest.raises(BrokerError) as info:
        pub.start()
    assert str(info.value) == (
        f"{broker.auth_url}: broker refused the login (bad user name or password); check --mqtt-user/--mqtt-password"
    )
    with pytest.raises(BrokerError, match="requires a login"):
        make_publisher(broker.auth_url, tmp_path / "o2.sqlite3").start()
    with running(broker.auth_url, tmp_path / "o3.sqlite3", username=BROKER_USER, password=BROKER_PASSWORD) as good:
        assert good.connected
        good.publish_alert(alert(1))
        assert good.flush(10)
        shown = repr(good) + repr(good.broker)
    broker.stop()  # the outage path logs too
    with running(broker.auth_url, tmp_path / "o4.sqlite3", username=BROKER_USER, password=BROKER_PASSWORD):
        pass
    text = caplog.text + shown + str(info.value) + str(info.value.hint)
    assert "broker not reachable" in caplog.text
    for secret in (BROKER_USER, BROKER_PASSWORD, "wrong-pw-x1"):
        assert secret not in text


def test_tls_with_the_generated_ca(
    broker: Broker, tmp_path: Path, tls_files: TlsFiles, collect: Callable[..., Collector]
) -> None:
    sub = collect(broker.port, [f"{BASE}/alert"])
    with running(broker.tls_url, tmp_path / "o.sqlite3", ca_file=tls_files.ca_cert) as pub:
        assert pub.connected
        pub.publish_alert(alert(7, "battery_low"))
        assert pub.flush(10)
    assert sub.wait_for(lambda ms: len(ms) == 1)
    assert sub.messages[0].json()["id"] == "al-00007"
    with pytest.raises(BrokerError, match="TLS handshake failed"):
        make_publisher(broker.tls_url, tmp_path / "o2.sqlite3").start()  # system CAs do not know ours


def test_publisher_context_manager_works_from_asyncio(broker: Broker, tmp_path: Path) -> None:
    import asyncio

    async def main() -> int:
        async with make_publisher(broker.url, tmp_path / "o.sqlite3") as pub:
            pub.publish_alert(alert(3))
            pub.publish_state(state(1))
            await asyncio.to_thread(pub.flush, 10)
            return pub.pending_alerts

    assert asyncio.run(main()) == 0


# issue 11, row 15: paho's network thread dying fails the run
def test_a_dead_mqtt_thread_fails_the_run(broker: Broker, tmp_path: Path) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    pub = Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3", startup_wait_s=1.0)
    # A discovery topic paho refuses to publish: its network thread dies in on_connect.
    assert pub.discovery is not None
    pub.discovery.messages = [DiscoveryMessage(topic="homeassistant/#", payload={})]
    with pytest.raises(BrokerError, match="MQTT client thread"), pub:
        pub.publish_alert({"event_type": "recalibrate", "time": datetime.now(UTC).isoformat(), "message": "x"})
