"""Tests for the HAPT pair source (sensor.recording.hapt)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from processing.errors import RecordingError
from processing.samples import STANDARD_GRAVITY
from sensor.recording import (
    open_recording,
)
from tests.sensor.recording.support import HAPT_DIR, read_all


def _tiny_hapt(folder: Path, n: int = 400, gz: bool = True) -> tuple[Path, Path]:
    rng = np.random.default_rng(5)
    acc = np.column_stack([np.full(n, 1.0), rng.normal(0, 0.01, n), rng.normal(0, 0.01, n)])
    acc[50:54, 0] = 2.0  # clipped at +2 g for 4 samples
    gyro = rng.normal(0, 0.02, (n, 3))
    paths = []
    for name, values in (("acc", acc), ("gyro", gyro)):
        text = "".join(" ".join(f"{v:.16g}" for v in row) + "\n" for row in values).encode()
        path = folder / f"{name}_exp07_user04.txt{'.gz' if gz else ''}"
        path.write_bytes(gzip.compress(text) if gz else text)
        paths.append(path)
    return paths[0], paths[1]


@pytest.mark.parametrize("which", [0, 1])
def test_hapt_pair(tmp_path: Path, which: int) -> None:
    paths = _tiny_hapt(tmp_path)
    s, warned = read_all(paths[which])
    with open_recording(paths[which]) as rec:
        assert rec.info.format == "hapt"
        assert rec.info.metadata["wearer"] == "user04"
        assert rec.info.metadata["experiment"] == "exp07"
        assert rec.info.rate_hz == 50.0
    assert len(s) == 400
    assert np.allclose(s.t, np.arange(400) / 50)
    assert np.allclose(np.median(s.acc[:, 0]), STANDARD_GRAVITY)
    assert warned == [
        "acc_exp07_user04.txt.gz line 51: 4 samples pinned at the sensor range (+-2 g) for 3+ samples in a "
        "row (first at that line); fast movements there are clipped"
    ]


def test_hapt_partner_missing(tmp_path: Path) -> None:
    acc, gyro = _tiny_hapt(tmp_path, gz=False)
    gyro.unlink()
    with pytest.raises(RecordingError, match=r"^acc_exp07_user04.txt: HAPT partner file gyro_exp07_user04.txt"):
        open_recording(acc)


@pytest.mark.skipif(not HAPT_DIR.is_dir(), reason="HAPT data not found at ../shared/data/hapt-dev (not shipped)")
def test_real_hapt_file() -> None:
    s, warned = read_all(HAPT_DIR / "acc_exp01_user01.txt.gz")
    assert len(s) > 10000
    assert 9.0 < float(np.median(np.linalg.norm(s.acc, axis=1))) < 10.6
    assert all("pinned" in w for w in warned)
