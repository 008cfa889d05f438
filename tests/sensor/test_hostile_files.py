"""Hostile and unlucky recordings (issue #11, the file side).

Every damaged input of the issue is generated (``tests/sensor/hostile_inputs.py``) and run through
``hipsense analyze`` in-process: each must end in exit 0 or in one ``error:`` line with a hint (exit 2), never a
traceback, with traced memory bounded. Then specific checks per row, and a seeded fuzz of every reader (byte
flips, truncations, huge fields, ...) that accepts only a clean read or a :class:`HipsenseError`.
Hangs are caught by the per-test timeout (a FIFO named ``.csv`` used to block forever).
"""

from __future__ import annotations

import gzip
import os
import random
import stat
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hipsense.cli import main
from processing.errors import HipsenseError, RecordingError, RecordingWarning
from processing.samples import Samples
from sensor.recording import RecordingWriter, hsb, open_recording
from sensor.simulate import write_truth_csv
from tests.sensor.hostile_inputs import (
    Case,
    base_recordings,
    hsb_bomb_block,
    hsb_bytes,
    mutants,
    named_cases,
    wearer,
    write_csv,
)

MB = 1 << 20


pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    return {c.name: c for c in named_cases(tmp_path_factory.mktemp("hostile"))}


def traced(fn: Callable[[], Any]) -> tuple[Any, int]:
    """``fn()`` and the peak of traced memory (numpy's arrays included) while it ran, bytes."""
    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def analyze(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, int]:
    """``hipsense analyze PATH``: exit code, stderr, peak traced memory."""
    capsys.readouterr()
    code, peak = traced(lambda: main(["analyze", str(path), "--timeline", str(tmp_path / "timeline.csv")]))
    return code, capsys.readouterr().err, peak


