"""Home Assistant discovery on the wire (hipsense.mqtt.homeassistant) against a real Mosquitto: re-sent when Home
Assistant comes online, and a flood of ``online`` does not flood discovery."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from hipsense.discovery import entity_keys
from hipsense.mqtt import BrokerSettings, Publisher
from tests.support.broker import Broker, Collector, Received
from tests.support.mqtt import publish_all, running


def test_home_assistant_birth_message_resends_discovery(
    broker: Broker, tmp_path: Path, collect: Callable[..., Collector]
) -> None:
    def n_configs(ms: list[Received]) -> int:
        return sum(1 for m in ms if m.topic.endswith("/config"))

    with running(broker.url, tmp_path / "o.sqlite3"):
        ha = collect(broker.port, ["homeassistant/#"])
        n = len(entity_keys())
        assert ha.wait_for(lambda ms: n_configs(ms) >= n)
        time.sleep(0.2)
        assert n_configs(ha.messages) == n
        ha.client.publish("homeassistant/status", "online", qos=1)
        assert ha.wait_for(lambda ms: n_configs(ms) >= 2 * n)


# issue 11, row 11: a homeassistant/status flood
def test_a_flood_of_online_messages_does_not_flood_discovery(broker: Broker, collect, tmp_path: Path) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    sub: Collector = collect(broker.port, ["homeassistant/#"])
    with Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3") as pub:
        assert pub.wait_connected(5)
        assert pub.discovery is not None
        n_per_send = len(pub.discovery.messages)
        assert sub.wait_for(lambda ms: sum(m.topic.endswith("/config") for m in ms) >= n_per_send)
        publish_all(broker, "homeassistant/status", ["online"] * 2000)
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
