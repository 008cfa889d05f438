"""``hipsense live --virtual``: a virtual WitMotion -> bleak -> pipeline -> a real Mosquitto.

The simulated wearer sits long enough for a ``prolonged_sitting`` alert (60 s in this test's config), and the
virtual sensor drops the link during the sitting bout: the source must reconnect within 5 s and the alert
must still arrive, exactly once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from hipsense.commands import devices, live
from processing.pipeline import PipelineOutput
from sensor.recording import open_recording
from sensor.source import SourceEvent
from tests.support.broker import Broker, Collector

pytest.importorskip("bumble")

SCENARIO = "stand 20, walk 30, sit 150, stand 10"  # 210 s of stream, 10.5 s of wall time at 20x


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hipsense")
    sub = parser.add_subparsers(dest="command", required=True)
    live.register(sub)
    devices.register(sub)
    return parser.parse_args(argv)


class EventLog:
    """A sink that notes when (wall clock) each source event reached the runtime."""

    def __init__(self) -> None:
        self.events: list[tuple[float, SourceEvent]] = []

    def handle(self, output: PipelineOutput, states: list[dict[str, Any]]) -> None:
        pass

    def event(self, event: SourceEvent) -> None:
        self.events.append((time.monotonic(), event))

    def close(self) -> None:
        pass


def test_virtual_witmotion_to_mqtt_alerts_through_a_link_drop(
    broker: Broker, collect, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    # The virtual stream runs on the wall clock: no quiet hours and no 18:00 exercise reminder, whenever it runs.
    (home / "config.toml").write_text(
        '[wearer]\nid = "me"\n[alerts]\nprolonged_sitting_s = 60\nquiet_hours = ""\nexercise_reminder_at = ""\n'
    )
    (home / "goals.toml").write_text("max_sitting_min = 420\nexercise_min = 5\nend = 2099-12-31\n")
    monkeypatch.setenv("HIPSENSE_HOME", str(home))
    sub: Collector = collect(broker.port, ["hipsense/#"])
    record = tmp_path / "live.csv.gz"
    args = parse(
        [
            "live", "--virtual", "--profile", "witmotion", "--rate", "50", "--scenario", SCENARIO,
            "--speed", "20", "--seed", "3", "--drop-link-at", "90", "--record", str(record), "--mqtt", broker.url,
        ]
    )  # fmt: skip
    log = EventLog()
    stats = asyncio.run(live.live_main(args, extra_sinks=[log]))

    kinds = [e.kind for _, e in log.events if e.kind not in ("battery", "tick")]
    assert kinds == ["connected", "disconnected", "connected"]
    lost_at = next(w for w, e in log.events if e.kind == "disconnected")
    back_at = [w for w, e in log.events if e.kind == "connected"][-1]
    assert back_at - lost_at < 5.0

    assert sub.wait_for(lambda ms: any(m.topic == "hipsense/me/alert" for m in ms), timeout_s=10)
    alerts = [m.json() for m in sub.on("hipsense/me/alert")]
    assert [a["event_type"] for a in alerts] == ["prolonged_sitting"]
    assert alerts[0]["sitting_bout_s"] >= 60
    assert stats.alerts == 1
    states = [m.json() for m in sub.on("hipsense/me/state")]
    assert states and states[-1]["calibrated"] is True
    assert "ALERT" in capsys.readouterr().out
    # The day went to the history store (for 'hipsense report'), one row per 1 s epoch.
    with sqlite3.connect(home / "data" / "history.sqlite3") as db:
        (stored,) = db.execute("SELECT COUNT(*) FROM epochs").fetchone()
    assert stored == stats.epochs
    # Goal progress is published, retained, next to the state.
    assert sub.wait_for(lambda ms: any(m.topic == "hipsense/me/goals" for m in ms), timeout_s=5)
    goals = sub.on("hipsense/me/goals")[-1].json()
    assert [g["name"] for g in goals["goals"]] == ["max_sitting_min", "exercise_min"]
    assert goals["days_left"] > 0 and goals["goals"][0]["days_counted"] == 1
    # The alert rules' state is kept in the history store for the next start (no alert twice after a restart).
    with sqlite3.connect(home / "data" / "history.sqlite3") as db:
        (saved_text,) = db.execute("SELECT value FROM runtime_state WHERE key = 'rules/me'").fetchone()
    saved = json.loads(saved_text)
    assert saved["version"] == 2
    assert saved["prolonged_sitting"]["next_alert_s"] == 660.0  # 60 s threshold + the 600 s reminder interval

    # The raw stream was recorded, with the outage as a gap (the virtual WitMotion has no counter).
    with open_recording(record) as rec, pytest.warns(Warning, match="gap of"):
        samples = sum(len(chunk) for chunk in rec)
    assert samples == stats.samples
    assert 150 * 50 < samples < 210 * 50


def test_devices_lists_the_virtual_sensors_with_their_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    from sensor.ble import scan
    from sensor.simulate import parse_scenario
    from sensor.virtual import VirtualLink, VirtualSensor

    async def main() -> int:
        async with (
            VirtualLink() as link,
            VirtualSensor(link, "thingy52", parse_scenario("stand 5"), address="C0:00:00:00:00:07"),
        ):
            found = await scan(timeout_s=0.3, backend=link.scanner_backend)
        return devices.print_devices(found, show_all=False)

    assert asyncio.run(main()) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["address", "rssi", "profile", "name"]
    assert out[1].split()[0] == "C0:00:00:00:00:07" and out[1].split()[2:] == ["thingy52", "Thingy"]
    assert parse(["devices", "--timeout", "2"]).timeout == 2.0