# name -> (exit code, text of the one error line or None); every named case is listed here
EXPECTED: dict[str, tuple[int, str | None]] = {
    "future_timestamp_mid": (2, r"rec\.csv line 6003: time jumps ahead by 9\.99994e\+06 s"),
    "future_timestamp_last": (2, r"rec\.csv line 12002: time jumps ahead"),
    "many_day_gaps": (2, r"time jumps ahead by 46800 s .*gaps far longer than the data"),
    "zip_not_a_zip": (2, r"x\.zip: not a readable zip archive"),
    "phyphox_csv_without_partner": (2, r"Accelerometer\.csv: phyphox export without a gyroscope table"),
    "hsb_block_claims_16M": (2, r"bomb\.hsb: .*a block claims 16777216 samples"),
    "hsb_bit_flip_early": (2, r"flip\.hsb: 1 damaged stretch\(es\) skipped \(samples from the start to t = 10\.000"),
    "hsb_fake_block_headers": (2, r"fakes\.hsb: file is truncated or damaged at byte \d+ \(block 1: a block fails"),
    "csv_gz_trailing_zeros": (0, None),
    "first_line_8MB_no_newline": (2, r"rec\.csv line 1: longer than 1 MiB"),
    "gz_line_32MB_no_newline": (2, r"rec\.csv\.gz line 1: longer than 1 MiB"),
    "fifo_named_csv": (2, r"pipe\.csv: not a regular file"),
    "dev_zero_named_csv": (2, r"zero\.csv: not a regular file"),
    "zip_bad_crc": (2, r"x\.zip: member 'Accelerometer\.csv' cannot be read"),
    "zip_stored_bad_crc": (2, r"x\.zip: member 'Accelerometer\.csv' cannot be read \(Bad CRC-32"),
    "zip_corrupt_deflate": (2, r"x\.zip: member 'Accelerometer\.csv' cannot be read"),
    "zip_encrypted": (2, r"x\.zip: member 'Accelerometer\.csv' is encrypted"),
    "zip_unknown_method": (2, r"x\.zip: member 'Accelerometer\.csv' cannot be read \(That compression method"),
    "phyphox_times_nan": (2, r"phy_nan: cannot estimate the sample rate"),
    "phyphox_time_huge": (0, None),
    "phyphox_time_csv_huge": (0, None),
    "phyphox_symlink_loop": (0, None),
    "phyphox_folder_named_csv": (0, None),
    "folder_named_csv": (2, r"Folder\.csv: phyphox export without an accelerometer table"),
    "constant_timestamps": (2, r"rec\.csv: no usable samples \(1 after dropping"),
    "constant_timestamps_no_rate": (2, r"rec\.csv: cannot estimate the sample rate"),
    "rate_hz_0": (2, r"sample rate 0 Hz \(metadata rate_hz='0'\) is outside 1-2000 Hz"),
    "rate_hz_m100": (2, r"sample rate -100 Hz .* is outside 1-2000 Hz"),
    "rate_hz_5000": (2, r"sample rate 5000 Hz .* is outside 1-2000 Hz"),
    "rate_hz_nan": (2, r"sample rate nan Hz .* is outside 1-2000 Hz"),
    "rate_hz_inf": (2, r"sample rate inf Hz .* is outside 1-2000 Hz"),
    "rate_hz_0p5": (2, r"sample rate 0\.5 Hz .* is outside 1-2000 Hz"),
    "rate_hz_1e308": (2, r"sample rate 1e\+308 Hz .* is outside 1-2000 Hz"),
    "rate_estimated_100kHz": (2, r"sample rate 100000 Hz \(the rate estimated from the first timestamps\)"),
    "start_year_9999": (2, r"metadata start='9999-12-31T23:00:00\+00:00' is outside the years 1970-2199"),
    "start_year_0001": (2, r"metadata start='0001-01-01T00:00:00\+00:00' is outside the years"),
    "start_year_2026": (0, None),
    "hsb_acc_lsb_0": (2, r"rec\.hsb: the \.hsb header's acc_lsb=0\.0 is outside"),
    "hsb_acc_lsb_-1.0": (2, r"rec\.hsb: the \.hsb header's acc_lsb=-1\.0 is outside"),
    "hsb_gyro_lsb_nan": (2, r"rec\.hsb: the \.hsb header's gyro_lsb=nan is outside"),
    "hsb_block_samples_0": (2, r"rec\.hsb: the \.hsb header's block_samples=0 is outside"),
    "hsb_header_len_4G": (2, r"rec\.hsb: the \.hsb header claims 4294967295 bytes"),
    "hsb_header_nested_json": (2, r"rec\.hsb: the \.hsb header is damaged"),
    "acc_range_nan": (2, r"metadata acc_range_g='nan' is not a positive number"),
    "acc_range_0": (2, r"metadata acc_range_g='0' is not a positive number"),
    "hapt_partner_short": (2, r"acc_exp01_user01\.txt: at least 1490 more rows than its HAPT partner"),
    "hapt_partner_fifo": (2, r"gyro_exp01_user01\.txt: not a regular file"),
    "empty_csv": (2, r"rec\.csv: file is empty"),
    "empty_csv_gz": (2, r"rec\.csv\.gz: file is empty"),
    "empty_hsb": (2, r"rec\.hsb: not a hipsense binary recording"),
    "header_only_csv": (2, r"rec\.csv: no usable samples \(0 after"),
    "header_only_hsb": (2, r"rec\.hsb: no usable samples \(0 after"),
    "all_nan_csv": (2, r"rec\.csv: no usable samples|cannot estimate the sample rate"),
    "all_nan_values_csv": (2, r"rec\.csv: no usable samples \(0 after"),
    "phyphox_header_only": (2, r"phy_empty: the recording holds no samples"),
}


