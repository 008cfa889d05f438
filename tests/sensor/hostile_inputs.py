"""Damaged and hostile recordings, generated: the named cases of issue #11 and seeded mutants of valid files.

Used by ``tests/sensor/test_hostile_files.py`` (the suite's fuzz test) and by ``benchmarks/probe_inputs.py``
(a larger corpus through ``hipsense analyze`` as a subprocess). Nothing here is committed data: every file is
made in a temporary folder from a seed.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from processing.samples import Samples
from sensor.recording import hsb, write_recording
from sensor.simulate import SensorModel, parse_scenario, simulate

RATE_HZ = 100.0
ACC_HEAD = (
    '"Time (s)","Acceleration x (m/s^2)","Acceleration y (m/s^2)","Acceleration z (m/s^2)",'
    '"Absolute acceleration (m/s^2)"\n'
)
GYRO_HEAD = '"Time (s)","Gyroscope x (rad/s)","Gyroscope y (rad/s)","Gyroscope z (rad/s)","Absolute (rad/s)"\n'


def wearer(seconds: float, *, rate_hz: float = RATE_HZ, seed: int = 0) -> Samples:
    """A wearer tilting slowly and walking now and then: acc in m/s², gyro in rad/s."""
    rng = np.random.default_rng(seed)
    n = round(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    th = 0.4 * np.sin(2 * np.pi * 0.05 * t) + 0.05 * np.sin(2 * np.pi * 1.8 * t) * (np.sin(0.02 * t) > 0)
    dth = np.gradient(th, t) if n > 1 else np.zeros(n)
    acc = np.column_stack([9.81 * np.sin(th), 0.3 * np.sin(2 * np.pi * 1.8 * t), 9.81 * np.cos(th)])
    acc += rng.normal(0, 0.05, (n, 3))
    gyro = np.column_stack([0.1 * np.sin(2 * np.pi * 0.9 * t), dth, np.zeros(n)]) + rng.normal(0, 0.01, (n, 3))
    return Samples(t, acc, gyro)


META = {"start": "2026-03-02T08:00:00+01:00", "device": "probe", "rate_hz": "100"}


def write_csv(path: Path, s: Samples, meta: dict[str, str] | None = None) -> Path:
    write_recording(path, [s], metadata=META if meta is None else meta)
    return path


def write_hapt(folder: Path, s: Samples, exp: int = 1, user: int = 1) -> Path:
    acc = "".join(f"{a:.8e} {b:.8e} {c:.8e}\n" for a, b, c in (s.acc / 9.80665).tolist())
    gyro = "".join(f"{a:.8e} {b:.8e} {c:.8e}\n" for a, b, c in s.gyro.tolist())
    (folder / f"gyro_exp{exp:02d}_user{user:02d}.txt").write_text(gyro)
    path = folder / f"acc_exp{exp:02d}_user{user:02d}.txt"
    path.write_text(acc)
    return path


def phyphox_tables(s: Samples) -> tuple[str, str]:
    acc = ACC_HEAD + "".join(
        f"{t:.9E},{a:.9E},{b:.9E},{c:.9E},{abs(c):.9E}\n"
        for t, (a, b, c) in zip(s.t.tolist(), s.acc.tolist(), strict=True)
    )
    gyro = GYRO_HEAD + "".join(
        f"{t + 0.002:.9E},{a:.9E},{b:.9E},{c:.9E},{abs(c):.9E}\n"
        for t, (a, b, c) in zip(s.t.tolist(), s.gyro.tolist(), strict=True)
    )
    return acc, gyro


TIME_CSV = (
    '"event","experiment time","system time","system time text"\n'
    '"START",0.000000000E0,1772434800.000,"2026-03-02 08:00:00.000 UTC+01:00"\n'
)


def write_phyphox_folder(folder: Path, s: Samples) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    acc, gyro = phyphox_tables(s)
    (folder / "Accelerometer.csv").write_text(acc)
    (folder / "Gyroscope.csv").write_text(gyro)
    (folder / "meta").mkdir(exist_ok=True)
    (folder / "meta" / "time.csv").write_text(TIME_CSV)
    return folder


def write_phyphox_zip(path: Path, s: Samples, *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    acc, gyro = phyphox_tables(s)
    with zipfile.ZipFile(path, "w", compression=method) as zf:
        zf.writestr("Accelerometer.csv", acc)
        zf.writestr("Gyroscope.csv", gyro)
        zf.writestr("meta/time.csv", TIME_CSV)
    return path


# --- named cases: the rows of issue #11 ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A damaged input: ``path`` is what the user names; ``row`` the issue row it reproduces."""

    name: str
    path: Path
    row: str


