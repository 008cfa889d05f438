"""Home Assistant over a whole day: restarts, sensor drop-outs, the wearer id, removing a wearer.

Everything runs a virtual WitMotion (Bumble, over real GATT) through ``hipsense live`` in a child process,
against a real Mosquitto started by the harness in tests/support/broker.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from hipsense.calstore import save_calibration
from hipsense.cli import main
from hipsense.config import Config, ensure_wearer_id, load_config
from hipsense.discovery import discovery_messages, entity_keys
from processing.calibration import Calibration
from tests.support.broker import Broker, Collector

pytest.importorskip("bumble")

CONFIG = """[wearer]
id = "{wearer}"
[alerts]
prolonged_sitting_s = 120
prolonged_sitting_repeat_s = 60
daily_sitting_goal_s = 240
exercise_reminder_at = ""
quiet_hours = ""
"""
SIT_S = 330  # the day: stand 20 s, walk 30 s, sit 330 s, stand 10 s
LIVE = ["live", "--virtual", "--profile", "witmotion", "--rate", "50", "--speed", "20", "--seed", "3"]


def _home(tmp_path: Path, wearer: str) -> Path:
    """A HIPSENSE_HOME with the test's alert config and a stored calibration (the virtual wearer wears the
    sensor aligned with the pelvis), so that a run that starts sitting is calibrated from its first second."""
    home = tmp_path / wearer
    home.mkdir()
    (home / "config.toml").write_text(CONFIG.format(wearer=wearer))
    os.environ["HIPSENSE_HOME"] = str(home)
    try:
        save_calibration(Calibration(np.eye(3), "guided", "sitting"), wearer=wearer, device="witmotion", source="test")
    finally:
        del os.environ["HIPSENSE_HOME"]
    return home


def _live(env: dict[str, str], home: Path, scenario: str, url: str, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "hipsense", *LIVE, "--scenario", scenario, "--mqtt", url, *extra]
    return subprocess.Popen(
        argv, env={**env, "HIPSENSE_HOME": str(home)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _stored_sitting(home: Path) -> int:
    db = home / "data" / "history.sqlite3"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            (n,) = conn.execute("SELECT COUNT(*) FROM epochs WHERE activity = 'sitting'").fetchone()
    except sqlite3.OperationalError:  # not created yet
        return 0
    return int(n)


def _alerts(sub: Collector, wearer: str) -> list[dict]:
    """The wearer's alerts, a re-sent one (same id: delivery is at least once) counted once."""
    seen: dict[str, dict] = {}
    for m in sub.on(f"hipsense/{wearer}/alert"):
        seen.setdefault(m.json()["id"], m.json())
    return list(seen.values())


