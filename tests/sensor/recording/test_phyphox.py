"""Tests for phyphox exports (sensor.recording.phyphox)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from processing.errors import RecordingError
from sensor.recording import (
    open_recording,
)
from tests.sensor.recording.support import read_all


def _phyphox_tables(t_acc: np.ndarray, t_gyro: np.ndarray) -> tuple[str, str]:
    acc_head = (
        '"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)","Acceleration z (m/s^2)",'
        '"Absolute acceleration (m/s^2)"\n'
    )
    gyro_head = '"Time (s)","Gyroscope x (rad/s)","Gyroscope y (rad/s)","Gyroscope z (rad/s)","Absolute (rad/s)"\n'
    acc = acc_head + "".join(f"{t:.9E},{0.1:.9E},{0.2:.9E},{9.8:.9E},{9.8:.9E}\n" for t in t_acc)
    gyro = gyro_head + "".join(f"{t:.9E},{t:.9E},{2 * t:.9E},{0.0:.9E},{0.0:.9E}\n" for t in t_gyro)
    return acc, gyro


def test_phyphox_zip_interpolates_gyro_but_not_across_gaps(tmp_path: Path) -> None:
    t_acc = np.arange(0.0, 10.0, 0.01) + 0.003
    t_gyro = np.arange(0.0, 10.0, 0.0125)
    t_gyro = t_gyro[(t_gyro < 4.0) | (t_gyro > 5.0)]  # a 1 s hole in the gyro
    acc, gyro = _phyphox_tables(t_acc, t_gyro)
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Accelerometer.csv", acc)
        zf.writestr("Gyroscope.csv", gyro)
        zf.writestr(
            "meta/time.csv",
            '"event","experiment time","system time","system time text"\n'
            '"START",0.000000000E0,1714545000.000,"2024-05-01 08:30:00.000 UTC+02:00"\n',
        )
    s, warned = read_all(path)
    with open_recording(path) as rec:
        assert rec.info.format == "phyphox"
        assert rec.info.start is not None and rec.info.start.isoformat() == "2024-05-01T08:30:00+02:00"
    inside = (s.t > 4.0) & (s.t < 5.0)
    assert not inside.any()  # no gyro there: those rows become a gap
    assert np.allclose(s.gyro[:, 0], s.t, atol=1e-9)  # linear gyro x = t is interpolated exactly
    assert np.allclose(s.gyro[:, 1], 2 * s.t, atol=1e-9)
    assert any("rows with NaN, inf or missing values dropped" in w for w in warned)
    assert any(": gap of" in w for w in warned)


def test_phyphox_folder_and_csv_path(tmp_path: Path) -> None:
    t = np.arange(0.0, 5.0, 0.01)
    acc, gyro = _phyphox_tables(t, t)
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Accelerometer.csv").write_text(acc)
    (folder / "Gyroscope.csv").write_text(gyro)
    a, _ = read_all(folder)
    b, _ = read_all(folder / "Gyroscope.csv")
    assert len(a) == len(t) and np.array_equal(a.gyro, b.gyro)
    assert np.allclose(a.acc, [0.1, 0.2, 9.8])


def test_phyphox_linear_acceleration_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Raw Data.csv").write_text('"Time (s)","Linear Acceleration x (m/s^2)"\n0,0\n')
    with pytest.raises(RecordingError, match=r"^export: phyphox export without an accelerometer") as err:
        open_recording(folder)
    assert err.value.hint and "Linear Acceleration" in err.value.hint
