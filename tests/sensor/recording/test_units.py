"""Tests for unit guessing (sensor.recording.units)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processing.errors import RecordingError
from processing.samples import STANDARD_GRAVITY, Samples
from sensor.recording import (
    write_recording,
)
from tests.sensor.recording.support import read_all, wearer


def test_g_and_deg_per_s_are_detected_and_converted(tmp_path: Path) -> None:
    s = wearer(n=7000)
    path = tmp_path / "rec.csv"
    write_recording(path, [Samples(s.t, s.acc / STANDARD_GRAVITY, np.rad2deg(s.gyro))])
    back, warned = read_all(path)
    assert len(warned) == 2
    assert "accelerometer looks like it is in g" in warned[0] and "--accel-unit m/s2" in warned[0]
    assert "gyroscope looks like it is in deg/s" in warned[1] and "--gyro-unit rad/s" in warned[1]
    assert np.allclose(back.acc, s.acc, atol=1e-4)
    assert np.allclose(back.gyro, s.gyro, atol=1e-6)
    # the decision does not depend on chunking, and explicit units switch detection off
    assert read_all(path, chunk_size=13)[1] == warned
    explicit, warned2 = read_all(path, accel_unit="g", gyro_unit="deg/s")
    assert warned2 == []
    assert np.array_equal(explicit.acc, back.acc)


def test_slow_deg_per_s_is_caught_by_the_tilt_ratio(tmp_path: Path) -> None:
    # |w| in deg/s stays below 20 here, so only the gyro/tilt ratio can tell
    s = wearer(n=7000)
    slow = Samples(s.t, s.acc, np.rad2deg(s.gyro) * 0.3)
    tilt = 0.15 * np.sin(2 * np.pi * 0.3 * s.t)
    acc = np.column_stack([9.81 * np.sin(tilt), np.zeros(len(s)), 9.81 * np.cos(tilt)])
    slow = Samples(s.t, acc, slow.gyro)
    assert np.percentile(np.linalg.norm(slow.gyro, axis=1), 99) < 20
    path = tmp_path / "rec.csv"
    write_recording(path, [slow])
    _, warned = read_all(path)
    assert len(warned) == 1 and "gyro/tilt ratio" in warned[0]


def test_ambiguous_accelerometer_is_refused(tmp_path: Path) -> None:
    s = wearer(n=500)
    path = tmp_path / "rec.csv"
    write_recording(path, [Samples(s.t, s.acc * 0.35, s.gyro)])
    with pytest.raises(RecordingError, match=r"^rec.csv: cannot tell the accelerometer unit") as err:
        read_all(path)
    assert err.value.hint and "--accel-unit" in err.value.hint
