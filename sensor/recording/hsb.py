"""The compact binary recording format ``.hsb`` (hipsense binary), version 1.

Why this layout
---------------
A 24 h day at 100 Hz is 8.64 M samples. As float64 that is 484 MB, as canonical CSV about 550 MB; it has to fit
in <= 150 MB and load in a few seconds, and a live recorder that is killed must lose at most about a second.

* **Integers at the sensor's resolution.** IMUs deliver 16-bit counts. We store acc and gyro as int16 at fixed
  full scales written in the header (default +-16 g and +-2000 deg/s, the widest ranges of common MEMS IMUs:
  0.0048 m/s² and 0.00107 rad/s per count), so nothing a real sensor measured is lost and the quantisation
  error (half a count) is far below sensor noise. Values outside the range are refused by the writer with an
  error that says to choose a wider full scale; the scales are header fields, so wider files stay readable.
* **Time as integer microseconds.** Each block stores its first time as float64 and then int32 microsecond
  steps; a regular stream makes these steps almost constant, which compresses to nearly nothing.
* **Delta + byte planes + zlib.** Within a block each channel is stored as differences from the previous sample
  (int16, wrapping), split into a low-byte plane and a high-byte plane. Slow body motion makes the high bytes
  almost all 0x00/0xFF, so zlib (standard library, fast to decode) squeezes them; a day of real-looking data is
  typically 40-80 MB.
* **Independent, checksummed blocks.** Every block carries its sample count, payload size and CRC-32, so a
  reader returns every complete block of a truncated file and says where it stopped, skips a damaged block to
  the next intact one (its time becomes a gap), and the file is appendable: a live writer flushes one block per
  second of data (a kill loses at most that block), and re-opening for append drops a torn last block and
  continues after it.
* **Bounded by the header, not by the block.** A block holds at most the header's ``block_samples`` (the
  writer splits there; older files up to :data:`LEGACY_BLOCK_SAMPLES`) and its payload inflates to exactly
  what that count needs, so a damaged or hostile block claiming millions of samples is refused before any
  allocation.

Layout (little endian)::

    file   = b"HSB\\x00" | u16 version=1 | u32 header_len | header (UTF-8 JSON) | block*
    header = {"metadata": {str: str}, "acc_lsb": m/s² per count, "gyro_lsb": rad/s per count,
              "time_lsb": 1e-6, "block_samples": int}
    block  = b"BLK1" | u32 n | u32 payload_len | u32 crc32(payload) | f64 t0 | payload
    payload = zlib(int32 dt_us[n-1] | low bytes of int16 deltas[6*n] | high bytes of int16 deltas[6*n])

The int16 deltas are channel-major (ax, ay, az, gx, gy, gz), each channel's first delta from 0.
"""

from __future__ import annotations

import json
import os
import struct
import warnings
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray

from processing.errors import RecordingError, RecordingWarning
from processing.samples import STANDARD_GRAVITY, Samples
from sensor.files import open_private
from sensor.recording.base import MAX_GAP_WARNINGS, _RawBlock

MAGIC = b"HSB\x00"
VERSION = 1
BLOCK_MAGIC = b"BLK1"
_FILE_HEAD = struct.Struct("<4sHI")
_BLOCK_HEAD = struct.Struct("<4sIIId")
#: default full scales: +-16 g and +-2000 deg/s
DEFAULT_ACC_FULL_SCALE_G = 16.0
DEFAULT_GYRO_FULL_SCALE_DPS = 2000.0
DEFAULT_BLOCK_SAMPLES = 16384
_TIME_LSB = 1e-6
_MAX_BLOCK_SPAN_US = 2**31 - 1
#: the largest header read (JSON: metadata and scales), bytes
MAX_HEADER_BYTES = 1 << 20
#: the largest block_samples a header may declare
MAX_BLOCK_SAMPLES = 1 << 20
#: a block may hold up to max(block_samples, this) samples: files written before blocks were split at
#: block_samples have bigger blocks (the bundled workday.hsb: up to 59 994)
LEGACY_BLOCK_SAMPLES = 1 << 18
#: scale factors a header may declare (m/s² or rad/s per count): 0 or inf would make every value 0 or inf
_LSB_RANGE = (1e-9, 1.0)
#: block headers tried, and payload bytes checksummed, while looking for the next intact block after a
#: damaged one (bounds the work whatever the damage looks like)
MAX_RESYNC_CANDIDATES = 4096
MAX_RESYNC_BYTES = 64 << 20