def test_a_day_killed_and_restarted_looks_like_an_uninterrupted_day(
    broker: Broker, collect, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    sub: Collector = collect(broker.port, ["hipsense/#"])
    # The uninterrupted day.
    ref = _live(subprocess_env, _home(tmp_path, "ref"), f"stand 20, walk 30, sit {SIT_S}, stand 10", broker.url)
    _out, err = ref.communicate(timeout=180)
    assert ref.returncode == 0, err

    # The same day, killed (SIGKILL: no clean-up at all) in the middle of the sitting bout, then restarted.
    home = _home(tmp_path, "cut")
    first = _live(subprocess_env, home, "stand 20, walk 30, sit 900", broker.url)
    deadline = time.monotonic() + 120
    while _stored_sitting(home) < 150:
        assert first.poll() is None and time.monotonic() < deadline, first.stderr.read() if first.stderr else ""
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    stored = _stored_sitting(home)
    assert 150 <= stored < 200
    before = [m.json() for m in sub.on("hipsense/cut/state")]
    second = _live(subprocess_env, home, f"sit {SIT_S - stored}, stand 10", broker.url)
    _out, err = second.communicate(timeout=180)
    assert second.returncode == 0, err
    assert "continuing" in err and "a sitting bout of" in err  # it said what it restored

    # The same alerts: kinds in the same order, at the same bout lengths and day totals, none twice.
    ref_alerts, cut_alerts = _alerts(sub, "ref"), _alerts(sub, "cut")
    kinds = [a["event_type"] for a in ref_alerts]
    assert kinds.count("prolonged_sitting") == 4 and kinds.count("daily_sitting_budget") == 1
    assert [a["event_type"] for a in cut_alerts] == kinds
    for a, b in zip(ref_alerts, cut_alerts, strict=True):
        for key in ("sitting_bout_s", "sitting_today_s"):
            if key in a:
                assert abs(a[key] - b[key]) <= 3, (a, b)

    # The same retained state at the end of the day (a late subscriber, such as Home Assistant, sees it).
    late = collect(broker.port, ["hipsense/+/state"])
    assert late.wait_for(lambda ms: {m.topic for m in ms} >= {"hipsense/ref/state", "hipsense/cut/state"})
    ref_state, cut_state = (late.on(f"hipsense/{w}/state")[-1].json() for w in ("ref", "cut"))
    assert ref_state["sitting_today_s"] >= SIT_S - 10
    # Within the few seconds a fresh pipeline takes to settle on the virtual stream (without the restore, the
    # restarted day would show about half: 170 s of sitting).
    assert abs(ref_state["sitting_today_s"] - cut_state["sitting_today_s"]) <= 15
    assert abs(ref_state["sitting_bout_s"] - cut_state["sitting_bout_s"]) <= 15
    # The day ends standing (the last, partial second at the end of a stream may be unknown in either run).
    assert {cut_state["activity"], ref_state["activity"]} <= {"standing", "unknown"}
    assert cut_state["sitting_today_min"] == cut_state["sitting_today_s"] // 60

    # A subscriber never saw today's sitting go back (Home Assistant would record a meter reset).
    after = [m.json() for m in sub.on("hipsense/cut/state")][len(before) :]
    today = [s["sitting_today_s"] for s in before + after]
    assert before and after and today == sorted(today)
    assert after[0]["sitting_today_s"] >= before[-1]["sitting_today_s"]
    assert after[0]["sitting_bout_s"] >= before[-1]["sitting_bout_s"]


def test_sensor_link_drop_makes_the_posture_entities_unavailable(
    broker: Broker, collect, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    home = _home(tmp_path, "anna")
    sub: Collector = collect(broker.port, ["hipsense/anna/link", "hipsense/anna/availability"])
    proc = _live(subprocess_env, home, "stand 20, walk 30, sit 60", broker.url, "--drop-link-at", "60")
    _out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    # The last messages may still be on their way to the subscriber when the process ends.
    sub.wait_for(lambda ms: sum(m.topic == "hipsense/anna/link" for m in ms) >= 4, timeout_s=10)
    links = [m.json() for m in sub.on("hipsense/anna/link")]
    assert [link["state"] for link in links] == ["disconnected", "connected", "disconnected", "connected"]
    times = [datetime.fromisoformat(link["time"]) for link in links]
    assert all(t.tzinfo is not None for t in times) and times == sorted(times)
    assert "link lost" in links[2]["detail"]

    # As Home Assistant reads it: each posture entity needs both topics available (availability_mode: all).
    configs = {m.topic.split("/")[-2]: m.payload for m in discovery_messages(wearer="anna", base_topic="hipsense/anna")}
    tilt = configs["pelvic_tilt"]
    assert tilt["availability_mode"] == "all"
    assert [a["topic"] for a in tilt["availability"]] == ["hipsense/anna/availability", "hipsense/anna/link"]

    def available(entity: dict, app: str, link: dict) -> bool:
        ok = []
        for a in entity["availability"]:
            value = app if a["topic"].endswith("/availability") else link["state"]
            ok.append(value == a["payload_available"])
        return all(ok) if entity.get("availability_mode") == "all" else any(ok)

    assert [available(tilt, "online", link) for link in links] == [False, True, False, True]
    # Day totals, the link itself and the alerts stay available while the sensor is away.
    for key in ("sitting_today", "sensor_connected", "last_alert", "alerts"):
        assert available(configs[key], "online", links[2]), key
    # A late subscriber (Home Assistant after a restart) gets the link state retained.
    late = collect(broker.port, ["hipsense/anna/link"])
    assert late.wait_for(lambda ms: len(ms) == 1)
    assert late.messages[0].retain and late.messages[0].json()["state"] == "connected"


def test_last_alert_is_retained_for_a_phone_panel_opened_later(
    broker: Broker, collect, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    home = _home(tmp_path, "anna")
    proc = _live(subprocess_env, home, "stand 20, walk 30, sit 150, stand 10", broker.url)
    _out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    late = collect(broker.port, ["hipsense/anna/alert/last"])
    assert late.wait_for(lambda ms: len(ms) == 1)
    last = late.messages[0]
    assert last.retain
    doc = last.json()
    assert set(doc) == {"id", "kind", "time", "message"}
    assert doc["kind"] == "prolonged_sitting" and doc["id"].startswith("anna-prolonged_sitting-")
    assert "sitting for" in doc["message"] and datetime.fromisoformat(doc["time"]).tzinfo is not None


def test_ha_remove_clears_the_wearers_retained_configs_and_state(
    broker: Broker, collect, tmp_path: Path, subprocess_env: dict[str, str], monkeypatch, capsys
) -> None:
    home = _home(tmp_path, "anna")
    other = _home(tmp_path, "bert")
    for h in (home, other):
        proc = _live(subprocess_env, h, "stand 20, walk 30, sit 20", broker.url)
        assert proc.communicate(timeout=180)[0] is not None and proc.returncode == 0
    # An entity of an older version, retained under anna's node, goes too.
    seen = collect(broker.port, ["homeassistant/#", "hipsense/#"])
    seen.client.publish("homeassistant/sensor/hipsense_anna/old_entity/config", b'{"name": "old"}', qos=1, retain=True)
    n_anna = len(entity_keys())
    assert seen.wait_for(lambda ms: len({m.topic for m in ms if "hipsense_anna" in m.topic}) == n_anna + 1)

    monkeypatch.setenv("HIPSENSE_HOME", str(home))
    assert main(["ha", "remove", "--mqtt", broker.url]) == 0
    assert "cleared" in capsys.readouterr().out

    late = collect(broker.port, ["homeassistant/#", "hipsense/#"])
    assert late.wait_for(lambda ms: any("hipsense_bert" in m.topic for m in ms))
    time.sleep(0.5)
    topics = {m.topic for m in late.messages if m.payload}
    assert not [t for t in topics if "hipsense_anna" in t or t.startswith("hipsense/anna/")]
    # The other wearer on the same broker is untouched.
    assert len([t for t in topics if "hipsense_bert" in t]) == n_anna
    assert "hipsense/bert/state" in topics and "hipsense/bert/link" in topics


def test_a_new_install_gets_a_unique_wearer_id_written_to_its_config(tmp_path: Path, monkeypatch) -> None:
    ids = []
    for name in ("one", "two"):
        home = tmp_path / name
        monkeypatch.setenv("HIPSENSE_HOME", str(home))
        (home).mkdir()
        (home / "config.toml").write_text(
            '[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n\n[wearer]\ntimezone = "Europe/Berlin"\n'
        )
        wearer = ensure_wearer_id(load_config())
        cfg = load_config()
        assert cfg.wearer.id == wearer and cfg.wearer.timezone == "Europe/Berlin"
        assert cfg.mqtt.url == "mqtt://127.0.0.1:1883"
        assert ensure_wearer_id(cfg) == wearer  # made once, then read back
        ids.append(wearer)
    assert ids[0] != ids[1] and all(i.startswith("wearer-") for i in ids)
    # No config file at all: one is made.
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path / "three"))
    made = ensure_wearer_id(Config())
    assert load_config().wearer.id == made


def test_an_install_that_ran_as_me_keeps_me(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path))
    save_calibration(Calibration(np.eye(3), "guided", "sitting"), wearer="me", device="witmotion", source="test")
    assert ensure_wearer_id(load_config()) == "me"
    assert 'id = "me"' in (tmp_path / "config.toml").read_text()


