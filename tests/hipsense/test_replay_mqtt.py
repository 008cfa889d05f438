"""``hipsense calibrate`` then ``hipsense replay --mqtt`` against a real Mosquitto: the whole live path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hipsense.cli import main
from hipsense.mqtt import STATE_FIELDS

from .conftest import Broker, Collector

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
    assert len(configs) == 5
    assert all(json.loads(m.payload)["availability_topic"] == "hipsense/me/availability" for m in configs)


def _peak_rss_mb(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    """Run ``cmd`` in a child of a fresh Python and return the child's peak resident memory, MB."""
    probe = (
        "import resource, subprocess, sys; "
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
        "sys.stderr.write(p.stderr); sys.exit(p.returncode)"
    )
    proc = subprocess.run([sys.executable, "-c", probe, *cmd], env=env, capture_output=True, text=True, timeout=300)
    return int(proc.stdout.strip().splitlines()[-1]) / 1024.0, proc


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
    # An hour at 25 Hz already fills the reader's 65536-sample chunks, which set the working memory.
    for minutes in (60, 360):
        rec = tmp_path / f"day{minutes}.csv.gz"
        assert main(["simulate", "--minutes", str(minutes), "--seed", "3", "--rate", "25", "--out", str(rec)]) == 0
        cmd = [sys.executable, "-m", "hipsense", "replay", str(rec), "--fast", "--mqtt", broker.url]
        peaks[minutes], proc = _peak_rss_mb(cmd, env)
        assert proc.returncode == 0, proc.stderr
        assert "broker not reachable" in proc.stderr and "alerts wait in the outbox" in proc.stderr
    # Six times the stream, no more memory: anything kept per epoch (a queue of states, say, at ~1 kB each)
    # would add 18 MB over the 18 000 extra epochs; allocator noise is a few MB.
    assert peaks[360] - peaks[60] < 15.0, peaks
    import sqlite3

    with sqlite3.connect(home / "data" / "mqtt-outbox.sqlite3") as db:
        waiting = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert waiting > 10  # the alerts of both runs wait for the broker