@dataclass(frozen=True)
class HsbHeader:
    metadata: dict[str, str]
    acc_lsb: float  # m/s² per count
    gyro_lsb: float  # rad/s per count
    block_samples: int
    data_offset: int  # file offset of the first block


def _lsbs(acc_full_scale_g: float, gyro_full_scale_dps: float) -> tuple[float, float]:
    return (
        acc_full_scale_g * STANDARD_GRAVITY / 32767.0,
        float(np.deg2rad(gyro_full_scale_dps)) / 32767.0,
    )


def read_header(f: BinaryIO, name: str) -> HsbHeader:
    head = f.read(_FILE_HEAD.size)
    if len(head) < _FILE_HEAD.size or head[:4] != MAGIC:
        raise RecordingError(
            f"{name}: not a hipsense binary recording (bad magic)",
            hint="a .hsb file starts with b'HSB\\x00'; was it written by hipsense?",
        )
    _, version, header_len = _FILE_HEAD.unpack(head)
    if version != VERSION:
        raise RecordingError(
            f"{name}: .hsb version {version} is not supported (this hipsense reads version {VERSION})",
            hint="upgrade hipsense",
        )
    if header_len > MAX_HEADER_BYTES:
        raise RecordingError(
            f"{name}: the .hsb header claims {header_len} bytes (at most {MAX_HEADER_BYTES} are allowed)",
            hint="the file is damaged or not a hipsense recording",
        )
    raw = f.read(header_len)
    try:
        if len(raw) < header_len:
            raise ValueError("the file ends inside the header")
        h = json.loads(raw.decode("utf-8"))
        header = HsbHeader(
            metadata={str(k): str(v) for k, v in h["metadata"].items()},
            acc_lsb=float(h["acc_lsb"]),
            gyro_lsb=float(h["gyro_lsb"]),
            block_samples=int(h["block_samples"]),
            data_offset=_FILE_HEAD.size + header_len,
        )
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, RecursionError, OverflowError) as exc:
        detail = str(exc).splitlines()[0][:100] if str(exc) else type(exc).__name__
        raise RecordingError(f"{name}: the .hsb header is damaged ({detail})", hint="the file cannot be read") from None
    low, high = _LSB_RANGE
    for key, value in (("acc_lsb", header.acc_lsb), ("gyro_lsb", header.gyro_lsb)):
        if not low <= value <= high:
            raise RecordingError(
                f"{name}: the .hsb header's {key}={value!r} is outside {low:g}-{high:g}",
                hint="the header is damaged; the file cannot be read",
            )
    if not 1 <= header.block_samples <= MAX_BLOCK_SAMPLES:
        raise RecordingError(
            f"{name}: the .hsb header's block_samples={header.block_samples} is outside 1-{MAX_BLOCK_SAMPLES}",
            hint="the header is damaged; the file cannot be read",
        )
    return header


def encode_block(s: Samples, acc_lsb: float, gyro_lsb: float) -> bytes:
    """One encoded block (header + payload) for ``s``; raises ValueError on out-of-range data."""
    n = len(s)
    t0 = float(s.t[0])
    off_us = np.rint((s.t - t0) / _TIME_LSB).astype(np.int64)
    dt_us = np.diff(off_us)
    if n > 1 and (dt_us.min() <= 0 or off_us[-1] > _MAX_BLOCK_SPAN_US):
        raise ValueError("timestamps closer than 1 µs or block longer than 2147 s")
    counts = np.empty((6, n), np.float64)
    counts[:3] = (s.acc / acc_lsb).T
    counts[3:] = (s.gyro / gyro_lsb).T
    counts = np.rint(counts)
    if np.abs(counts).max() > 32767:
        raise OverflowError
    q = counts.astype(np.int16)
    deltas = np.diff(q, axis=1, prepend=np.zeros((6, 1), np.int16))  # wraps modulo 2**16, restored by cumsum
    planes = deltas.astype("<i2").view(np.uint8).reshape(6, n, 2)
    payload = zlib.compress(dt_us.astype("<i4").tobytes() + planes[:, :, 0].tobytes() + planes[:, :, 1].tobytes(), 6)
    return _BLOCK_HEAD.pack(BLOCK_MAGIC, n, len(payload), zlib.crc32(payload), t0) + payload