def _csv_text(s: Samples) -> list[str]:
    lines = []
    for t, a, g in zip(s.t.tolist(), s.acc.tolist(), s.gyro.tolist(), strict=True):
        lines.append(",".join(f"{v:.6f}" for v in (t, *a, *g)))
    return lines


def _csv_file(path: Path, rows: list[str], meta: str = "# rate_hz=100\n") -> Path:
    path.write_text(meta + "t,ax,ay,az,gx,gy,gz\n" + "".join(r + "\n" for r in rows))
    return path


def hsb_bytes(s: Samples, *, block_samples: int = 1000, header: dict[str, object] | None = None) -> bytes:
    """A .hsb file as bytes (blocks of ``block_samples``), with header fields overridden by ``header``."""
    acc_lsb, gyro_lsb = hsb._lsbs(hsb.DEFAULT_ACC_FULL_SCALE_G, hsb.DEFAULT_GYRO_FULL_SCALE_DPS)
    head: dict[str, object] = {
        "metadata": {"rate_hz": "100", "start": META["start"]},
        "acc_lsb": acc_lsb,
        "gyro_lsb": gyro_lsb,
        "time_lsb": 1e-6,
        "block_samples": block_samples,
    }
    head.update(header or {})
    raw = json.dumps(head).encode()
    out = bytearray(hsb._FILE_HEAD.pack(hsb.MAGIC, hsb.VERSION, len(raw)) + raw)
    for i in range(0, len(s), block_samples):
        out += hsb.encode_block(s.slice(i, i + block_samples), acc_lsb, gyro_lsb)
    return bytes(out)


def hsb_bomb_block(n: int) -> bytes:
    """A block that claims ``n`` samples with an intact CRC: its payload inflates to 16 n bytes of zeros."""
    c = zlib.compressobj(9)
    parts = []
    left = 4 * (n - 1) + 12 * n
    zeros = bytes(1 << 20)
    while left > 0:
        parts.append(c.compress(zeros[: min(left, len(zeros))]))
        left -= len(zeros)
    parts.append(c.flush())
    payload = b"".join(parts)
    return hsb._BLOCK_HEAD.pack(hsb.BLOCK_MAGIC, n, len(payload), zlib.crc32(payload), 0.0) + payload


def _zip_with_flag(path: Path, s: Samples, mutate: Callable[[bytearray, int, int], None]) -> Path:
    """A phyphox zip whose Accelerometer.csv member is altered by ``mutate(data, local_header_at, data_at)``."""
    write_phyphox_zip(path, s)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("Accelerometer.csv")
    at = info.header_offset
    name_len, extra_len = struct.unpack_from("<HH", data, at + 26)
    mutate(data, at, at + 30 + name_len + extra_len)
    path.write_bytes(bytes(data))
    return path


