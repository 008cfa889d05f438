"""Tests for sensor.recording: formats, round trips, chunk invariance and bad input."""

from __future__ import annotations

import gzip
import math
import threading
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processing.errors import RecordingError, RecordingWarning
from processing.samples import STANDARD_GRAVITY, Samples
from sensor import recording
from sensor.formats.fastcsv import (
    _format_by_groups,
    _format_short,
    _parse_short_fields,
    format_block,
    parse_block,
)
from sensor.recording import (
    CANONICAL_HEADER,
    RecordingWriter,
    open_recording,
    write_recording,
)

HAPT_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "hapt-dev" / "RawData"


def wearer(n: int = 3000, rate: float = 100.0, seed: int = 0) -> Samples:
    """A still-ish wearer tilting +-0.5 rad about y at 0.3 Hz: acc in m/s², gyro in rad/s."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    th = 0.5 * np.sin(2 * np.pi * 0.3 * t)
    acc = np.column_stack([9.81 * np.sin(th), np.zeros(n), 9.81 * np.cos(th)]) + rng.normal(0, 0.05, (n, 3))
    gyro = np.column_stack([np.zeros(n), 0.5 * 2 * np.pi * 0.3 * np.cos(2 * np.pi * 0.3 * t), np.zeros(n)])
    gyro = gyro + rng.normal(0, 0.01, (n, 3))
    return Samples(t, acc, gyro)


def read_all(path: Path, **kwargs: object) -> tuple[Samples, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_recording(path, **kwargs) as rec:  # type: ignore[arg-type]
            s = Samples.concat(list(rec))
    return s, [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]


def write_csv_text(path: Path, rows: list[str], meta: str = "") -> Path:
    path.write_text(meta + CANONICAL_HEADER + "\n" + "".join(r + "\n" for r in rows))
    return path


def rows_for(s: Samples) -> list[str]:
    return [",".join(f"{v:.6f}" for v in (s.t[i], *s.acc[i], *s.gyro[i])) for i in range(len(s))]


# --- fast codec ---------------------------------------------------------------------------------------------


def test_parse_block_is_bit_identical_to_float() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0, 100, (500, 7))
    text = "".join(
        ",".join(f"{v:.{d}f}" for v, d in zip(row, (6, 5, 0, 3, 9, 1, 7), strict=True)) + "\n" for row in values
    ).encode()
    parsed = parse_block(text, 7)
    expected = np.array([[float(x) for x in line.split(b",")] for line in text.splitlines()])
    assert parsed is not None
    assert np.array_equal(parsed, expected)


@pytest.mark.parametrize(
    "text", [b"1,2\n3\n", b"1,2,3\n", b"1,nan\n", b"1,,\n", b"1,2-3\n", b"1,2..3\n", b"1,-\n", b"1,e5\n"]
)
def test_parse_block_falls_back_on_anything_unusual(text: bytes) -> None:
    assert parse_block(text, 2) is None


def _float_rows(text: bytes) -> np.ndarray:
    return np.array([[float(x) for x in line.split(b",")] for line in text.splitlines()])


def test_short_fields_are_bit_identical_to_float() -> None:
    # up to 8 characters after the sign: the fast path, including "-0", ".5", "7." and integers
    rng = np.random.default_rng(5)
    rows = []
    for _ in range(1500):
        fields = []
        for _ in range(5):
            d = int(rng.integers(0, 8))
            f = f"{rng.uniform(-1, 1) * 10.0 ** rng.integers(0, 9):.{d}f}"
            while len(f.lstrip("-")) > 8:
                d -= 1
                f = f"{float(f):.{d}f}" if d >= 0 else f[: 8 + f.startswith("-")]
            fields.append(f.replace("0.", ".", 1) if rng.random() < 0.1 else f)
        rows.append(",".join(fields))
    rows += ["-0,0,-0.0,.5,7.", "-.25,12345678,-1234567.,0.000001,-.0000001", "00000000,-00000000,1,-1,0"]
    text = ("\n".join(rows) + "\n").encode()
    parsed = _parse_short_fields(text, 5)
    assert parsed is not None
    assert parsed.tobytes() == _float_rows(text).tobytes()  # bit for bit, sign of zero included
    blocks = parse_block(text * 20, 5)  # parsed in pieces
    assert blocks is not None and blocks.tobytes() == np.tile(_float_rows(text), (20, 1)).tobytes()


@pytest.mark.parametrize(
    "text",
    [b"1,2/3\n", b"1,--2\n", b"1,2-\n", b"1,.\n", b"1,-.\n", b"1, 2\n", b"1,2\t\n", b"1.2.3,4\n", b"1,2\n,\n"],
)
def test_short_fields_refuse_malformed_fields(text: bytes) -> None:
    assert _parse_short_fields(text, 2) is None
    assert parse_block(text, 2) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.-+,e", max_size=12), min_size=1, max_size=8))
def test_parse_block_equals_float_or_refuses(lines: list[str]) -> None:
    text = ("\n".join(lines) + "\n").encode()
    ncols = lines[0].count(",") + 1
    try:
        expected = _float_rows(text)
        ok = all(line.count(",") + 1 == ncols for line in lines)
    except ValueError:
        ok = False
    parsed = parse_block(text, ncols)
    if not ok:
        assert parsed is None
    elif parsed is not None:
        assert np.allclose(parsed, expected, rtol=1e-15, atol=0)
        short = _parse_short_fields(text, ncols)
        assert short is None or short.tobytes() == expected.tobytes()


def test_parse_block_reads_phyphox_style_exponents() -> None:
    parsed = parse_block(b"1.234567890E-2,-9.810000000E0\n+5.E1,-.5\n", 2)
    assert parsed is not None
    assert parsed.tolist() == [[0.0123456789, -9.81], [50.0, -0.5]]


def test_format_block_round_trips_at_the_printed_decimals() -> None:
    rng = np.random.default_rng(4)
    values = np.column_stack([np.arange(300) / 100 + 86000, rng.normal(0, 20, (300, 6))])
    values[5] = [0.0, -0.0000004, 0.0000006, 123.5, -1e-7, 1.0, -12.5]
    text = format_block(values, (6, 5, 5, 5, 6, 6, 6))
    decimals = np.array([6, 5, 5, 5, 6, 6, 6])
    back = np.array([[float(x) for x in line.split(b",")] for line in text.splitlines()])
    assert np.array_equal(back, np.round(values * 10.0**decimals) / 10.0**decimals)
    assert text.splitlines()[5] == b"0,0,0,123.5,0,1,-12.5"  # no "-0"


def test_short_formatter_matches_the_general_one() -> None:
    rng = np.random.default_rng(6)
    n = 3000
    values = np.column_stack(
        [
            np.arange(n) / 100 + 9990,  # t crosses 10000 s: integer digits change within the block
            rng.normal(0, 20, n),
            rng.normal(0, 1e-4, n),  # mostly "0.0000x" and "-0"
            np.round(rng.normal(0, 5, n), 1),  # trailing zeros
            rng.integers(-9999999, 9999999, n).astype(float),  # 7 integer digits
            rng.uniform(-1, 1, n) * 10.0 ** rng.integers(-7, 3, n),
            np.full(n, 0.9999999),  # rounds up to "1"
        ]
    )
    values[:10, 1:6] = 0.0
    values[10, 1:6] = -0.0
    decimals = np.array([6, 5, 6, 3, 0, 6, 6])
    scaled = np.rint(np.abs(values) * 10.0**decimals).astype(np.int64)
    neg = (values < 0) & (scaled > 0)
    short = _format_short(scaled, neg, decimals)
    assert short == _format_by_groups(scaled, neg, decimals)
    assert format_block(values, tuple(decimals)) == short
    assert short.splitlines()[10] == b"9990.1,0,0,0,0,0,1"


# --- round trips and chunk invariance --------------------------------------------------------------------------


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


# --- bad input ------------------------------------------------------------------------------------------------


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
    monkeypatch.setattr(recording, "TEXT_BLOCK_BYTES", block_bytes)
    results = []
    for ahead in (0, 2):
        monkeypatch.setattr(recording, "READ_AHEAD_BLOCKS", ahead)
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


# --- units --------------------------------------------------------------------------------------------------


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


# --- HAPT ---------------------------------------------------------------------------------------------------


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


# --- phyphox ------------------------------------------------------------------------------------------------


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


# --- .hsb specifics -----------------------------------------------------------------------------------------


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