def decode_payload(
    payload: bytes, n: int, t0: float, acc_lsb: float, gyro_lsb: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    want = 4 * (n - 1) + 12 * n
    d = zlib.decompressobj()
    raw = d.decompress(payload, want + 1)  # never more than the sample count allows
    if len(raw) != want or not d.eof:
        raise ValueError("payload size does not match the sample count")
    dt_us = np.frombuffer(raw, "<i4", n - 1)
    t = np.empty(n)
    t[0] = 0
    np.cumsum(dt_us, out=t[1:])
    t = t0 + t * _TIME_LSB
    planes = np.frombuffer(raw, np.uint8, 12 * n, 4 * (n - 1))
    both = np.empty((6, n, 2), np.uint8)
    both[:, :, 0] = planes[: 6 * n].reshape(6, n)
    both[:, :, 1] = planes[6 * n :].reshape(6, n)
    q = np.cumsum(both.view("<i2").reshape(6, n), axis=1, dtype=np.int16)
    acc = q[:3].T.astype(np.float64) * acc_lsb
    gyro = q[3:].T.astype(np.float64) * gyro_lsb
    return t, acc, gyro


@dataclass(frozen=True)
class HsbBlock:
    index: int
    first_sample: int
    t: NDArray[np.float64]
    acc: NDArray[np.float64]
    gyro: NDArray[np.float64]
    end: int  # file offset just after the block


def max_block_samples(header: HsbHeader) -> int:
    """The most samples a block of this file may hold (see :data:`LEGACY_BLOCK_SAMPLES`)."""
    return max(header.block_samples, LEGACY_BLOCK_SAMPLES)


def _payload_bound(n: int) -> int:
    """The largest zlib payload ``n`` samples can take (raw size plus zlib's worst-case overhead)."""
    raw = 16 * n
    return raw + raw // 1000 + 64


@dataclass(frozen=True)
class Damage:
    """A damaged stretch of a .hsb file that was skipped: bytes [start, end), what was wrong with it, and
    how many samples were read before it."""

    index: int  # number of the first damaged block (1-based)
    start: int
    end: int
    problem: str
    samples_before: int


def _try_block(f: BinaryIO, at: int, header: HsbHeader) -> tuple[str | None, tuple[int, float, bytes] | None, int]:
    """Read a block at ``at``: (problem, (n, t0, payload), offset after it). Never reads more than a block
    of this file can hold."""
    f.seek(at)
    head = f.read(_BLOCK_HEAD.size)
    if not head:
        return None, None, at
    if len(head) < _BLOCK_HEAD.size:
        return "the file ends inside a block header", None, at + len(head)
    magic, n, plen, crc, t0 = _BLOCK_HEAD.unpack(head)
    if magic != BLOCK_MAGIC or n == 0 or not np.isfinite(t0):
        return "a block header is damaged", None, at + _BLOCK_HEAD.size
    if n > max_block_samples(header) or plen > _payload_bound(n):
        return (
            f"a block claims {n} samples in {plen} bytes (at most {max_block_samples(header)} samples)",
            None,
            at + _BLOCK_HEAD.size,
        )
    payload = f.read(plen)
    if len(payload) < plen:
        return "the file ends inside a block", None, at + _BLOCK_HEAD.size + len(payload)
    if zlib.crc32(payload) != crc:
        return "a block fails its checksum", None, at + _BLOCK_HEAD.size + plen
    return None, (n, t0, payload), at + _BLOCK_HEAD.size + plen


def _next_intact(f: BinaryIO, after: int, header: HsbHeader) -> int | None:
    """Offset of the next block (after ``after``) whose header and checksum are intact, or None."""
    tried = 0
    checked = 0
    window = 1 << 20
    pos = after
    while tried < MAX_RESYNC_CANDIDATES:
        f.seek(pos)
        chunk = f.read(window + len(BLOCK_MAGIC) - 1)
        if len(chunk) < len(BLOCK_MAGIC):
            return None
        i = chunk.find(BLOCK_MAGIC)
        while i >= 0 and tried < MAX_RESYNC_CANDIDATES:
            tried += 1
            if i + _BLOCK_HEAD.size <= len(chunk):
                _, n, plen, _, _ = _BLOCK_HEAD.unpack_from(chunk, i)
                if 0 < n <= max_block_samples(header) and plen <= _payload_bound(n):
                    checked += plen  # what checking this candidate's CRC will read
                    if checked > MAX_RESYNC_BYTES:
                        return None
            problem, block, _ = _try_block(f, pos + i, header)
            if problem is None and block is not None:
                return pos + i
            i = chunk.find(BLOCK_MAGIC, i + 1)
        pos += window
    return None


def iter_blocks(
    f: BinaryIO, header: HsbHeader, name: str, *, damaged: list[Damage] | None = None
) -> Iterator[HsbBlock]:
    """Decode the blocks of an open .hsb file positioned at its first block.

    Without ``damaged``: raises RecordingError at the first torn or damaged block, after yielding all complete
    ones. With it: a damaged block is skipped to the next intact one (found by its magic, header bounds and
    CRC), the damage is appended to ``damaged`` and reading goes on; the samples lost there become a gap in
    ``t``. A torn end of the file is still an error. A block never allocates more than
    :func:`max_block_samples` allow, whatever its header says.
    """
    index = 0
    first = 0
    at = f.tell()
    while True:
        problem, block, end = _try_block(f, at, header)
        if problem is None and block is None:
            return
        decoded = None
        if problem is None and block is not None:
            n, t0, payload = block
            try:
                decoded = decode_payload(payload, n, t0, header.acc_lsb, header.gyro_lsb)
            except (ValueError, zlib.error):
                problem = "a block cannot be decoded"
        if problem is not None or decoded is None:
            resume = _next_intact(f, at + 1, header) if damaged is not None else None
            if resume is None:
                raise RecordingError(
                    f"{name}: file is truncated or damaged at byte {at} (block {index + 1}: {problem}); "
                    f"the {first} samples before it were read",
                    hint="the samples before that point are intact; re-record or cut the file there",
                )
            assert damaged is not None
            damaged.append(Damage(index + 1, at, resume, str(problem), first))
            at = resume
            index += 1
            continue
        t, acc, gyro = decoded
        yield HsbBlock(index, first, t, acc, gyro, end)
        index += 1
        first += t.size
        at = end


def last_good_offset(path: Path) -> tuple[HsbHeader, int, float | None]:
    """Header, the offset just after the last intact block, and the last time (for appending)."""
    with path.open("rb") as f:
        header = read_header(f, path.name)
        f.seek(header.data_offset)
        end = header.data_offset
        last_t: float | None = None
        blocks = iter_blocks(f, header, path.name, damaged=[])
        try:
            for block in blocks:
                end = block.end
                last_t = float(block.t[-1])
        except RecordingError:
            pass
    return header, end, last_t


class HsbWriter:
    """Appends blocks to a .hsb file; each block is flushed (and fsynced) as it is written."""

    def __init__(
        self,
        path: Path,
        metadata: Mapping[str, str],
        *,
        append: bool = False,
        acc_full_scale_g: float = DEFAULT_ACC_FULL_SCALE_G,
        gyro_full_scale_dps: float = DEFAULT_GYRO_FULL_SCALE_DPS,
        block_samples: int = DEFAULT_BLOCK_SAMPLES,
    ) -> None:
        self.path = path
        self.last_t: float | None = None
        self._f: BinaryIO
        if append and path.exists() and path.stat().st_size > 0:
            header, end, self.last_t = last_good_offset(path)
            self.acc_lsb, self.gyro_lsb = header.acc_lsb, header.gyro_lsb
            self.block_samples = header.block_samples
            self._f = open_private(path, "r+b")
            self._f.truncate(end)  # drop a torn last block
            self._f.seek(end)
            return
        self.acc_lsb, self.gyro_lsb = _lsbs(acc_full_scale_g, gyro_full_scale_dps)
        self.block_samples = block_samples
        header_json = json.dumps(
            {
                "metadata": dict(metadata),
                "acc_lsb": self.acc_lsb,
                "gyro_lsb": self.gyro_lsb,
                "time_lsb": _TIME_LSB,
                "block_samples": block_samples,
                "acc_full_scale_g": acc_full_scale_g,
                "gyro_full_scale_dps": gyro_full_scale_dps,
            },
            sort_keys=True,
        ).encode()
        self._f = open_private(path, "wb")
        self._f.write(_FILE_HEAD.pack(MAGIC, VERSION, len(header_json)) + header_json)
        self._f.flush()

    def write_block(self, s: Samples, where: str) -> None:
        """Encode and write ``s`` (one block or several if it spans more than 2147 s)."""
        if len(s) == 0:
            return
        if len(s) > self.block_samples:  # readers refuse blocks larger than the header says
            for i in range(0, len(s), self.block_samples):
                self.write_block(s.slice(i, i + self.block_samples), where)
            return
        span = s.t - s.t[0]
        if span[-1] * 1e6 > _MAX_BLOCK_SPAN_US:
            cut = int(np.searchsorted(span, _MAX_BLOCK_SPAN_US * 1e-6 / 2))
            cut = max(cut, 1)
            self.write_block(s.slice(0, cut), where)
            self.write_block(s.slice(cut), where)
            return
        try:
            data = encode_block(s, self.acc_lsb, self.gyro_lsb)
        except OverflowError:
            acc_fs = 32767 * self.acc_lsb / STANDARD_GRAVITY
            gyro_fs = float(np.rad2deg(32767 * self.gyro_lsb))
            raise RecordingError(
                f"{self.path.name}: a sample near {where} is outside the .hsb full scale "
                f"(+-{acc_fs:g} g, +-{gyro_fs:g} deg/s)",
                hint="check the units of the input, or write with a wider acc_full_scale_g / gyro_full_scale_dps",
            ) from None
        except ValueError as exc:
            raise RecordingError(
                f"{self.path.name}: cannot store the samples near {where}: {exc}",
                hint="timestamps must increase by at least 1 µs",
            ) from None
        self._f.write(data)
        self._f.flush()
        self.last_t = float(s.t[-1])

    def sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        if not self._f.closed:
            self._f.flush()
            self._f.close()


class _HsbSource:
    format = "hsb"
    units_known = True
    acc_range: float | None = None
    gyro_range: float | None = None

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.bytes_total = path.stat().st_size
        self._f = path.open("rb")
        self.header = read_header(self._f, self.name)
        self._f.seek(self.header.data_offset)
        self.metadata = dict(self.header.metadata)

    @property
    def bytes_read(self) -> int:
        return self._f.tell() if not self._f.closed else self.bytes_total

    def locate(self, line: int) -> str:
        return f"{self.name} sample {line}"

    def blocks(self) -> Iterator[_RawBlock]:
        """Every intact block; a damaged one is skipped to the next intact block with a warning naming the
        time lost (a gap), and the stream ends with an error that says how much was skipped."""
        damaged: list[Damage] = []
        last_t: float | None = None
        pending: Damage | None = None
        lost: list[str] = []
        for b in iter_blocks(self._f, self.header, self.name, damaged=damaged):
            if len(damaged) > len(lost):
                pending = damaged[-1]
                before = "the start" if last_t is None else f"t = {last_t:.3f} s"
                lost.append(f"{before} to t = {b.t[0]:.3f} s")
                if len(lost) <= MAX_GAP_WARNINGS:
                    warnings.warn(
                        f"{self.name}: bytes {pending.start}-{pending.end} are damaged (block {pending.index}: "
                        f"{pending.problem}); skipped to the next intact block, samples from {lost[-1]} are lost "
                        "(kept as a gap)",
                        RecordingWarning,
                        stacklevel=2,
                    )
            lines = b.first_sample + 1 + np.arange(b.t.size, dtype=np.int64)
            last_t = float(b.t[-1])
            yield _RawBlock(b.t, b.acc, b.gyro, lines)
        if lost:
            raise RecordingError(
                f"{self.name}: {len(lost)} damaged stretch(es) skipped (samples from {lost[0]}"
                + (f" and {len(lost) - 1} more" if len(lost) > 1 else "")
                + " lost); every intact block was read",
                hint="the lost time is kept as a gap; use another copy of the file if there is one",
            )

    def close(self) -> None:
        self._f.close()