def test_every_named_case_has_an_expectation(cases: dict[str, Case]) -> None:
    platform_only = {"fifo_named_csv", "dev_zero_named_csv", "hapt_partner_fifo"}
    assert set(cases) - platform_only <= set(EXPECTED) and set(EXPECTED) - platform_only <= set(cases)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_recording_ends_in_one_clean_line(
    name: str, cases: dict[str, Case], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #11 rows 3, 4, 8, 16, 17, 18 through `hipsense analyze`: exit 0 or one `error:` line and a hint;
    memory bounded (every input here is under 40 MB, most under 1 MB)."""
    if name not in cases:
        pytest.skip("needs mkfifo or /dev/zero")
    code, err, peak = analyze(cases[name].path, tmp_path, capsys)
    want_code, pattern = EXPECTED[name]
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == want_code, err
    assert "Traceback" not in err
    if pattern is None:
        assert not errors
    else:
        assert len(errors) == 1, err
        assert __import__("re").search(pattern, errors[0]), errors[0]
        assert any(line.startswith("hint: ") for line in err.splitlines())
    assert peak < 200 * MB, f"{name}: {peak / MB:.0f} MB traced"


# --- row 3: gaps never allocate by their length ----------------------------------------------------------------


@pytest.mark.timeout(120)
def test_row3_far_future_row_keeps_the_minute_before_and_bounded_memory(
    cases: dict[str, Case], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err, peak = analyze(cases["future_timestamp_mid"].path, tmp_path, capsys)
    assert code == 2 and "everything before was read" in err
    rows = (tmp_path / "timeline.csv").read_text().splitlines()
    assert len(rows) == 1 + 60  # the minute before the bad row: t = 0..59.99 s
    assert peak < 100 * MB


def test_row3_gaps_up_to_a_day_are_kept_as_gaps(tmp_path: Path) -> None:
    """A sensor off overnight is a gap, not an error: 2 min, 14 h off, 2 min."""
    s = wearer(120.0)
    later = Samples(s.t + 120.0 + 14 * 3600.0, s.acc, s.gyro)
    path = write_csv(tmp_path / "night.csv", Samples.concat([s, later]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_recording(path) as rec:
            got = Samples.concat(list(rec))
    assert len(got) == 2 * len(s)
    assert any("gap of 50400.010 s" in str(w.message) for w in caught)


# --- row 4: the file the user named is the only file read -------------------------------------------------------


def test_row4_a_broken_zip_never_reads_the_export_beside_it(cases: dict[str, Case]) -> None:
    with pytest.raises(RecordingError, match=r"^x\.zip: not a readable zip archive") as err:
        open_recording(cases["zip_not_a_zip"].path)
    assert err.value.hint and "broken download" in err.value.hint


def test_row4_a_phyphox_csv_reads_only_its_own_folder(cases: dict[str, Case]) -> None:
    """Accelerometer.csv named directly, its gyroscope missing, another export in a sub-folder: refused."""
    with pytest.raises(RecordingError, match="without a gyroscope table"):
        open_recording(cases["phyphox_csv_without_partner"].path)


# --- row 8: .hsb bounds and resync -------------------------------------------------------------------------------


def test_row8_block_claiming_16M_samples_is_refused_cheaply(cases: dict[str, Case]) -> None:
    def read() -> list[str]:
        with (
            pytest.raises(RecordingError, match=r"a block claims 16777216 samples") as err,
            open_recording(cases["hsb_block_claims_16M"].path) as rec,
        ):
            for _ in rec:
                pass
        return [err.value.message]

    _, peak = traced(read)
    assert peak < 32 * MB


def test_row8_block_count_is_checked_against_the_header_not_only_the_crc(tmp_path: Path) -> None:
    """A bomb block before intact ones: skipped by resync (its CRC is right, its count is not)."""
    s = wearer(20.0)
    data = hsb_bytes(s.slice(0, 1000), block_samples=1000)
    tail = hsb_bytes(s.slice(1000), block_samples=1000)
    first_block = tail.index(hsb.BLOCK_MAGIC)
    path = tmp_path / "mid.hsb"
    path.write_bytes(data + hsb_bomb_block(hsb.LEGACY_BLOCK_SAMPLES + 1) + tail[first_block:])

    def read() -> tuple[Samples, RecordingError]:
        parts: list[Samples] = []
        with (
            pytest.raises(RecordingError, match=r"1 damaged stretch\(es\) skipped") as err,
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", RecordingWarning)
            with open_recording(path) as rec:
                parts.extend(rec)
        return Samples.concat(parts), err.value

    (got, _), peak = traced(read)
    assert len(got) == len(s)  # nothing intact was lost
    assert peak < 32 * MB


def test_row8_one_flipped_bit_loses_only_its_block(tmp_path: Path) -> None:
    s = wearer(60.0)
    data = bytearray(hsb_bytes(s, block_samples=1000))
    blocks = [i for i in range(len(data)) if data[i : i + 4] == hsb.BLOCK_MAGIC]
    data[blocks[1] + hsb._BLOCK_HEAD.size + 40] ^= 0x04  # block 2 of 6: t = 10-20 s
    path = tmp_path / "flip.hsb"
    path.write_bytes(bytes(data))
    parts: list[Samples] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with (
            pytest.raises(RecordingError, match=r"flip\.hsb: 1 damaged stretch\(es\) skipped") as err,
            open_recording(path) as rec,
        ):
            parts.extend(rec)
    got = Samples.concat(parts)
    assert len(got) == len(s) - 1000
    assert np.array_equal(got.t[999:1001], [s.t[999], s.t[2000]])  # the lost block is a gap
    assert np.allclose(got.acc[1000:], s.acc[2000:], atol=0.01)
    messages = [str(w.message) for w in caught]
    assert any("block 2: a block fails its checksum" in m and "t = 9.990 s to t = 20.000 s" in m for m in messages)
    assert "every intact block was read" in err.value.message


def test_row8_append_after_damage_keeps_the_intact_blocks_after_it(tmp_path: Path) -> None:
    s = wearer(30.0)
    data = bytearray(hsb_bytes(s, block_samples=1000))
    blocks = [i for i in range(len(data)) if data[i : i + 4] == hsb.BLOCK_MAGIC]
    data[blocks[0] + hsb._BLOCK_HEAD.size + 10] ^= 0x01
    path = tmp_path / "rec.hsb"
    path.write_bytes(bytes(data))
    more = wearer(5.0)
    with RecordingWriter(path, append=True) as w:
        w.write(Samples(more.t + 40.0, more.acc, more.gyro))
    parts: list[Samples] = []
    with warnings.catch_warnings(), pytest.raises(RecordingError, match="1 damaged stretch"):
        warnings.simplefilter("ignore", RecordingWarning)
        with open_recording(path) as rec:
            parts.extend(rec)
    assert len(Samples.concat(parts)) == 2000 + len(more)


def test_writer_splits_blocks_at_the_header_block_size(tmp_path: Path) -> None:
    s = wearer(50.0)
    path = tmp_path / "big.hsb"
    with RecordingWriter(path, flush_samples=1024, flush_s=None) as w:
        w.write(s)  # one write of 5000 samples
    with path.open("rb") as f:
        header = hsb.read_header(f, path.name)
        f.seek(header.data_offset)
        sizes = [b.t.size for b in hsb.iter_blocks(f, header, path.name)]
    assert max(sizes) <= header.block_samples == 1024 and sum(sizes) == len(s)


# --- row 16: trailing garbage, endless lines, FIFOs ----------------------------------------------------------------


def test_row16_csv_gz_with_trailing_garbage_keeps_every_row(tmp_path: Path) -> None:
    s = wearer(120.0)
    path = tmp_path / "rec.csv.gz"
    with RecordingWriter(path, metadata={"rate_hz": "100"}, flush_s=7.0) as w:  # many gzip members
        for i in range(0, len(s), 700):
            w.write(s.slice(i, i + 700))
    for garbage in (bytes(512), b"\x1f\x8b" + bytes(30), random.Random(1).randbytes(3000)):
        bad = tmp_path / "bad.csv.gz"
        bad.write_bytes(path.read_bytes() + garbage)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with open_recording(bad) as rec:
                    got = Samples.concat(list(rec))
            except RecordingError as exc:  # a gzip header then nothing: the stream is cut, rows are kept
                assert "truncated" in exc.message
                with open_recording(bad) as rec:
                    got = Samples.concat(list(_until_error(rec)))
        assert len(got) == len(s), garbage[:4]
        if garbage[:2] != b"\x1f\x8b":
            assert any(f"{len(garbage)} bytes after the last gzip member" in str(w.message) for w in caught)


def _until_error(rec: Any) -> list[Samples]:
    out: list[Samples] = []
    try:
        for chunk in rec:
            out.append(chunk)
    except RecordingError:
        pass
    return out


def test_row16_an_endless_first_line_is_refused_after_a_bounded_read(cases: dict[str, Case]) -> None:
    for name in ("first_line_8MB_no_newline", "gz_line_32MB_no_newline"):

        def read(name: str = name) -> str:
            with pytest.raises(RecordingError, match=r"line 1: longer than 1 MiB") as err:
                open_recording(cases[name].path)
            return err.value.message

        _, peak = traced(read)
        assert peak < 8 * MB, name  # the old reader held (and re-copied) the whole line


def test_row16_gzip_bombs_are_handed_out_in_bounded_pieces(tmp_path: Path) -> None:
    """200 MB of one metadata line, compressed to 200 KB: refused without inflating it all at once."""
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb", compresslevel=9) as g:
        g.write(b"#")
        for _ in range(200):
            g.write(b" " * MB)

    def read() -> None:
        with pytest.raises(RecordingError, match="longer than 1 MiB"):
            open_recording(path)

    _, peak = traced(read)
    assert peak < 16 * MB


@pytest.mark.timeout(60)
def test_row16_fifo_and_dev_zero_named_csv_are_refused(cases: dict[str, Case]) -> None:
    for name in ("fifo_named_csv", "dev_zero_named_csv"):
        if name not in cases:
            continue
        with pytest.raises(RecordingError, match="not a regular file"):
            open_recording(cases[name].path)


# --- row 18: nothing read is not a success -------------------------------------------------------------------


def test_row18_empty_recordings_write_no_timeline(
    cases: dict[str, Case], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("header_only_csv", "header_only_hsb", "all_nan_values_csv"):
        code, err, _ = analyze(cases[name].path, tmp_path, capsys)
        assert code == 2 and "no usable samples" in err
        assert not (tmp_path / "timeline.csv").exists()


# --- row 14: owner-only files ------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_row14_recordings_and_truth_are_owner_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = os.umask(0o022)
    try:
        s = wearer(3.0)
        for name in ("new/a.csv", "new/b.csv.gz", "new/deeper/c.hsb"):
            with RecordingWriter(tmp_path / name) as w:
                w.write(s)
        loose = tmp_path / "loose.csv"
        loose.write_text("old")
        loose.chmod(0o644)
        with RecordingWriter(loose) as w:  # overwriting a world-readable file makes it private
            w.write(s)
        write_truth_csv(tmp_path / "new" / "t.truth.csv", [])
        out = tmp_path / "sim" / "day.csv.gz"
        assert main(["simulate", "--minutes", "1", "--seed", "2", "--out", str(out)]) == 0
    finally:
        os.umask(old)

    def mode(p: Path) -> int:
        return stat.S_IMODE(p.stat().st_mode)

    for name in ("new/a.csv", "new/b.csv.gz", "new/deeper/c.hsb", "loose.csv", "new/t.truth.csv"):
        assert mode(tmp_path / name) == 0o600, name
    assert mode(out) == 0o600 and mode(out.with_name("day.truth.csv")) == 0o600
    for folder in ("new", "new/deeper", "sim"):
        assert mode(tmp_path / folder) == 0o700, folder


# --- the fuzz test: every reader, seeded mutants ------------------------------------------------------------------

FUZZ_MUTANTS = 900


@pytest.mark.timeout(300)
def test_fuzz_every_reader_ends_cleanly_with_bounded_memory(tmp_path: Path) -> None:
    """Seeded mutants of a valid csv, csv.gz, hsb, HAPT pair, phyphox folder and zip (byte flips, truncations,
    zero runs, huge fields, splices, junk, repeats, lost line ends): each is read to the end or stops with a
    HipsenseError, and the traced memory stays bounded (the inputs are under 2 MB)."""
    bases = base_recordings(tmp_path / "base", seconds=20.0)
    outcomes: dict[str, int] = {"read": 0, "error": 0}
    worst = 0
    for case in mutants(tmp_path / "mutants", bases, FUZZ_MUTANTS, seed=11):

        def read(case: Case = case) -> str:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RecordingWarning)
                    with open_recording(case.path, chunk_size=4096) as rec:
                        for chunk in rec:
                            assert np.isfinite(chunk.t).all() and np.all(np.diff(chunk.t) > 0)
                            assert np.isfinite(chunk.acc).all() and np.isfinite(chunk.gyro).all()
                return "read"
            except HipsenseError as exc:
                assert "\n" not in exc.message, case.name
                return "error"

        outcome, peak = traced(read)
        outcomes[outcome] += 1
        worst = max(worst, peak)
        assert peak < 64 * MB, f"{case.name}: {peak / MB:.0f} MB traced"
    assert outcomes["read"] + outcomes["error"] == FUZZ_MUTANTS
    assert outcomes["read"] > 0 and outcomes["error"] > 0  # the mutants do both