def named_cases(folder: Path) -> list[Case]:
    """The hostile inputs of issue #11 (file side), each in its own sub-folder of ``folder``."""
    cases: list[Case] = []
    s = wearer(120.0)
    rows = _csv_text(s)

    def place(name: str) -> Path:
        d = folder / name
        d.mkdir(parents=True, exist_ok=True)
        return d

    def add(name: str, path: Path, row: str) -> None:
        cases.append(Case(name, path, row))

    # row 3: one timestamp far in the future
    r = list(rows)
    r[6000] = "9999999.99," + r[6000].split(",", 1)[1]
    add("future_timestamp_mid", _csv_file(place("future_mid") / "rec.csv", r), "3")
    r = list(rows)
    r[-1] = "9999999.99," + r[-1].split(",", 1)[1]
    add("future_timestamp_last", _csv_file(place("future_last") / "rec.csv", r), "3")
    # many gaps of 13 h: each under a day, together far longer than the data
    r = [f"{i * 46800.0 + 0.01 * (i % 7):.2f}," + row.split(",", 1)[1] for i, row in enumerate(rows[:3000])]
    add("many_day_gaps", _csv_file(place("day_gaps") / "rec.csv", r), "3")

    # row 4: a .zip that is not a zip, beside another export
    d = place("notzip")
    write_phyphox_folder(d / "other", wearer(30.0, seed=9))
    (d / "x.zip").write_bytes(random.Random(4).randbytes(4096))
    add("zip_not_a_zip", d / "x.zip", "4")
    d = place("csv_beside_other")
    write_phyphox_folder(d / "other", wearer(30.0, seed=9))
    acc, _ = phyphox_tables(wearer(30.0))
    (d / "Accelerometer.csv").write_text(acc)
    add("phyphox_csv_without_partner", d / "Accelerometer.csv", "4")

    # row 8: .hsb block claiming 16 M samples; a flipped bit in an early block
    d = place("hsb_bomb")
    good = hsb_bytes(wearer(10.0))
    (d / "bomb.hsb").write_bytes(good + hsb_bomb_block(1 << 24))
    add("hsb_block_claims_16M", d / "bomb.hsb", "8")
    d = place("hsb_flip")
    data = bytearray(hsb_bytes(s, block_samples=1000))
    first_block = data.index(hsb.BLOCK_MAGIC)
    data[first_block + hsb._BLOCK_HEAD.size + 1500] ^= 0x10  # one bit inside the first block's payload
    (d / "flip.hsb").write_bytes(bytes(data))
    add("hsb_bit_flip_early", d / "flip.hsb", "8")

    d = place("hsb_fakes")
    fake = hsb._BLOCK_HEAD.pack(hsb.BLOCK_MAGIC, 1000, 16000, 0, 0.0)
    good = hsb_bytes(wearer(10.0), block_samples=1000)
    first_block = good.index(hsb.BLOCK_MAGIC)
    (d / "fakes.hsb").write_bytes(good[: first_block + 100] + fake * 40000 + good[first_block:])
    add("hsb_fake_block_headers", d / "fakes.hsb", "8")

    # row 16: trailing garbage, one endless first line, FIFO and /dev/zero named .csv
    d = place("gz_garbage")
    write_csv(d / "rec.csv.gz", s)
    with (d / "rec.csv.gz").open("ab") as f:
        f.write(bytes(512))
    add("csv_gz_trailing_zeros", d / "rec.csv.gz", "16")
    d = place("long_line")
    (d / "rec.csv").write_bytes(b"1" * (8 << 20))
    add("first_line_8MB_no_newline", d / "rec.csv", "16")
    d = place("long_gz")
    with gzip.open(d / "rec.csv.gz", "wb", compresslevel=1) as g:
        g.write(b"# " + b"x" * (32 << 20))
    add("gz_line_32MB_no_newline", d / "rec.csv.gz", "16")
    d = place("fifo")
    if hasattr(os, "mkfifo"):
        os.mkfifo(d / "pipe.csv")
        add("fifo_named_csv", d / "pipe.csv", "16")
    d = place("devzero")
    if Path("/dev/zero").exists():
        (d / "zero.csv").symlink_to("/dev/zero")
        add("dev_zero_named_csv", d / "zero.csv", "16")

    # row 17: zips, phyphox times, symlink loops, folders named .csv, constant t, rate, start year, acc_lsb
    def bad_crc(data: bytearray, at: int, data_at: int) -> None:
        data[data_at + 10] ^= 0xFF

    add("zip_bad_crc", _zip_with_flag(place("zip_crc") / "x.zip", s, bad_crc), "17")
    d = place("zip_stored_crc")
    p = write_phyphox_zip(d / "x.zip", s, method=zipfile.ZIP_STORED)
    data = bytearray(p.read_bytes())
    data[200] = ord("9") if data[200] != ord("9") else ord("8")
    p.write_bytes(bytes(data))
    add("zip_stored_bad_crc", p, "17")

    def corrupt_deflate(data: bytearray, at: int, data_at: int) -> None:
        for k in range(data_at + 4, data_at + 64):
            data[k] = 0xFF

    add("zip_corrupt_deflate", _zip_with_flag(place("zip_deflate") / "x.zip", s, corrupt_deflate), "17")

    def encrypted(data: bytearray, at: int, data_at: int) -> None:
        flags = struct.unpack_from("<H", data, at + 6)[0] | 1
        struct.pack_into("<H", data, at + 6, flags)
        central = data.rfind(b"PK\x01\x02", 0, data.rfind(b"Accelerometer.csv") + 1)
        struct.pack_into("<H", data, central + 8, struct.unpack_from("<H", data, central + 8)[0] | 1)

    add("zip_encrypted", _zip_with_flag(place("zip_enc") / "x.zip", s, encrypted), "17")

    def unknown_method(data: bytearray, at: int, data_at: int) -> None:
        struct.pack_into("<H", data, at + 8, 99)
        central = data.rfind(b"PK\x01\x02", 0, data.rfind(b"Accelerometer.csv") + 1)
        struct.pack_into("<H", data, central + 10, 99)

    add("zip_unknown_method", _zip_with_flag(place("zip_method") / "x.zip", s, unknown_method), "17")

    d = place("phy_nan")
    acc, gyro = phyphox_tables(s)
    lines = acc.splitlines(keepends=True)
    lines[1:] = ["NaN" + ln[ln.index(",") :] for ln in lines[1:]]
    (d / "Accelerometer.csv").write_text("".join(lines))
    (d / "Gyroscope.csv").write_text(gyro)
    add("phyphox_times_nan", d, "17")
    d = place("phy_huge")
    lines = acc.splitlines(keepends=True)
    lines[500] = "1.0E+300" + lines[500][lines[500].index(",") :]
    (d / "Accelerometer.csv").write_text("".join(lines))
    (d / "Gyroscope.csv").write_text(gyro)
    add("phyphox_time_huge", d, "17")
    d = place("phy_time_csv")
    write_phyphox_folder(d, s)
    (d / "meta" / "time.csv").write_text(
        '"event","experiment time","system time","system time text"\n"START",0,1e300,"UTC+99:99"\n'
    )
    add("phyphox_time_csv_huge", d, "17")
    d = place("phy_loop")
    write_phyphox_folder(d, s)
    (d / "loop.csv").symlink_to(d / "loop.csv")
    (d / "sub").mkdir()
    (d / "sub" / "up").symlink_to(d)
    add("phyphox_symlink_loop", d, "17")
    d = place("phy_dircsv")
    write_phyphox_folder(d, s)
    (d / "Folder.csv").mkdir()
    (d / "meta" / "more.csv").mkdir()
    add("phyphox_folder_named_csv", d, "17")
    add("folder_named_csv", d / "Folder.csv", "17")

    r = ["5.0," + row.split(",", 1)[1] for row in rows]
    add("constant_timestamps", _csv_file(place("const_t") / "rec.csv", r), "17")
    add("constant_timestamps_no_rate", _csv_file(place("const_t2") / "rec.csv", r, meta=""), "17")
    for rate in ("0", "-100", "5000", "nan", "inf", "0.5", "1e308"):
        safe = rate.replace(".", "p").replace("-", "m")
        add(f"rate_hz_{safe}", _csv_file(place(f"rate_{safe}") / "rec.csv", rows, meta=f"# rate_hz={rate}\n"), "17")
    r = [f"{i * 1e-5:.6f}," + row.split(",", 1)[1] for i, row in enumerate(rows)]
    add("rate_estimated_100kHz", _csv_file(place("rate_est") / "rec.csv", r, meta=""), "17")
    for start in ("9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+00:00", "2026-03-02T08:00:00+23:59"):
        safe = start[:4]
        add(
            f"start_year_{safe}",
            _csv_file(place(f"start_{safe}") / "rec.csv", rows, meta=f"# rate_hz=100\n# start={start}\n"),
            "17",
        )
    for key, value in (("acc_lsb", 0), ("acc_lsb", -1.0), ("gyro_lsb", float("nan")), ("block_samples", 0)):
        d = place(f"hsb_{key}_{value}")
        (d / "rec.hsb").write_bytes(hsb_bytes(s, header={key: value}))
        add(f"hsb_{key}_{value}", d / "rec.hsb", "17")
    d = place("hsb_header_len")
    (d / "rec.hsb").write_bytes(hsb._FILE_HEAD.pack(hsb.MAGIC, hsb.VERSION, 0xFFFFFFFF) + b"{}")
    add("hsb_header_len_4G", d / "rec.hsb", "17")
    d = place("hsb_nested")
    raw = b"[" * 100000
    (d / "rec.hsb").write_bytes(hsb._FILE_HEAD.pack(hsb.MAGIC, hsb.VERSION, len(raw)) + raw)
    add("hsb_header_nested_json", d / "rec.hsb", "17")
    for name, meta in (("acc_range_nan", "# acc_range_g=nan\n"), ("acc_range_0", "# acc_range_g=0\n")):
        add(name, _csv_file(place(name) / "rec.csv", rows, meta="# rate_hz=100\n" + meta), "17")
    d = place("hapt_unequal")
    write_hapt(d, wearer(30.0, rate_hz=50.0))
    (d / "gyro_exp01_user01.txt").write_text("0 0 0\n" * 10)
    add("hapt_partner_short", d / "acc_exp01_user01.txt", "17")
    d = place("hapt_fifo")
    if hasattr(os, "mkfifo"):
        (d / "acc_exp01_user01.txt").write_text("0 0 1\n" * 100)
        os.mkfifo(d / "gyro_exp01_user01.txt")
        add("hapt_partner_fifo", d / "acc_exp01_user01.txt", "17")

    # row 18: empty, header-only, all-NaN
    d = place("empty")
    (d / "rec.csv").write_bytes(b"")
    add("empty_csv", d / "rec.csv", "18")
    (d / "rec.csv.gz").write_bytes(b"")
    add("empty_csv_gz", d / "rec.csv.gz", "18")
    (d / "rec.hsb").write_bytes(b"")
    add("empty_hsb", d / "rec.hsb", "18")
    d = place("header_only")
    add("header_only_csv", _csv_file(d / "rec.csv", []), "18")
    (d / "rec.hsb").write_bytes(hsb_bytes(Samples.empty()))
    add("header_only_hsb", d / "rec.hsb", "18")
    r = ["nan,nan,nan,nan,nan,nan,nan"] * 500
    add("all_nan_csv", _csv_file(place("all_nan") / "rec.csv", r), "18")
    r = [row.split(",", 1)[0] + ",nan,nan,nan,nan,nan,nan" for row in rows]
    add("all_nan_values_csv", _csv_file(place("all_nan_values") / "rec.csv", r), "18")
    d = place("phy_empty")
    (d / "Accelerometer.csv").write_text(ACC_HEAD)
    (d / "Gyroscope.csv").write_text(GYRO_HEAD)
    add("phyphox_header_only", d, "18")
    return cases


