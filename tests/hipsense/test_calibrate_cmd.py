"""``hipsense calibrate`` end to end on a simulated recording, and the calibration store."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from hipsense import calstore, cli
from processing.calibration import Calibration
from processing.errors import ConfigError
from sensor.recording import RecordingWriter
from sensor.simulate import SensorModel, parse_scenario, realize_sensor, simulate


def write_recording(path: Path, mounting: tuple[float, float, float], seed: int) -> np.ndarray:
    sensor = SensorModel(mounting_deg=mounting)
    samples, _ = simulate(parse_scenario("stand 20 tilt=0, walk 30, sit 40, stand 10"), sensor, seed=seed)
    with RecordingWriter(path, metadata={"device": "belt-imu 7", "rate_hz": "100"}) as writer:
        writer.write(samples)
    mounting_matrix: np.ndarray = realize_sensor(sensor, seed).mounting
    return mounting_matrix


def test_calibrate_prints_and_stores(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = tmp_path / "morning.csv"
    truth = write_recording(rec, (90.0, 0.0, 0.0), seed=4)  # sensor +x points left: on the belt's left side
    code = cli.main(["calibrate", str(rec), "--neutral", "2:18", "--walk", "22:48", "--wearer", "ann"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "steps in 22-48 s" in out and "checked by sitting" in out
    assert "+x points left" in out and "+z points up" in out
    walking = re.search(r"while walking the pelvis sits ([+-]\d+\.\d)° \(anterior \+\) from neutral", out)
    assert walking is not None and abs(float(walking.group(1))) < 15.0, out
    path = home / "data" / "calibrations" / "ann" / "belt-imu_7.json"
    assert str(path) in err
    stored = calstore.load_calibration("ann", "belt-imu 7", root=home / "data")
    assert stored is not None and stored.method == "guided"
    assert stored.rotation[0] @ truth[0] > 0.98
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["device"] == "belt-imu 7" and "morning.csv" in record["source"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--neutral", "25:45"], "no neutral standing found in 25:45 s"),
        (["--neutral", "2:18", "--walk", "60:70"], "too few steps in --walk 60:70: found 0"),
        (["--neutral", "500:510"], "starts after the recording ends"),
        (["--neutral", "18:2"], "START must be >= 0 and below END"),
    ],
)
def test_calibrate_errors_are_one_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    rec = tmp_path / "r.csv"
    write_recording(rec, (0.0, 0.0, 0.0), seed=2)
    code = cli.main(["calibrate", str(rec), *flags])
    _, err = capsys.readouterr()
    assert code == 2
    first = err.splitlines()[0]
    assert first.startswith("error: ") and message in first
    assert not (home / "data" / "calibrations").exists()


def test_calstore_round_trip_and_unreadable_file(tmp_path: Path) -> None:
    cal = Calibration(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "guided", "sitting")
    assert calstore.load_calibration("bob", "dev/1", root=tmp_path) is None
    path = calstore.save_calibration(cal, wearer="bob", device="dev/1", source="test", root=tmp_path)
    assert path == tmp_path / "calibrations" / "bob" / "dev_1.json"
    back = calstore.load_calibration("bob", "dev/1", root=tmp_path)
    assert back is not None and np.array_equal(back.rotation, cal.rotation) and back.sign_check == "sitting"
    assert calstore.load_calibration("bob", "other", root=tmp_path) is None
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="unreadable"):
        calstore.load_calibration("bob", "dev/1", root=tmp_path)
