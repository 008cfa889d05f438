"""Tests for the canonical CSV source: bad input, gzip, read-ahead, empty files."""

from __future__ import annotations

import gzip
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from processing.errors import RecordingError, RecordingWarning
from processing.samples import Samples
from sensor.recording import (
    CANONICAL_HEADER,
    RecordingWriter,
    open_recording,
    write_recording,
)
from sensor.recording import csv as csv_source
from tests.sensor.recording.support import read_all, rows_for, wearer, write_csv_text


def test_malformed_row_names_file_and_line_after_yielding_the_rows_before(tmp_path: Path) -> None:
    s = wearer(n=300)
    rows = rows_for(s)
    rows[150] = "1.5,abc,0,0,0,0,0"
    path = write_csv_text(tmp_path / "rec.csv", rows)
    got: list[Samples] = []
    with pytest.raises(RecordingError) as err, open_recording(path, chunk_size=64) as rec:
        for chunk in rec:
            got.append(chunk)
    assert str(err.value) == "rec.csv line 152: expected 7 numbers, got '1.5,abc,0,0,0,0,0'"
    assert err.value.hint and "fix or delete that line" in err.value.hint
    assert len(Samples.concat(got)) == 150


def test_short_row(tmp_path: Path) -> None:
    rows = rows_for(wearer(n=50))
    rows[10] = "0.1,1,2"
    path = write_csv_text(tmp_path / "rec.csv", rows)
    with pytest.raises(RecordingError, match=r"^rec.csv line 12: expected 7 numbers, got '0.1,1,2'$"):
        read_all(path)


def test_time_going_backwards(tmp_path: Path) -> None:
    s = wearer(n=400)
    rows = rows_for(s)
    rows[300], rows[301] = rows[301], rows[300]
    path = write_csv_text(tmp_path / "rec.csv", rows)
    got: list[Samples] = []
    with pytest.raises(RecordingError) as err, warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        for chunk in open_recording(path, chunk_size=50):
            got.append(chunk)
    assert str(err.value).startswith("rec.csv line 303: time goes backwards (3.010000 s -> 3.000000 s)")
    assert len(Samples.concat(got)) == 301


def test_truncated_gz(tmp_path: Path) -> None:
    s = wearer(n=20000)
    full = tmp_path / "full.csv.gz"
    write_recording(full, [s])
    data = full.read_bytes()
    cut = tmp_path / "rec.csv.gz"
    cut.write_bytes(data[: len(data) // 2])
    got: list[Samples] = []
    with pytest.raises(RecordingError) as err:
        for chunk in open_recording(cut, chunk_size=1000):
            got.append(chunk)
    n = len(Samples.concat(got))
    assert 0 < n < len(s)
    assert str(err.value) == (
        f"rec.csv.gz: file is truncated at line {n + 2} (the compressed stream ends early); "
        f"the {n} rows before it were read"
    )


def _read_ahead_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "hipsense-read-ahead"]


@pytest.mark.parametrize("block_bytes", [1 << 20, 5000])
def test_read_ahead_thread_and_block_size_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block_bytes: int
) -> None:
    s = wearer(n=30000)  # ~2 MB: several 1 MB blocks
    rows = rows_for(s)
    rows[25000] = "1.5,abc,0,0,0,0,0"
    path = write_csv_text(tmp_path / "rec.csv", [*rows[:200], "", *rows[200:]])  # a blank line, too
    monkeypatch.setattr(csv_source, "TEXT_BLOCK_BYTES", block_bytes)
    results = []
    for ahead in (0, 2):
        monkeypatch.setattr(csv_source, "READ_AHEAD_BLOCKS", ahead)
        got: list[Samples] = []
        with pytest.raises(RecordingError) as err, open_recording(path, chunk_size=4096) as rec:
            got.extend(rec)
        results.append((Samples.concat(got), str(err.value)))
    assert results[0][1] == results[1][1] == "rec.csv line 25003: expected 7 numbers, got '1.5,abc,0,0,0,0,0'"
    assert np.array_equal(results[0][0].t, results[1][0].t)
    assert np.array_equal(results[0][0].acc, results[1][0].acc)
    assert np.array_equal(results[1][0].t, np.round(s.t[:25000], 6))
    assert _read_ahead_threads() == []


def test_read_ahead_thread_stops_when_the_reader_stops_early(tmp_path: Path) -> None:
    path = tmp_path / "rec.csv"
    write_recording(path, [wearer(n=60000)])  # ~4 MB: the worker is still reading when we stop
    with open_recording(path, chunk_size=1000) as rec:
        for _ in rec:
            assert len(_read_ahead_threads()) == 1
            break
    assert _read_ahead_threads() == []
    with open_recording(path, chunk_size=1000) as rec:  # an abandoned iterator: close() stops the worker
        next(iter(rec))
    assert _read_ahead_threads() == []


def test_multi_member_gz_from_the_live_writer(tmp_path: Path) -> None:
    s = wearer(n=1000)
    path = tmp_path / "live.csv.gz"
    with RecordingWriter(path, metadata={"device": "live"}, flush_s=1.0) as w:
        for i in range(0, 1000, 10):
            w.write(s.slice(i, i + 10))
    with gzip.open(path, "rt") as f:  # ordinary tools read it too
        assert f.readline() == "# device=live\n"
    back, warned = read_all(path)
    assert warned == []
    assert np.array_equal(back.t, s.t)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "rec.csv: file is empty"),
        ("# device=x\n", "rec.csv: file has no header line (only metadata)"),
        ("1,2,3,4,5,6,7\n", "rec.csv line 1: header missing: expected 't,ax,ay,az,gx,gy,gz', got '1,2,3,4,5,6,7'"),
        (CANONICAL_HEADER + "\n", "rec.csv: the recording holds no samples"),
    ],
)
def test_empty_or_headerless(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "rec.csv"
    path.write_text(content)
    with pytest.raises(RecordingError) as err:
        open_recording(path)
    assert str(err.value) == message
    assert err.value.hint


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "rec.xyz"
    path.write_text("hello")
    with pytest.raises(RecordingError, match=r"^rec.xyz: unknown recording format$") as err:
        open_recording(path)
    assert err.value.hint and ".hsb" in err.value.hint


def test_extra_columns_and_crlf_are_accepted(tmp_path: Path) -> None:
    s = wearer(n=200)
    rows = [r + ",note" for r in rows_for(s)]
    path = tmp_path / "rec.csv"
    path.write_bytes((CANONICAL_HEADER + ",comment\r\n" + "".join(r + "\r\n" for r in rows)).encode())
    back, warned = read_all(path)
    assert warned == []
    assert np.allclose(back.acc, s.acc, atol=1e-6)
