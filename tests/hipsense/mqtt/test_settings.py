"""Broker settings (hipsense.mqtt.settings): URLs, credentials, TLS files, wearer ids and base topics; no broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from hipsense.mqtt import BrokerSettings, Publisher
from processing.errors import ConfigError
from tests.support.mqtt import make_publisher


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
