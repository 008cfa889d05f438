"""Retained state (hipsense.mqtt.state) against a real Mosquitto: a late subscriber gets the latest state and the
discovery configs; nothing is queued while the broker is away (flat memory, latest wins)."""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from hipsense.discovery import entity_keys
from tests.support.broker import Broker, Collector
from tests.support.mqtt import BASE, alert, running, state, wait_until


def test_retained_state_and_discovery_reach_a_late_subscriber(
    broker: Broker, tmp_path: Path, collect: Callable[..., Collector]
) -> None:
    with running(broker.url, tmp_path / "o.sqlite3") as pub:
        assert pub.publish_state(state(1)) is True
        assert pub.publish_state(state(2)) is False  # unchanged apart from seq: not re-sent
        assert pub.publish_state(state(3, tilt_deg=-17.0)) is True
        pub.publish_alert(alert(1))
        assert pub.flush(10)  # its PUBACK comes after the broker took the states (one ordered connection)
        late = collect(broker.port, [f"{BASE}/#", "homeassistant/#"])
        assert late.wait_for(lambda ms: len([m for m in ms if m.topic.startswith("homeassistant/")]) >= 12)
        assert late.wait_for(lambda ms: any(m.topic == f"{BASE}/state" for m in ms))
    (avail,) = late.on(f"{BASE}/availability")[:1]
    assert (avail.payload, avail.retain) == (b"online", True)
    (st,) = late.on(f"{BASE}/state")
    assert st.retain and st.json() == state(3, tilt_deg=-17.0)

    configs = {m.topic: m.json() for m in late.messages if m.topic.startswith("homeassistant/")}
    assert all(m.retain for m in late.messages if m.topic.startswith("homeassistant/"))
    tilt = configs["homeassistant/sensor/hipsense_anna/pelvic_tilt/config"]
    activity = configs["homeassistant/sensor/hipsense_anna/activity/config"]
    today = configs["homeassistant/sensor/hipsense_anna/sitting_today/config"]
    too_long = configs["homeassistant/binary_sensor/hipsense_anna/sitting_too_long/config"]
    alerts = configs["homeassistant/event/hipsense_anna/alerts/config"]
    assert tilt["unit_of_measurement"] == "°" and tilt["state_topic"] == f"{BASE}/state"
    assert activity["device_class"] == "enum"
    # "unknown" is not an option: the template gives None, Home Assistant's own unknown state.
    assert sorted(activity["options"]) == ["lying", "sitting", "standing", "walking"]
    assert "None" in activity["value_template"]
    assert (today["device_class"], today["unit_of_measurement"]) == ("duration", "s")
    assert too_long["device_class"] == "problem" and "1800" in too_long["value_template"]
    assert alerts["state_topic"] == f"{BASE}/alert" and "prolonged_sitting" in alerts["event_types"]
    assert len(alerts["event_types"]) == 7
    assert len({c["unique_id"] for c in configs.values()}) == len(entity_keys()) == 12
    assert all(c["availability"][0]["topic"] == f"{BASE}/availability" for c in configs.values())
    assert all(c["device"] == tilt["device"] for c in configs.values())
    assert tilt["device"]["identifiers"] == ["hipsense_anna"]


def test_memory_stays_flat_while_the_broker_is_away(
    broker: Broker, tmp_path: Path, collect: Callable[..., Collector]
) -> None:
    with running(broker.url, tmp_path / "o.sqlite3") as pub:
        broker.stop()
        assert wait_until(lambda: not pub.connected)
        tracemalloc.start()
        try:
            for i in range(500):
                pub.publish_state(state(i, tilt_deg=i / 100))
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            n_states, n_alerts = 10_000, 40
            for i in range(n_states):
                pub.publish_state(state(500 + i, tilt_deg=i / 100))
                if i % (n_states // n_alerts) == 0:
                    pub.publish_alert(alert(i // (n_states // n_alerts)))
            gc.collect()
            growth = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        # Queued, 10 000 state messages would take megabytes (each payload alone is ~200 bytes).
        assert growth < 300_000, f"memory grew by {growth} bytes while offline"
        assert pub.pending_alerts == n_alerts
        last = state(500 + n_states - 1, tilt_deg=(n_states - 1) / 100)
        broker.start()
        assert pub.wait_connected(10)
        assert pub.flush(15)
        late = collect(broker.port, [f"{BASE}/state"])
        assert late.wait_for(lambda ms: len(ms) == 1)
        assert late.messages[0].json() == last  # latest wins; nothing older was queued
