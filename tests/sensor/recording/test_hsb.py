"""Tests for .hsb specifics (sensor.recording.hsb) and progress counters."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from processing.errors import RecordingError
from processing.samples import STANDARD_GRAVITY, Samples
from sensor.recording import (
    RecordingWriter,
    open_recording,
    write_recording,
)
from tests.sensor.recording.support import read_all, wearer


def test_hsb_truncated_returns_complete_blocks(tmp_path: Path) -> None:
    s = wearer(n=5000)
    path = tmp_path / "rec.hsb"
    with RecordingWriter(path, flush_s=1.0) as w:
        for i in range(0, 5000, 10):
            w.write(s.slice(i, i + 10))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])
    got: list[Samples] = []
    with pytest.raises(RecordingError) as err:
        for chunk in open_recording(path):
            got.append(chunk)
    n = len(Samples.concat(got))
    assert 4850 < n < 5000  # one block per second of data: only the torn last block is lost
    assert str(err.value).startswith("rec.hsb: file is truncated or damaged at byte ")
    assert str(err.value).endswith(f"the {n} samples before it were read")


def test_hsb_append_after_a_crash(tmp_path: Path) -> None:
    s = wearer(n=3000)
    path = tmp_path / "live.hsb"
    w = RecordingWriter(path, metadata={"device": "live"}, flush_s=1.0)
    for i in range(0, 1050, 10):
        w.write(s.slice(i, i + 10))
    flushed = w.samples_written
    assert 900 < flushed < 1050  # at most about 1 s of data is pending when it is "killed" here
    w._hsb._f.close()  # type: ignore[union-attr]
    with path.open("ab") as f:
        f.write(b"BLK1\x05\x00")  # a torn block
    with RecordingWriter(path, append=True) as w2:
        with pytest.raises(RecordingError, match="strictly increasing"):
            w2.write(s.slice(900, 1000))
        w2.write(s.slice(1100))
    back, warned = read_all(path)
    assert len(back) == flushed + 1900
    assert np.allclose(back.t, np.concatenate([s.t[:flushed], s.t[1100:]]), rtol=0, atol=1e-6)
    assert any(f"gap of {s.t[1100] - s.t[flushed - 1]:.3f} s" in m for m in warned)
    with open_recording(path) as rec:
        assert rec.info.metadata == {"device": "live"}


def test_hsb_refuses_out_of_range_values(tmp_path: Path) -> None:
    s = wearer(n=100)
    big = Samples(s.t, s.acc * 20, s.gyro)
    with pytest.raises(RecordingError, match=r"outside the .hsb full scale \(\+-16 g, \+-2000 deg/s\)") as err:
        write_recording(tmp_path / "rec.hsb", [big])
    assert err.value.hint and "acc_full_scale_g" in err.value.hint
    with RecordingWriter(tmp_path / "wide.hsb", acc_full_scale_g=400) as w:
        w.write(big)
    back, _ = read_all(tmp_path / "wide.hsb", rate_hz=100.0)
    assert np.allclose(back.acc, big.acc, atol=400 * STANDARD_GRAVITY / 32767)


def test_progress_counters(tmp_path: Path) -> None:
    path = tmp_path / "rec.csv.gz"
    write_recording(path, [wearer(n=2000)])
    with open_recording(path, chunk_size=500) as rec:
        assert rec.bytes_total == path.stat().st_size
        for _ in rec:
            assert 0 < rec.bytes_read <= rec.bytes_total
        assert rec.samples_read == 2000