# --- seeded mutants ---------------------------------------------------------------------------------------------

MUTATIONS = ("flip", "truncate", "zero_run", "huge_field", "splice", "insert_junk", "repeat", "drop_newlines")


def mutate(data: bytes, rng: random.Random, kind: str) -> bytes:
    """``data`` damaged one way: byte flips, a truncation, a run of zeros, a huge numeric field, a spliced copy
    of another part, random junk, a repeated stretch, or line ends removed."""
    b = bytearray(data)
    n = len(b)
    if n == 0:
        return bytes(rng.randbytes(rng.randint(1, 64)))
    if kind == "flip":
        for _ in range(rng.choice((1, 1, 2, 8, 64))):
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif kind == "truncate":
        del b[rng.randrange(n) :]
    elif kind == "zero_run":
        at = rng.randrange(n)
        b[at : at + rng.randint(1, 4096)] = bytes(min(n - at, rng.randint(1, 4096)))
    elif kind == "huge_field":
        at = rng.randrange(n)
        field = rng.choice((b"9" * 400, b"1e308", b"-1e309", b"nan", b"1" + b"0" * 30, b"\xff" * 40, b"4294967295"))
        b[at:at] = field
    elif kind == "splice":
        a, c = sorted(rng.randrange(n) for _ in range(2))
        at = rng.randrange(n)
        b[at:at] = b[a : min(c, a + 65536)]
    elif kind == "insert_junk":
        at = rng.randrange(n)
        b[at:at] = rng.randbytes(rng.randint(1, 256))
    elif kind == "repeat":
        a = rng.randrange(n)
        piece = b[a : a + rng.randint(1, 200)]
        b[a:a] = piece * rng.randint(2, 50)
    elif kind == "drop_newlines":
        start = rng.randrange(n)
        end = min(n, start + rng.randint(100, 200000))
        b[start:end] = b[start:end].replace(b"\n", b",")
    return bytes(b)


