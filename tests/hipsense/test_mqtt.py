"""MQTT publisher against a real Mosquitto (see tests/support/broker.py): retained state, Home Assistant discovery, Last
Will, alerts through broker outages and process kills, login errors, TLS, and flat memory while offline."""

from __future__ import annotations

import gc
import logging
import signal
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hipsense.config import Config, MqttConfig, WearerConfig
from hipsense.discovery import entity_keys
from hipsense.mqtt import BrokerError, BrokerSettings, Publisher, publisher_from_config, to_json
from processing.errors import ConfigError
from tests.support.broker import BROKER_PASSWORD, BROKER_USER, REPO, Broker, Collector, Received, TlsFiles

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


# -- settings (no broker) ----------------------------------------------------------------------------------


def test_url_parsing_default_ports_and_masked_repr() -> None:
    s = BrokerSettings.from_url("mqtt://alice:s3cr%40t@127.0.0.1", env={})
    assert (s.host, s.port, s.tls, s.username, s.password) == ("127.0.0.1", 1883, False, "alice", "s3cr@t")
    assert "s3cr" not in repr(s) and "alice" not in repr(s)
    assert s.url == "mqtt://127.0.0.1:1883"
    t = BrokerSettings.from_url("mqtts://broker.example.org", env={})
    assert (t.port, t.tls) == (8883, True)
    e = BrokerSettings.from_url("mqtt://localhost:1999", env={"HIPSENSE_MQTT_USER": "u", "HIPSENSE_MQTT_PASSWORD": "p"})
    assert (e.port, e.username, e.password) == (1999, "u", "p")
    with pytest.raises(ConfigError, match="mqtt:// or mqtts://"):
        BrokerSettings.from_url("http://127.0.0.1", env={})


def test_plain_text_credentials_to_a_remote_host_are_refused_unless_insecure() -> None:
    with pytest.raises(ConfigError, match="plain text") as info:
        BrokerSettings.from_url("mqtt://bob:pw@broker.example.org", env={})
    assert "--insecure" in (info.value.hint or "")
    assert "pw" not in str(info.value)
    assert BrokerSettings.from_url("mqtt://bob:pw@broker.example.org", insecure=True, env={}).insecure
    assert BrokerSettings.from_url("mqtts://bob:pw@broker.example.org", env={}).tls
    assert BrokerSettings.from_url("mqtt://bob:pw@[::1]:1884", env={}).url == "mqtt://[::1]:1884"


def test_unreadable_tls_files_are_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    pub = make_publisher("mqtts://127.0.0.1:1", tmp_path / "o.sqlite3", ca_file=bad)
    with pytest.raises(ConfigError, match="cannot load the TLS files"):
        pub.start()
    with pytest.raises(ConfigError, match="not found"):
        BrokerSettings.from_url("mqtts://127.0.0.1", ca_file=tmp_path / "missing.pem", env={})
    with pytest.raises(ConfigError, match="plain-text broker URL"):
        BrokerSettings.from_url("mqtt://127.0.0.1", ca_file=bad, env={})


def test_wearer_id_and_base_topic_are_validated(tmp_path: Path) -> None:
    settings = BrokerSettings.from_url("mqtt://127.0.0.1:1", env={})
    with pytest.raises(ConfigError, match="wearer id"):
        Publisher(settings, wearer="Anna Smith", outbox_path=tmp_path / "o.sqlite3")
    with pytest.raises(ConfigError, match="base topic"):
        Publisher(settings, wearer="anna", base_topic="hipsense/+/x", outbox_path=tmp_path / "o.sqlite3")


# -- against Mosquitto -------------------------------------------------------------------------------------


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


def test_alerts_command_prints_each_alert_once(
    broker: Broker, tmp_path: Path, subprocess_env: dict[str, str], collect: Callable[..., Collector]
) -> None:
    env = {**subprocess_env, "HIPSENSE_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hipsense", "alerts", "--mqtt", broker.url, "--wearer", "anna", "--count", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stderr is not None
        ready = proc.stderr.readline().decode()
        assert ready.startswith(f"listening for alerts on {broker.url} {BASE}/alert"), ready
        raw = collect(broker.port, ["unused/topic"])
        with running(broker.url, tmp_path / "o.sqlite3") as pub:
            pub.publish_alert(alert(1))
            assert pub.flush(10)
            raw.client.publish(f"{BASE}/alert", to_json(alert(1)), qos=1).wait_for_publish(5)  # a re-send
            pub.publish_alert(alert(2, "anterior_tilt"))
            out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = out.decode().splitlines()
    assert proc.returncode == 0, err.decode()
    assert len(lines) == 2
    assert "prolonged_sitting" in lines[0] and "anna" in lines[0] and "sitting for 30 minutes" in lines[0]
    assert lines[0].startswith("2024-05-01T10:32:00+02:00")
    assert "anterior_tilt" in lines[1]


def test_alerts_command_reports_a_refused_login(broker: Broker, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "HIPSENSE_HOME": str(tmp_path / "home"), "HIPSENSE_MQTT_PASSWORD": "nope"}
    res = subprocess.run(
        [sys.executable, "-m", "hipsense", "alerts", "--mqtt", broker.auth_url, "--mqtt-user", BROKER_USER,
         "--timeout", "5"],
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=30,
    )  # fmt: skip
    err = res.stderr.decode()
    assert res.returncode == 2
    assert err.splitlines()[0] == (
        f"error: {broker.auth_url}: broker refused the login (bad user name or password); "
        "check --mqtt-user/--mqtt-password"
    )
    assert "nope" not in err and "Traceback" not in err


def test_publisher_context_manager_works_from_asyncio(broker: Broker, tmp_path: Path) -> None:
    import asyncio

    async def main() -> int:
        async with make_publisher(broker.url, tmp_path / "o.sqlite3") as pub:
            pub.publish_alert(alert(3))
            pub.publish_state(state(1))
            await asyncio.to_thread(pub.flush, 10)
            return pub.pending_alerts

    assert asyncio.run(main()) == 0


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