def test_ha_remove_takes_a_bounded_number_of_found_topics_a_run(broker: Broker, collect, monkeypatch, capsys) -> None:
    from hipsense.commands import ha
    from hipsense.mqtt import BrokerSettings

    seen = collect(broker.port, ["hipsense/carl/#"])
    junk = [f"hipsense/carl/junk/{i}" for i in range(25)]  # retained topics a broker (or an intruder) holds
    for topic in junk:
        seen.client.publish(topic, b"x", qos=1, retain=True).wait_for_publish(5)
    assert seen.wait_for(lambda ms: {m.topic for m in ms} >= set(junk))
    monkeypatch.setattr(ha, "MAX_FOUND_TOPICS", 10)  # the bound, lowered so that the test stays small
    settings = BrokerSettings.from_url(broker.url, env={})
    known = len(entity_keys()) + len(ha.RETAINED)
    runs = []
    for _ in range(3):
        cleared = ha.remove_wearer(settings, base_topic="hipsense/carl", wearer="carl", prefix="homeassistant")
        runs.append((cleared - known, "warning: more than 10 retained topics" in capsys.readouterr().err))
    assert runs == [(10, True), (10, True), (5, False)]  # at most 10 found a run; the rest said, then cleared
    late = collect(broker.port, ["hipsense/carl/#"])
    time.sleep(0.5)
    assert [m.topic for m in late.messages if m.payload] == []
