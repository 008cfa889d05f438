"""``hipsense calibrate`` then ``hipsense replay --mqtt`` against a real Mosquitto: the whole live path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hipsense.cli import main
from hipsense.discovery import entity_keys
from hipsense.mqtt import STATE_FIELDS
from tests.support.broker import Broker, Collector

SCENARIO = "stand 20, walk 40, sit 32min, walk 60, stand 20"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "sit.csv.gz"
    assert main(["simulate", "--scenario", SCENARIO, "--seed", "11", "--rate", "50", "--out", str(out)]) == 0
    return out


def test_replay_delivers_the_prolonged_sitting_alert_state_and_discovery(
    recording: Path, broker: Broker, collect, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**subprocess_env, "HIPSENSE_HOME": str(tmp_path / "home")}
    calibrate = [sys.executable, "-m", "hipsense", "calibrate", str(recording), "--neutral", "2:18"]
    proc = subprocess.run(calibrate, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

    sub: Collector = collect(broker.port, ["hipsense/#", "homeassistant/#"])
    replay = [sys.executable, "-m", "hipsense", "replay", str(recording), "--fast", "--mqtt", broker.url]
    proc = subprocess.run(replay, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "using the stored guided calibration" in proc.stderr

    assert sub.wait_for(lambda ms: any(m.topic == "hipsense/me/alert" for m in ms), timeout_s=10)
    alerts = [m.json() for m in sub.on("hipsense/me/alert")]
    assert [a["event_type"] for a in alerts] == ["prolonged_sitting"]
    [alert] = alerts
    assert alert["id"].startswith("me-prolonged_sitting-2026")
    assert alert["time"].endswith("+01:00")  # ISO 8601 with the recording's offset
    assert alert["sitting_bout_s"] == 1800
    assert "sitting for 30 minutes" in alert["message"]
    # The console shows the same alert.
    assert "ALERT" in proc.stdout and "prolonged_sitting" in proc.stdout

    states = [m.json() for m in sub.on("hipsense/me/state")]
    assert states and set(states[-1]) == set(STATE_FIELDS)
    assert states[-1]["calibrated"] is True
    assert states[-1]["sitting_today_s"] == pytest.approx(32 * 60, abs=10)
    availability = [m.payload.decode() for m in sub.on("hipsense/me/availability")]
    assert availability[0] == "online" and availability[-1] == "offline"
    configs = [m for m in sub.messages if m.topic.startswith("homeassistant/") and m.topic.endswith("/config")]
    assert len(configs) == len(entity_keys())
    for m in configs:
        topics = [a["topic"] for a in json.loads(m.payload)["availability"]]
        assert "hipsense/me/availability" in topics
    # A recording has no link to lose: the posture entities are available.
    assert sub.on("hipsense/me/link")[-1].json()["state"] == "connected"


def _traced_memory_mb(argv: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess[str]]:
    """Run ``hipsense argv`` in a fresh Python under tracemalloc (numpy arrays included): the memory still held
    at the end and the peak, MB. Unlike the resident size, these do not move with the allocator's moods."""
    probe = (
        "import sys, tracemalloc; tracemalloc.start(); from hipsense.cli import main; rc = main(sys.argv[1:]); "
        "cur, peak = tracemalloc.get_traced_memory(); print('TRACED', cur, peak); sys.exit(rc)"
    )
    proc = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True, timeout=300)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("TRACED")), "TRACED nan nan")
    _, cur, peak = line.split()
    return float(cur) / 1e6, float(peak) / 1e6, proc


def test_memory_stays_flat_while_the_broker_is_away(
    broker: Broker, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    """Six hours of fast replay with the broker down: alerts wait in the outbox, state is not queued."""
    home = tmp_path / "home"
    home.mkdir()
    # Alerts every minute of sitting, so that many wait in the outbox.
    (home / "config.toml").write_text("[alerts]\nprolonged_sitting_s = 60\nprolonged_sitting_repeat_s = 60\n")
    env = {**subprocess_env, "HIPSENSE_HOME": str(home)}
    broker.stop()
    peaks = {}
    # Two hours at 25 Hz fill the reader's 65536-sample chunks and the pipeline's bounded windows (1 h of epochs).
    held, peaks = {}, {}
    for minutes in (120, 360):
        rec = tmp_path / f"day{minutes}.csv.gz"
        assert main(["simulate", "--minutes", str(minutes), "--seed", "3", "--rate", "25", "--out", str(rec)]) == 0
        held[minutes], peaks[minutes], proc = _traced_memory_mb(
            ["replay", str(rec), "--fast", "--mqtt", broker.url], env
        )
        assert proc.returncode == 0, proc.stderr
        assert "broker not reachable" in proc.stderr and "alerts wait in the outbox" in proc.stderr
    # Three times the stream, no more memory: anything kept per epoch (a queue of states, say, at ~1 kB each)
    # would add about 14 MB over the 14 400 extra epochs.
    assert peaks[360] - peaks[120] < 3.0, peaks
    assert held[360] - held[120] < 1.0, held
    import sqlite3

    with sqlite3.connect(home / "data" / "mqtt-outbox.sqlite3") as db:
        waiting = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert waiting > 10  # the alerts of both runs wait for the broker
