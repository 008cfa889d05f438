"""Tests for reading every format: round trips, chunk invariance, messy-file warnings."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from processing.errors import RecordingWarning
from processing.samples import STANDARD_GRAVITY, Samples
from sensor.recording import (
    open_recording,
    write_recording,
)
from tests.sensor.recording.support import read_all, rows_for, wearer, write_csv_text


@pytest.mark.parametrize("suffix", ["csv", "csv.gz", "hsb"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    s = wearer()
    path = tmp_path / f"rec.{suffix}"
    meta = {"device": "demo", "start": "2024-05-01T08:30:00+02:00", "wearer": "w1"}
    assert write_recording(path, [s.slice(0, 999), s.slice(999)], metadata=meta) == len(s)
    back, warned = read_all(path)
    assert warned == []
    with open_recording(path) as rec:
        assert rec.info.format == ("hsb" if suffix == "hsb" else "csv")
        assert rec.info.metadata == meta
        assert rec.info.rate_hz == 100.0
        assert rec.info.start is not None and rec.info.start.utcoffset() is not None
    if suffix == "hsb":
        acc_step = 16 * STANDARD_GRAVITY / 32767
        gyro_step = math.radians(2000) / 32767
        assert np.max(np.abs(back.t - s.t)) <= 0.5e-6
        assert np.max(np.abs(back.acc - s.acc)) <= acc_step / 2 + 1e-12
        assert np.max(np.abs(back.gyro - s.gyro)) <= gyro_step / 2 + 1e-12
    else:
        assert np.array_equal(back.t, np.round(s.t, 6))
        assert np.array_equal(back.acc, np.round(s.acc * 1e5) / 1e5)
        assert np.array_equal(back.gyro, np.round(s.gyro * 1e6) / 1e6)


def _messy_csv(path: Path) -> Path:
    """A CSV with a NaN row, a duplicate, two gaps and saturation: every repair path at once."""
    s = wearer(n=2500)
    rows = rows_for(s)
    rows[100] = rows[100].replace(rows[100].split(",")[2], "nan", 1)
    rows[200] = rows[199]
    del rows[1000:1050]
    del rows[1500:1600]
    for i in range(300, 305):
        parts = rows[i].split(",")
        parts[3] = f"{2 * STANDARD_GRAVITY:.6f}"
        rows[i] = ",".join(parts)
    return write_csv_text(path, rows, "# acc_range_g=2\n# rate_hz=100\n")


@pytest.mark.parametrize("suffix", ["csv", "hsb"])
def test_chunk_invariance(tmp_path: Path, suffix: str) -> None:
    path = _messy_csv(tmp_path / "messy.csv")
    if suffix == "hsb":
        clean, _ = read_all(path)
        path = tmp_path / "messy.hsb"
        write_recording(path, [clean], metadata={"rate_hz": "100"})
    results = [read_all(path, chunk_size=size) for size in (1, 7, 4096)]
    first, first_warnings = results[0]
    for s, warned in results[1:]:
        assert np.array_equal(s.t, first.t)
        assert np.array_equal(s.acc, first.acc)
        assert np.array_equal(s.gyro, first.gyro)
        assert warned == first_warnings
    with open_recording(path, chunk_size=7) as rec, warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        sizes = {len(c) for c in rec}
        assert max(sizes) == 7
        assert rec.samples_read == len(first)


def test_messy_csv_warnings(tmp_path: Path) -> None:
    s, warned = read_all(_messy_csv(tmp_path / "messy.csv"))
    assert len(s) == 2500 - 50 - 100 - 2
    text = "\n".join(warned)
    # data line i is file line i + 4 (two metadata lines, header, 1-based)
    assert "messy.csv line 104: 1 rows with NaN, inf or missing values dropped" in text
    assert "messy.csv line 204: 1 rows with a duplicate timestamp dropped" in text
    assert "messy.csv line 1004: gap of 0.510 s" in text
    assert "kept as a gap, not interpolated" in text
    assert "messy.csv line 304: 5 samples pinned at the sensor range (+-2 g)" in text
    assert len(warned) == 5


def test_gap_warnings_are_capped(tmp_path: Path) -> None:
    s = wearer(n=3000)
    keep = np.ones(len(s), bool)
    keep[100:2900:100] = False  # 28 one-sample gaps would be 2 periods: make them 5
    for k in range(100, 2900, 100):
        keep[k : k + 4] = False
    sub = Samples(s.t[keep], s.acc[keep], s.gyro[keep])
    path = tmp_path / "gaps.csv"
    write_recording(path, [sub], metadata={"rate_hz": "100"})
    _, warned = read_all(path)
    gaps = [w for w in warned if ": gap of" in w]
    assert len(gaps) == 3
    assert any("25 more gaps not listed (28 in all" in w for w in warned)