def simulated(seconds: float, *, rate_hz: float = RATE_HZ, seed: int = 3) -> Samples:
    """The simulator's wearer standing, walking and sitting (so that analysis calibrates and classifies)."""
    third = max(seconds / 3.0, 1.0)
    segments = parse_scenario(f"stand {third:g}, walk {third:g}, sit {third:g}")
    samples, _ = simulate(segments, SensorModel(rate_hz=rate_hz), seed=seed)
    return samples


def base_recordings(folder: Path, *, seconds: float = 30.0) -> dict[str, Path]:
    """One valid recording per reader: csv, csv.gz, hsb, HAPT pair, phyphox folder and zip."""
    folder.mkdir(parents=True, exist_ok=True)
    s = simulated(seconds)
    out = {
        "csv": write_csv(folder / "base.csv", s),
        "csv.gz": write_csv(folder / "base.csv.gz", s),
        "hsb": folder / "base.hsb",
        "hapt": write_hapt(_mk(folder / "hapt"), simulated(seconds, rate_hz=50.0)),
        "phyphox": write_phyphox_folder(folder / "phyphox", s),
        "zip": write_phyphox_zip(folder / "base.zip", s),
    }
    out["hsb"].write_bytes(hsb_bytes(s, block_samples=500))
    return out


def _mk(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    return d


def mutants(folder: Path, bases: dict[str, Path], count: int, *, seed: int) -> Iterator[Case]:
    """``count`` mutants of the ``bases``, round robin over readers and mutation kinds, made one at a time."""
    rng = random.Random(seed)
    kinds = list(bases)
    for i in range(count):
        reader = kinds[i % len(kinds)]
        kind = MUTATIONS[(i // len(kinds)) % len(MUTATIONS)]
        base = bases[reader]
        d = folder / f"m{i:04d}"
        if base.is_dir():
            shutil.copytree(base, d)
            victim = d / rng.choice(("Accelerometer.csv", "Gyroscope.csv", "meta/time.csv"))
            victim.write_bytes(mutate(victim.read_bytes(), rng, kind))
            yield Case(f"{reader}-{kind}-{i}", d, "fuzz")
            continue
        d.mkdir(parents=True)
        if reader == "hapt":
            for p in base.parent.iterdir():
                shutil.copy(p, d / p.name)
            victim = d / rng.choice((base.name, base.name.replace("acc_", "gyro_")))
            victim.write_bytes(mutate(victim.read_bytes(), rng, kind))
            yield Case(f"{reader}-{kind}-{i}", d / base.name, "fuzz")
            continue
        target = d / base.name
        data = base.read_bytes()
        if reader == "zip" and kind in ("flip", "zero_run", "huge_field") and rng.random() < 0.5:
            # damage a member's data rather than anywhere in the archive (the central directory is at the end)
            target.write_bytes(mutate(data[: len(data) // 2], rng, kind) + data[len(data) // 2 :])
        else:
            target.write_bytes(mutate(data, rng, kind))
        yield Case(f"{reader}-{kind}-{i}", target, "fuzz")
