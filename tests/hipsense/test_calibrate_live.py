"""``hipsense calibrate --live``: guided calibration on a (virtual) sensor over real GATT."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hipsense.cli import main


def test_guided_live_calibration_on_a_virtual_sensor(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path))
    code = main(["calibrate", "--live", "--virtual", "--speed", "20", "--profile", "hipsense", "--seed", "4"])
    assert code == 0
    err = capsys.readouterr().err
    assert "1/2  Stand still" in err and "2/2  Now walk straight ahead" in err
    stored = json.loads((tmp_path / "data" / "calibrations" / "me" / "hipsense.json").read_text())
    assert stored["method"] == "guided"
    # The virtual wearer wears the sensor aligned with the pelvis: the calibration must find (nearly) identity.
    rotation = np.array(stored["rotation"])
    angle = np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0)))
    assert angle < 5.0


def test_live_and_a_recording_are_exclusive(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path))
    assert main(["calibrate", "rec.csv", "--neutral", "2:8", "--live", "--virtual"]) == 2
    assert "give either REC with --neutral, or --live" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["calibrate"], ["calibrate", "rec.csv"]])
def test_calibrate_needs_a_recording_and_its_window_or_live(argv, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("HIPSENSE_HOME", str(tmp_path))
    assert main(argv) == 2
    assert "give a recording and its --neutral window, or --live" in capsys.readouterr().err
