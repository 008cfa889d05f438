"""Check everything hipsense gives Home Assistant with Home Assistant's own code.

    python integrations/homeassistant/check.py [--python /path/to/python3.13] [--venv DIR] [--ha-version V]

Makes (once) a venv with the given Python (Home Assistant 2025.x needs 3.13) and installs the pinned
``homeassistant`` from PyPI into it (a few minutes, about 1 GB; never done by the test suite), then:

- builds every MQTT discovery config hipsense publishes and sample payloads of each topic it publishes
  (state, link, goals, last alert) with hipsense's own code, in this interpreter;
- runs ``_ha_side.py`` in that venv: Home Assistant's MQTT ``DISCOVERY_SCHEMA`` of each platform on every
  config, its template engine on every ``value_template`` with the sample payloads (what state Home Assistant
  would show), and its blueprint loader and automation / MQTT trigger / companion-app action schemas on
  ``hipsense_alert_notify.yaml``.

Exit status 0 when Home Assistant accepts everything, 1 otherwise, 2 when the venv cannot be made.

An older release can be checked in a venv made by hand and passed with ``--venv DIR --no-install``; 2024.x
(Python 3.12) also needs ``josepy<2`` and ``numpy`` in it, and cannot import the companion app's action schema
without more of its integrations' requirements (the check then says so). 2024.8.3 drops the enum's
``options``; 2024.9.0 accepts everything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO))

from hipsense.discovery import discovery_messages  # noqa: E402
from hipsense.mqtt import last_alert_document, link_document, state_payload  # noqa: E402
from processing.activity import ACTIVITIES  # noqa: E402
from processing.alerts import Alert  # noqa: E402
from processing.pipeline import Epochs  # noqa: E402

#: The Home Assistant release checked against (pinned: its schemas are what is tested).
HA_VERSION = "2025.4.4"
DEFAULT_PYTHON = "/root/.pyenv/versions/3.13.0/bin/python3"
DEFAULT_VENV = REPO / ".ha-venv"
BLUEPRINT = HERE / "hipsense_alert_notify.yaml"
WEARER = "anna"
BASE = f"hipsense/{WEARER}"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def installed_version(venv: Path) -> str | None:
    """The homeassistant version in ``venv``, or None."""
    py = venv_python(venv)
    if not py.exists():
        return None
    probe = "from homeassistant.const import __version__; print(__version__)"
    proc = subprocess.run([str(py), "-c", probe], capture_output=True, text=True)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_venv(venv: Path, python: str, version: str) -> None:
    if (
        installed_version(venv) == version
        and subprocess.run([str(venv_python(venv)), "-c", "import nacl"]).returncode == 0
    ):
        return
    if not Path(python).exists():
        raise SystemExit(f"check.py: {python} not found; pass --python with a Python 3.13 interpreter")
    print(f"making {venv} with {python} and installing homeassistant=={version} (a few minutes)", flush=True)
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    # PyNaCl: a requirement of the companion app's integration (mobile_app), whose action schema is checked;
    # Home Assistant itself would install it when the integration is first set up.
    pins = [f"homeassistant=={version}", "PyNaCl==1.5.0"]
    subprocess.run([str(venv_python(venv)), "-m", "pip", "install", "-q", *pins], check=True)


def _epochs(activity: str, tilt: float, obliquity: float, bout_s: float, today_s: float, calibrated: bool) -> Epochs:
    one = np.ones(1)
    return Epochs(
        np.zeros(1),
        np.array([ACTIVITIES.index(activity)], dtype=np.int8),
        one * tilt,
        one * obliquity,
        np.array([calibrated]),
        one * bout_s,
        one * today_s,
    )


def state(activity: str, *, tilt: float = -12.34, obliquity: float = 1.5, bout_s: float = 0.0,
          today_s: float = 3723.0, calibrated: bool = True, battery: float | None = 80.0) -> str:  # fmt: skip
    payload = state_payload(
        _epochs(activity, tilt, obliquity, bout_s, today_s, calibrated),
        0,
        time_iso="2026-03-02T10:15:00+01:00",
        seq=7,
        battery_pct=battery,
    )
    return json.dumps(payload)


def build(inputs_topic: str) -> dict[str, Any]:
    configs = discovery_messages(wearer=WEARER, base_topic=BASE, sitting_limit_s=1800.0)
    topic = {m.topic.split("/")[-2]: m.topic for m in configs}
    when = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)
    alert = Alert(f"{WEARER}-prolonged_sitting-20260302T101500", "prolonged_sitting", 1800.0, when,
                  "You have been sitting for 30 minutes: stand up and move for a minute or two.")  # fmt: skip
    goals = {
        "start": "2026-03-01", "end": "2026-05-31", "today": "2026-03-02", "days_elapsed": 2, "days_left": 90,
        "goals": [
            {"name": "max_sitting_min", "label": "sitting", "kind": "max", "target_min": 420, "days_met": 2,
             "days_counted": 2, "last7_mean_min": 380.0, "streak": 2, "on_track": True},
            {"name": "exercise_min", "label": "exercise", "kind": "min", "target_min": 5, "days_met": 0,
             "days_counted": 2, "last7_mean_min": 2.0, "streak": 0, "on_track": False},
        ],
    }  # fmt: skip
    no_goals = {**goals, "goals": []}
    cases: list[tuple[str, str, str, str | None]] = [
        ("activity", "sitting", state("sitting"), "sitting"),
        ("activity", "walking", state("walking"), "walking"),
        ("activity", "unknown", state("unknown", tilt=float("nan"), calibrated=False), None),
        ("pelvic_tilt", "a tilt", state("standing", tilt=-12.34), "-12.3"),
        ("pelvic_tilt", "no tilt (uncalibrated)", state("unknown", tilt=float("nan")), None),
        ("obliquity", "an obliquity", state("standing", obliquity=2.26), "2.3"),
        ("sitting_today", "1 h 2 min 3 s", state("sitting", today_s=3723.0), "3723"),
        ("sitting_bout", "a 31 min bout", state("sitting", bout_s=1860.0), "1860"),
        ("sitting_too_long", "a 31 min bout", state("sitting", bout_s=1860.0), "ON"),
        ("sitting_too_long", "a 5 min bout", state("sitting", bout_s=300.0), "OFF"),
        ("calibrated", "calibrated", state("sitting"), "ON"),
        ("calibrated", "uncalibrated", state("unknown", calibrated=False), "OFF"),
        ("battery", "80 %", state("sitting", battery=80.0), "80.0"),
        ("battery", "no reading", state("sitting", battery=None), None),
        ("sensor_connected", "connected", json.dumps(link_document(True, when, device="WT901BLE67")), "connected"),
        ("sensor_connected", "disconnected", json.dumps(link_document(False, when)), "disconnected"),
        ("goal_progress", "2 of 4 goal-days", json.dumps(goals), "50"),
        ("goal_progress", "no goals", json.dumps(no_goals), None),
        ("last_alert", "an alert", json.dumps(last_alert_document(alert)), alert.message),
    ]
    return {
        "discovery": [{"topic": m.topic, "payload": m.payload} for m in configs],
        "templates": [
            {"discovery_topic": topic[key], "label": label, "payload": payload, "shown": shown}
            for key, label, payload, shown in cases
        ],
        "blueprint": str(BLUEPRINT),
        "blueprint_inputs": {"alert_topic": inputs_topic, "phone": "0123456789abcdef0123456789abcdef"},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--python", default=DEFAULT_PYTHON, help=f"Python 3.13 for the venv (default: {DEFAULT_PYTHON})")
    p.add_argument("--venv", type=Path, default=DEFAULT_VENV, help=f"the venv (default: {DEFAULT_VENV})")
    p.add_argument("--ha-version", default=HA_VERSION, help=f"homeassistant version (default: {HA_VERSION})")
    p.add_argument("--no-install", action="store_true", help="use the venv as it is; exit 2 if it has no HA")
    args = p.parse_args(argv)
    if args.no_install:
        if installed_version(args.venv) is None:
            print(f"check.py: no homeassistant in {args.venv}", file=sys.stderr)
            return 2
    else:
        try:
            ensure_venv(args.venv, args.python, args.ha_version)
        except subprocess.CalledProcessError as exc:
            print(f"check.py: making the venv failed ({exc})", file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "hipsense-payloads.json"
        doc.write_text(json.dumps(build(f"{BASE}/alert"), ensure_ascii=False), encoding="utf-8")
        proc = subprocess.run([str(venv_python(args.venv)), str(HERE / "_ha_side.py"), str(doc)])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
