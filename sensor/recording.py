"""Recordings: read and write IMU recordings in bounded chunks.

Formats (chosen by suffix or content):

``csv``
    The canonical CSV (docs/contracts.md): ``.csv`` / ``.csv.gz``, optional ``# key=value`` metadata lines, header
    ``t,ax,ay,az,gx,gy,gz`` (extra columns ignored), t in s, acc in m/s², gyro in rad/s. Written with t to
    1 µs (6 decimals), acc to 1e-5 m/s² (5 decimals) and gyro to 1e-6 rad/s (6 decimals), trailing zeros
    dropped; that is 100-1000x finer than an IMU's least significant bit, and reading back gives exactly the
    printed decimals (correctly rounded). ``.csv.gz`` is written as one gzip member per flush, so a killed
    recorder leaves a readable file.
``hapt``
    The raw HAPT pair ``acc_expXX_userYY.txt[.gz]`` (g) + ``gyro_expXX_userYY.txt[.gz]`` (rad/s), 50 Hz, no
    timestamps (t = i / 50). Either file may be given.
``phyphox``
    A phyphox CSV export (folder, ``.zip`` or one of its CSV files) with an accelerometer table (acceleration
    *with* g, m/s²) and a gyroscope table (rad/s), each with its own time base. Gyro is put onto the
    accelerometer's timestamps by linear interpolation between neighbouring samples only, never across a gap.
``hsb``
    The compact binary format, see :mod:`sensor.formats.hsb`.

Whatever the format, the samples pass the same checks, in fixed internal blocks so that the result (arrays and
warnings) does not depend on ``chunk_size``: non-finite rows and duplicate timestamps are dropped with a
warning, timestamps going backwards stop the stream with an error (after everything before was yielded), gaps
longer than three sample periods are reported (never interpolated), saturation at a known range is reported,
and units are checked on the first 60 s (acc in g, gyro in deg/s are detected and converted with a warning).

>>> import tempfile, numpy as np
>>> from processing.samples import Samples
>>> path = Path(tempfile.mkdtemp()) / "rec.csv"
>>> t = np.arange(3) / 100
>>> s = Samples(t, np.tile([0.0, 0.0, 9.81], (3, 1)), np.zeros((3, 3)))
>>> write_recording(path, [s], metadata={"device": "demo"})
3
>>> with open_recording(path) as rec:
...     print(rec.info.format, rec.info.metadata["device"], rec.info.rate_hz, len(Samples.concat(list(rec))))
csv demo 100.0 3
"""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import queue
import re
import stat
import threading
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import IO, Generic, Literal, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from processing.errors import RecordingError, RecordingWarning
from processing.samples import STANDARD_GRAVITY, Samples
from sensor.formats import hsb
from sensor.formats.fastcsv import format_block, parse_block
from sensor.formats.files import open_private

__all__ = [
    "CANONICAL_HEADER",
    "EmptyRecordingError",
    "Recording",
    "RecordingInfo",
    "RecordingWriter",
    "open_recording",
    "write_recording",
]

FloatArray = NDArray[np.float64]
_T = TypeVar("_T")
IntArray = NDArray[np.int64]
AccelUnit = Literal["auto", "m/s2", "g"]
GyroUnit = Literal["auto", "rad/s", "deg/s"]

CANONICAL_COLUMNS = ("t", "ax", "ay", "az", "gx", "gy", "gz")
CANONICAL_HEADER = ",".join(CANONICAL_COLUMNS)
#: decimals written per canonical column: t to 1 µs, acc to 1e-5 m/s², gyro to 1e-6 rad/s
CSV_DECIMALS = (6, 5, 5, 5, 6, 6, 6)
#: decompressed bytes parsed per internal block (fixed: results never depend on chunk_size)
TEXT_BLOCK_BYTES = 1 << 20
#: canonical CSV: blocks read and parsed on a worker thread ahead of the checks (0: no thread)
READ_AHEAD_BLOCKS = 2
#: a step in t longer than this many nominal sample periods is a gap
GAP_PERIODS = 3.0
#: gzip level for .csv.gz (3: about 3x faster than the default 6, files a few % larger)
GZIP_LEVEL = 3
#: gap warnings issued one by one before a single summary
MAX_GAP_WARNINGS = 3
#: saturation: this many consecutive samples at the range limit
SATURATION_RUN = 3
#: units are decided on this first stretch of the recording
UNIT_PREFIX_S = 60.0
_UNIT_PREFIX_MAX_SAMPLES = 200_000
#: the longest line read (a canonical row is under 100 bytes); a longer one is an error, read no further
MAX_LINE_BYTES = 1 << 20
#: metadata lines allowed before the header
MAX_METADATA_LINES = 1000
#: largest piece of decompressed text handed out at once, however well the input compresses
_MAX_PIECE_BYTES = 1 << 22
#: a single gap longer than this stops the stream with an error (24 h: a sensor off overnight is fine)
MAX_GAP_S = 86400.0
#: time in gaps may exceed the time covered by samples this many times (plus MAX_GAP_S); beyond, it stops.
#: The epochs made downstream are then at most (1 + this) x the samples' own, plus a day: bounded by the input.
MAX_GAP_RATIO = 3.0
#: |t| beyond this (s, about 317 years) is not a time on any recording's clock: such rows are dropped
MAX_ABS_T_S = 1e10
#: |acc| (m/s²) or |gyro| (rad/s) beyond this is no measurement (a damaged row): such rows are dropped
MAX_ABS_VALUE = 1e6
#: the sample rates hipsense processes, Hz
RATE_RANGE_HZ = (1.0, 2000.0)
#: the years a metadata ``start`` may lie in
START_YEARS = (1970, 2199)
_RAD_PER_DEG = math.pi / 180.0


@dataclass(frozen=True)
class RecordingInfo:
    """What is known about a recording before reading its samples.

    rate_hz: nominal sample rate (metadata ``rate_hz``, the ``rate_hz`` argument, or estimated from the first
    timestamps). start: absolute time of t = 0 from metadata ``start`` (ISO 8601 with offset), else None.
    """

    path: Path
    format: str
    metadata: dict[str, str]
    rate_hz: float
    start: datetime | None


# --------------------------------------------------------------------------------------------------------------
# raw sources: one per format, yielding fixed blocks of rows with their line numbers


@dataclass
class _RawBlock:
    t: FloatArray
    acc: FloatArray
    gyro: FloatArray
    lines: IntArray  # (n,) line (or sample) number of each row, for messages


class _Source(Protocol):
    format: str
    metadata: dict[str, str]
    units_known: bool  # False: canonical CSV, units checked from the data
    acc_range: float | None  # m/s², for saturation
    gyro_range: float | None  # rad/s
    bytes_total: int

    @property
    def bytes_read(self) -> int: ...

    def blocks(self) -> Iterator[_RawBlock]: ...

    def locate(self, line: int) -> str: ...

    def close(self) -> None: ...


class _LineTooLong(Exception):
    """A line longer than :data:`MAX_LINE_BYTES` (turned into a RecordingError naming the file and line)."""


class _ByteReader:
    """Decompressed bytes of a plain or gzip file in pieces, counting compressed bytes consumed.

    Multi-member gzip files (as written by :class:`RecordingWriter`) are read through; a stream that ends
    early or is corrupt inside a member sets ``truncated``; bytes after the last complete member that are not
    gzip (a broken download's padding) set ``trailing_garbage`` and are ignored. Each piece handed out is at
    most :data:`_MAX_PIECE_BYTES` however well the input compresses, so memory never depends on it.
    """

    def __init__(self, stream: IO[bytes], *, gz: bool) -> None:
        self._f = stream
        self._gz = gz
        self._d = zlib.decompressobj(wbits=47) if gz else None
        self._feed = b""  # compressed bytes not yet given to the decompressor
        self._members = 0  # complete gzip members read
        self._member_out = 0  # bytes the current member has produced
        self._done = False
        self.consumed = 0
        self.truncated = False
        self.trailing_garbage = 0  # bytes ignored after the last complete gzip member

    def read(self, size: int = 1 << 18) -> bytes:
        """Next piece of data, about ``size`` bytes (at least 64 KiB of the file); b"" at the end."""
        limit = min(max(size, 1 << 16), _MAX_PIECE_BYTES)  # decompressed bytes handed out at most
        size = max(size // 3 if self._gz else size, 1 << 16)  # CSV text compresses about 3:1
        if self._d is None:
            raw = self._f.read(size)
            self.consumed += len(raw)
            return raw
        while not self._done:
            if not self._feed:
                raw = self._f.read(size)
                self.consumed += len(raw)
                if not raw:
                    if not self._d.eof and self.consumed > 0:
                        self.truncated = True
                    self._done = True
                    return b""
                self._feed = raw
            if self._d.eof:  # the previous member is complete: the next one starts here
                self._d = zlib.decompressobj(wbits=47)
                self._member_out = 0
            try:
                data = self._d.decompress(self._feed, limit)
            except zlib.error:
                if self._member_out == 0 and self._members > 0:
                    self.trailing_garbage = len(self._feed) + self._rest_of_file()
                else:
                    self.truncated = True
                self._done = True
                return b""
            if self._d.unconsumed_tail:
                self._feed = self._d.unconsumed_tail
            elif self._d.eof:
                self._members += 1
                self._feed = self._d.unused_data
            else:
                self._feed = b""
            self._member_out += len(data)
            if data:
                return data
        return b""

    def _rest_of_file(self) -> int:
        """Bytes left in the file (counted as consumed: they are skipped, not read)."""
        rest = 0
        while piece := self._f.read(1 << 20):
            rest += len(piece)
        self.consumed += rest
        return rest

    def close(self) -> None:
        self._f.close()


def _is_gz(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def _open_bytes(path: Path) -> _ByteReader:
    return _ByteReader(path.open("rb"), gz=_is_gz(path))


class _Lines:
    """Line-aligned blocks of text from a :class:`_ByteReader` (``\\r`` removed).

    A line longer than :data:`MAX_LINE_BYTES` raises :class:`_LineTooLong` once that much has been read:
    time and memory stay bounded whatever the input (a file of one endless line, ``/dev/zero``).
    """

    def __init__(self, reader: _ByteReader) -> None:
        self.reader = reader
        self._buf = b""
        self.eof = False
        self.partial_last_line = False

    def readline(self) -> bytes | None:
        if b"\n" not in self._buf and not self.eof:
            pieces = [self._buf]
            have = len(self._buf)
            while not self.eof:
                piece = self._read(1 << 16)
                pieces.append(piece)
                have += len(piece)
                if b"\n" in piece:
                    break
                if have > MAX_LINE_BYTES:
                    raise _LineTooLong
            self._buf = b"".join(pieces)
        if not self._buf:
            return None
        i = self._buf.find(b"\n")
        if i < 0:
            line, self._buf = self._buf, b""
        else:
            line, self._buf = self._buf[: i + 1], self._buf[i + 1 :]
        if len(line) > MAX_LINE_BYTES:
            raise _LineTooLong
        return line

    def _read(self, size: int) -> bytes:
        piece = self.reader.read(size)
        if not piece:
            self.eof = True
        return piece.replace(b"\r", b"") if b"\r" in piece else piece

    def blocks(self, size: int) -> Iterator[bytes]:
        """Blocks of complete lines, each cut at the first line end after ``size`` bytes (fixed by content)."""
        want = size
        while True:
            pieces = [self._buf]
            have = len(self._buf)
            while have < want and not self.eof:
                piece = self._read(want - have)
                pieces.append(piece)
                have += len(piece)
            buf = b"".join(pieces) if len(pieces) > 1 else pieces[0]
            if not buf:
                self._buf = b""
                return
            cut = buf.find(b"\n", size - 1) if have >= size else -1
            if cut < 0:
                if not self.eof:
                    if len(buf) > size + MAX_LINE_BYTES:
                        raise _LineTooLong
                    self._buf = buf
                    want = len(buf) + (1 << 16)  # a long line: read on, a little at a time
                    continue
                block, self._buf = buf, b""
                if not block.endswith(b"\n"):
                    self.partial_last_line = True
                    block += b"\n"
            else:
                block, self._buf = buf[: cut + 1], buf[cut + 1 :]
            want = size
            yield block

    def at_end(self) -> bool:
        """True once every byte has been handed out."""
        return self.eof and not self._buf


def _line_too_long(name: str, line: int | str) -> RecordingError:
    return RecordingError(
        f"{name} line {line}: longer than {MAX_LINE_BYTES >> 20} MiB (or no line ends at all); stopped reading there",
        hint="is this really a recording? rows of a canonical CSV are short lines of numbers",
    )


class _BadLine(Exception):
    def __init__(self, index: int, detail: str) -> None:
        self.index = index
        self.detail = detail


def _parse_lines_slow(block: bytes, ncols: int, use: int) -> tuple[FloatArray, IntArray, _BadLine | None]:
    """Exact line-by-line parse of a block: rows (first ``use`` columns), their 0-based line offsets, and the
    first bad line (fewer than ``use`` fields, or one of them not a number)."""
    rows: list[list[float]] = []
    offsets: list[int] = []
    bad = None
    for i, line in enumerate(block.split(b"\n")[:-1]):
        text = line.strip()
        if not text:
            continue
        fields = text.split(b",")
        try:
            if len(fields) < use:
                raise ValueError
            rows.append([float(v) for v in fields[:use]])
        except ValueError:
            shown = text.decode("utf-8", "replace")
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            bad = _BadLine(i, f"expected {use} numbers, got {shown!r}")
            break
        offsets.append(i)
    arr = np.array(rows, dtype=np.float64).reshape(-1, use)
    return arr, np.array(offsets, dtype=np.int64), bad


def _parse_text_block(block: bytes, ncols: int, use: int) -> tuple[FloatArray, IntArray, _BadLine | None]:
    """Rows of ``ncols`` comma-separated numbers (first ``use`` kept): fast path, else the exact slow path."""
    fast = parse_block(block, ncols)
    if fast is not None:
        return fast[:, :use], np.arange(fast.shape[0], dtype=np.int64), None
    return _parse_lines_slow(block, ncols, use)


class _ReadAhead(Generic[_T]):
    """Run an iterator on a worker thread, at most ``depth`` items ahead of the consumer.

    The worker's exceptions are raised in the consumer at the point where they happened. :meth:`close` stops
    the worker (it is called by the consumer, also when it stops early) and waits for it.
    """

    def __init__(self, items: Iterator[_T], depth: int) -> None:
        self._queue: queue.Queue[tuple[bool, _T | BaseException | None]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(items,), name="hipsense-read-ahead", daemon=True)
        self._thread.start()

    def _run(self, items: Iterator[_T]) -> None:
        try:
            for item in items:
                if not self._put((True, item)):
                    return
            self._put((False, None))
        except BaseException as exc:  # handed to the consumer, raised there
            self._put((False, exc))

    def _put(self, message: tuple[bool, _T | BaseException | None]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[_T]:
        return self

    def __next__(self) -> _T:
        if self._done:
            raise StopIteration
        is_item, value = self._queue.get()
        if is_item:
            return value  # type: ignore[return-value]
        self._done = True
        self._thread.join()
        if isinstance(value, BaseException):
            raise value
        raise StopIteration

    def close(self) -> None:
        self._stop.set()
        self._done = True
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)  # unblock a waiting put
        self._thread.join()


def _parse_metadata_line(line: str) -> tuple[str, str] | None:
    body = line.lstrip("#").strip()
    if "=" not in body:
        return None
    key, value = body.split("=", 1)
    return key.strip(), value.strip()


class _CsvSource:
    format = "csv"
    units_known = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name
        self.bytes_total = path.stat().st_size
        self._reader = _open_bytes(path)
        self._lines = _Lines(self._reader)
        self._ahead: _ReadAhead[tuple[_RawBlock | None, RecordingError | None]] | None = None
        self.metadata: dict[str, str] = {}
        lineno = 0
        header: bytes | None = None
        try:
            while True:
                try:
                    raw = self._lines.readline()
                except _LineTooLong:
                    raise _line_too_long(self.name, lineno + 1) from None
                if raw is None:
                    break
                lineno += 1
                if lineno > MAX_METADATA_LINES:
                    raise RecordingError(
                        f"{self.name}: no header line within the first {MAX_METADATA_LINES} lines",
                        hint=f"a canonical recording has '# key=value' lines, then the header '{CANONICAL_HEADER}'",
                    )
                text = raw.strip()
                if not text:
                    continue
                if text.startswith(b"#"):
                    kv = _parse_metadata_line(text.decode("utf-8", "replace"))
                    if kv is not None:
                        self.metadata[kv[0]] = kv[1]
                    continue
                header = text
                break
        except BaseException:
            self._reader.close()
            raise
        if header is None:
            self._reader.close()
            if self._reader.truncated:
                raise RecordingError(
                    f"{self.name}: file is truncated before its header", hint="the file holds no samples"
                )
            what = "is empty" if lineno == 0 else "has no header line (only metadata)"
            raise RecordingError(
                f"{self.name}: file {what}",
                hint=f"a canonical recording has '# key=value' lines, then the header '{CANONICAL_HEADER}'",
            )
        names = [c.strip().strip('"').strip() for c in header.decode("utf-8", "replace").split(",")]
        if tuple(names[:7]) != CANONICAL_COLUMNS:
            self._reader.close()
            shown = header.decode("utf-8", "replace")[:60]
            raise RecordingError(
                f"{self.name} line {lineno}: header missing: expected '{CANONICAL_HEADER}', got '{shown}'",
                hint="add the canonical header line (extra columns may follow); for phone exports pass the "
                "phyphox folder or zip",
            )
        self.ncols = len(names)
        self.header_line = lineno
        self.acc_range = _range_from_metadata(self.metadata, "acc_range_g", STANDARD_GRAVITY, self.name)
        self.gyro_range = _range_from_metadata(self.metadata, "gyro_range_dps", _RAD_PER_DEG, self.name)

    @property
    def bytes_read(self) -> int:
        return self._reader.consumed

    def locate(self, line: int) -> str:
        return f"{self.name} line {line}"

    def blocks(self) -> Iterator[_RawBlock]:
        parsed: Iterator[tuple[_RawBlock | None, RecordingError | None]] = self._parsed()
        if READ_AHEAD_BLOCKS > 0:
            self._stop_read_ahead()
            parsed = self._ahead = _ReadAhead(parsed, READ_AHEAD_BLOCKS)
        try:
            for raw, error in parsed:
                if raw is not None:
                    yield raw
                if error is not None:
                    raise error
            if self._reader.trailing_garbage:
                _warn_trailing_garbage(self.name, self._reader.trailing_garbage)
        finally:
            self._stop_read_ahead()

    def _parsed(self) -> Iterator[tuple[_RawBlock | None, RecordingError | None]]:
        """Parsed blocks (on the read-ahead thread), each with the error that ends the stream there, if any."""
        next_line = self.header_line + 1
        rows_read = 0
        blocks = self._lines.blocks(TEXT_BLOCK_BYTES)
        while True:
            try:
                block = next(blocks, None)
            except _LineTooLong:
                yield None, _line_too_long(self.name, f"{next_line} or later")
                return
            if block is None:
                break
            fast = parse_block(block, self.ncols)
            if fast is not None:  # every line a row
                values, offsets, bad, n_lines = fast, np.arange(fast.shape[0], dtype=np.int64), None, fast.shape[0]
            else:
                values, offsets, bad = _parse_lines_slow(block, self.ncols, 7)
                n_lines = block.count(b"\n")
            raw = None
            if values.shape[0]:
                rows_read += values.shape[0]
                raw = _RawBlock(values[:, 0].copy(), values[:, 1:4].copy(), values[:, 4:7].copy(), next_line + offsets)
            if bad is not None:
                where = next_line + bad.index
                if self._lines.at_end() and self._lines.partial_last_line and block.count(b"\n") == bad.index + 1:
                    yield raw, self._truncated(where, rows_read)
                else:
                    yield (
                        raw,
                        RecordingError(
                            f"{self.name} line {where}: {bad.detail}",
                            hint=f"fix or delete that line; rows must be '{CANONICAL_HEADER}' numbers",
                        ),
                    )
                return
            yield raw, None
            next_line += n_lines
        if self._reader.truncated:
            yield None, self._truncated(next_line, rows_read)

    def _stop_read_ahead(self) -> None:
        if self._ahead is not None:
            self._ahead.close()
            self._ahead = None

    def _truncated(self, line: int, rows: int) -> RecordingError:
        cause = "the compressed stream ends early" if _is_gz(self.path) else "the last line is incomplete"
        return RecordingError(
            f"{self.name}: file is truncated at line {line} ({cause}); the {rows} rows before it were read",
            hint="the rows before the break are intact; re-export the file or cut it there",
        )

    def close(self) -> None:
        self._stop_read_ahead()
        self._reader.close()


def _warn_trailing_garbage(name: str, n_bytes: int) -> None:
    warnings.warn(
        f"{name}: {n_bytes} bytes after the last gzip member are not gzip data; ignored (every row before "
        "them was read)",
        RecordingWarning,
        stacklevel=3,
    )


def _range_from_metadata(meta: Mapping[str, str], key: str, scale: float, name: str) -> float | None:
    if key not in meta:
        return None
    try:
        value = float(meta[key])
    except ValueError:
        value = math.nan
    if not 0 < value < 1e6:
        raise RecordingError(
            f"{name}: metadata {key}={meta[key]!r} is not a positive number", hint=f"write e.g. '# {key}=16'"
        )
    return value * scale


# --- HAPT ---------------------------------------------------------------------------------------------------

_HAPT_RE = re.compile(r"^(acc|gyro)_(exp\d+)_(user\d+)\.txt(\.gz)?$", re.IGNORECASE)
HAPT_RATE_HZ = 50.0
HAPT_ACC_RANGE_G = 2.0


def _hapt_partner(path: Path) -> tuple[Path, Path] | None:
    m = _HAPT_RE.match(path.name)
    if not m:
        return None
    other = "gyro" if m.group(1).lower() == "acc" else "acc"
    candidates = [
        path.with_name(f"{other}_{m.group(2)}_{m.group(3)}.txt{ext}") for ext in (m.group(4) or "", ".gz", "")
    ]
    partner = next((c for c in candidates if c.exists()), None)
    if partner is not None:
        _check_regular(partner)
    if partner is None:
        raise RecordingError(
            f"{path.name}: HAPT partner file {candidates[0].name} not found next to it",
            hint="HAPT recordings are an acc_* and a gyro_* file side by side",
        )
    return (path, partner) if other == "gyro" else (partner, path)


class _PairedText:
    """Rows of a numeric text file in fixed blocks, re-sliced on demand (for pairing two files)."""

    def __init__(self, path: Path, ncols: int, sep: bytes) -> None:
        self.path = path
        self.reader = _open_bytes(path)
        self.lines = _Lines(self.reader)
        self._it = self.lines.blocks(TEXT_BLOCK_BYTES)
        self.ncols = ncols
        self.sep = sep
        self.values = np.empty((0, ncols))
        self.linenos = np.empty(0, np.int64)
        self.next_line = 1
        self.done = False
        self.rows_read = 0

    def fill(self) -> None:
        """Parse one more block into the buffer (raise RecordingError on a bad line, after buffering rows)."""
        try:
            block = next(self._it, None)
        except _LineTooLong:
            self.done = True
            raise _line_too_long(self.path.name, f"{self.next_line} or later") from None
        if block is None:
            self.done = True
            if self.reader.truncated:
                raise RecordingError(
                    f"{self.path.name}: file is truncated at line {self.next_line} (the compressed stream ends "
                    f"early); the {self.rows_read} rows before it were read",
                    hint="the rows before the break are intact",
                )
            return
        data = block.replace(self.sep, b",") if self.sep != b"," else block
        if self.sep == b" ":
            data = re.sub(rb",+", b",", re.sub(rb"^,|,$", b"", data, flags=re.M))
        values, offsets, bad = _parse_text_block(data, self.ncols, self.ncols)
        self.values = np.concatenate([self.values, values])
        self.linenos = np.concatenate([self.linenos, self.next_line + offsets])
        self.rows_read += values.shape[0]
        if bad is not None:
            self.done = True
            self.error = RecordingError(
                f"{self.path.name} line {self.next_line + bad.index}: {bad.detail}",
                hint="fix or delete that line",
            )
            raise self.error
        self.next_line += block.count(b"\n")

    def take(self, n: int) -> tuple[FloatArray, IntArray]:
        v, ln = self.values[:n], self.linenos[:n]
        self.values, self.linenos = self.values[n:], self.linenos[n:]
        return v, ln


class _HaptSource:
    format = "hapt"
    units_known = True

    def __init__(self, acc_path: Path, gyro_path: Path) -> None:
        m = _HAPT_RE.match(acc_path.name)
        assert m is not None
        self.name = acc_path.name
        self.acc_path, self.gyro_path = acc_path, gyro_path
        self.metadata = {
            "device": "hapt",
            "wearer": m.group(3).lower(),
            "experiment": m.group(2).lower(),
            "rate_hz": f"{HAPT_RATE_HZ:g}",
            "acc_range_g": f"{HAPT_ACC_RANGE_G:g}",
        }
        self.acc_range: float | None = HAPT_ACC_RANGE_G * STANDARD_GRAVITY
        self.gyro_range: float | None = None
        self.bytes_total = acc_path.stat().st_size + gyro_path.stat().st_size
        self._acc = _PairedText(acc_path, 3, b" ")
        self._gyro = _PairedText(gyro_path, 3, b" ")

    @property
    def bytes_read(self) -> int:
        return self._acc.reader.consumed + self._gyro.reader.consumed

    def locate(self, line: int) -> str:
        return f"{self.name} line {line}"

    def blocks(self) -> Iterator[_RawBlock]:
        index = 0
        while True:
            pending: RecordingError | None = None
            try:
                if not self._acc.done:
                    self._acc.fill()
                if not self._gyro.done:
                    self._gyro.fill()
            except RecordingError as exc:
                pending = exc
            n = min(self._acc.values.shape[0], self._gyro.values.shape[0])
            if n:
                acc, lines = self._acc.take(n)
                gyro, _ = self._gyro.take(n)
                t = (index + np.arange(n)) / HAPT_RATE_HZ
                index += n
                yield _RawBlock(t, acc * STANDARD_GRAVITY, gyro, lines)
            if pending is not None:
                raise pending
            # One file ended and the other still has rows: stop now (buffering the rest would grow without bound).
            left_over = (self._acc.done and (self._gyro.values.shape[0] or not self._gyro.done)) or (
                self._gyro.done and (self._acc.values.shape[0] or not self._acc.done)
            )
            if left_over and not (self._acc.done and self._gyro.done):
                (self._gyro if self._acc.done else self._acc).fill()
                self._acc.done = self._gyro.done = True
            if self._acc.done and self._gyro.done:
                left_acc, left_gyro = self._acc.values.shape[0], self._gyro.values.shape[0]
                if left_acc or left_gyro:
                    longer = self.acc_path.name if left_acc else self.gyro_path.name
                    raise RecordingError(
                        f"{longer}: at least {max(left_acc, left_gyro)} more rows than its HAPT partner; the first "
                        f"{index} rows were read",
                        hint="the acc_* and gyro_* files of one experiment must have the same number of rows",
                    )
                return

    def close(self) -> None:
        self._acc.reader.close()
        self._gyro.reader.close()


# --- phyphox ------------------------------------------------------------------------------------------------


@dataclass
class _PhyphoxTable:
    name: str
    open: Callable[[], IO[bytes]]
    size: int
    kind: str  # "acc" | "gyro"
    sep: bytes
    decimal_comma: bool
    ncols: int


def _phyphox_kind(header: str, name: str) -> str | None:
    h = header.lower()
    if "linear" in h or "linear" in name.lower():
        return "linear"
    if "(m/s^2)" in h or "(m/s²)" in h:
        return "acc"
    if "(rad/s)" in h:
        return "gyro"
    return None


#: phyphox: entries of a zip (or files of a folder) looked at, and the size of meta/time.csv read
_PHYPHOX_MAX_ENTRIES = 1000
_PHYPHOX_TIME_CSV_BYTES = 1 << 16
#: gyroscope rows buffered ahead of the accelerometer at most (their times may be far apart in a bad file)
_PHYPHOX_MAX_GYRO_ROWS = 1 << 20
#: what a broken zip member raises while it is read (bad CRC, corrupt deflate, encryption, unknown method)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError, EOFError, OSError, ValueError)


class _ZipMember(io.RawIOBase):
    """A zip member's bytes; any error of the member (bad CRC, corrupt data, ...) as one RecordingError."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, archive: str) -> None:
        super().__init__()
        self._where = f"{archive}: member {info.filename!r}"
        if info.flag_bits & 0x1:
            raise RecordingError(f"{self._where} is encrypted", hint="export from phyphox again without a password")
        try:
            self._f: IO[bytes] = zf.open(info)
        except _ZIP_ERRORS as exc:
            raise self._error(exc) from None

    def _error(self, exc: BaseException) -> RecordingError:
        detail = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        return RecordingError(
            f"{self._where} cannot be read ({detail})", hint="the zip is damaged; export it from phyphox again"
        )

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._f.read(-1 if size is None else size)
        except _ZIP_ERRORS as exc:
            raise self._error(exc) from None

    def readline(self, size: int | None = -1) -> bytes:
        try:
            return self._f.readline(-1 if size is None else size)
        except _ZIP_ERRORS as exc:
            raise self._error(exc) from None

    def close(self) -> None:
        with contextlib.suppress(*_ZIP_ERRORS):
            self._f.close()
        super().close()


def _phyphox_table(name: str, opener: Callable[[], IO[bytes]], size: int) -> _PhyphoxTable | None:
    with opener() as f:
        header = f.readline(MAX_LINE_BYTES).decode("utf-8", "replace").strip()
    if not header.startswith('"') and "time" not in header.lower():
        return None
    kind = _phyphox_kind(header, name)
    if kind is None:
        return None
    if "\t" in header:
        sep, comma = b"\t", False
    elif ";" in header:
        sep, comma = b";", True
    else:
        sep, comma = b",", False
    ncols = header.count(sep.decode()) + 1
    if ncols < 4 and kind != "linear":  # time and three axes at least (linear ones are only named)
        return None
    return _PhyphoxTable(name, opener, size, kind, sep, comma, ncols)


def _regular_file(p: Path) -> bool:
    """True for a regular file that is not a symlink (inside an export nothing else is read)."""
    try:
        return stat.S_ISREG(p.lstat().st_mode)
    except OSError:
        return False


def _phyphox_tables(path: Path) -> tuple[list[_PhyphoxTable], str | None]:
    """The tables of a phyphox export and the text of meta/time.csv (if any).

    Only what the user named is read: a ``.zip`` must be a zip (never a reason to look at the folder around
    it); a folder's own CSV files and its ``meta/time.csv``; a CSV named directly and the tables beside it in
    its folder (its partner), never other folders' files. Symlinks and anything but regular files are skipped.
    """
    tables: list[_PhyphoxTable] = []
    time_csv: str | None = None
    if path.is_file() and path.name.lower().endswith(".zip"):
        try:
            zf = zipfile.ZipFile(path)
            infos = zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise RecordingError(
                f"{path.name}: not a readable zip archive ({exc})",
                hint="a broken download? export the phyphox experiment again (CSV, zip)",
            ) from None
        for info in infos[:_PHYPHOX_MAX_ENTRIES]:
            lower = info.filename.lower()
            if info.is_dir() or not lower.endswith(".csv"):
                continue
            if lower.endswith("meta/time.csv"):
                with _ZipMember(zf, info, path.name) as member:
                    time_csv = member.read(_PHYPHOX_TIME_CSV_BYTES).decode("utf-8", "replace")
                continue
            if "meta/" in lower:
                continue
            table = _phyphox_table(
                info.filename,
                lambda i=info: _ZipMember(zf, i, path.name),  # type: ignore[arg-type,misc]
                info.file_size,
            )
            if table is not None:
                tables.append(table)
        return tables, time_csv
    folder = path if path.is_dir() else path.parent
    try:
        entries = sorted(itertools.islice(folder.iterdir(), _PHYPHOX_MAX_ENTRIES))
    except OSError as exc:
        raise RecordingError(f"{folder.name}: cannot list the folder ({exc.strerror})", hint="check the path") from None
    meta_time = folder / "meta" / "time.csv"
    if _regular_file(meta_time) and not (folder / "meta").is_symlink():
        with meta_time.open("rb") as f:
            time_csv = f.read(_PHYPHOX_TIME_CSV_BYTES).decode("utf-8", "replace")
    for p in entries:
        if not p.name.lower().endswith(".csv") or not _regular_file(p):
            continue
        table = _phyphox_table(p.name, lambda p=p: p.open("rb"), p.stat().st_size)  # type: ignore[misc]
        if table is not None:
            tables.append(table)
    if path.is_file():  # a csv given directly goes first among its kind
        tables.sort(key=lambda tb: tb.name != path.name)
    return tables, time_csv


def _phyphox_start(time_csv: str | None) -> str | None:
    if not time_csv:
        return None
    for line in time_csv.splitlines()[1:]:
        cells = [c.strip().strip('"') for c in re.split(r"[,;\t]", line)]
        if len(cells) >= 4 and cells[0] == "START":
            try:
                exp_time = float(cells[1].replace(",", "."))
                system_time = float(cells[2].replace(",", "."))
                m = re.search(r"UTC([+-])(\d\d):?(\d\d)", cells[3])
                tz = UTC
                if m:
                    minutes = int(m.group(2)) * 60 + int(m.group(3))
                    tz = timezone(timedelta(minutes=minutes if m.group(1) == "+" else -minutes))
                return datetime.fromtimestamp(system_time - exp_time, tz).isoformat()
            except (ValueError, OverflowError, OSError):
                return None  # a damaged time.csv: the start is then unknown (and the summary says it is assumed)
    return None


class _PhyphoxReader:
    """Rows (t, x, y, z) of one phyphox table in fixed blocks."""

    def __init__(self, table: _PhyphoxTable) -> None:
        self.table = table
        self.stream = table.open()
        self.reader = _ByteReader(self.stream, gz=False)
        self.lines = _Lines(self.reader)
        try:
            self.lines.readline()
        except _LineTooLong:
            self.stream.close()
            raise _line_too_long(table.name, 1) from None
        self._it = self.lines.blocks(TEXT_BLOCK_BYTES)
        self.next_line = 2
        self.done = False

    def next_block(self) -> tuple[FloatArray, IntArray] | None:
        try:
            block = next(self._it, None)
        except _LineTooLong:
            self.done = True
            raise _line_too_long(self.table.name, f"{self.next_line} or later") from None
        if block is None:
            self.done = True
            return None
        data = block
        if self.table.decimal_comma:
            data = data.replace(b",", b".")
        if self.table.sep != b",":
            data = data.replace(self.table.sep, b",")
        values, offsets, bad = _parse_text_block(data, self.table.ncols, 4)
        lines = self.next_line + offsets
        if bad is not None:
            raise RecordingError(
                f"{self.table.name} line {self.next_line + bad.index}: {bad.detail}",
                hint="is this an unmodified phyphox CSV export?",
            )
        self.next_line += block.count(b"\n")
        return values[:, :4], lines


class _PhyphoxSource:
    format = "phyphox"
    units_known = True
    acc_range: float | None = None
    gyro_range: float | None = None

    def __init__(self, path: Path) -> None:
        self.path = path
        tables, time_csv = _phyphox_tables(path)
        acc = next((tb for tb in tables if tb.kind == "acc"), None)
        gyro = next((tb for tb in tables if tb.kind == "gyro"), None)
        if acc is None or gyro is None:
            linear = any(tb.kind == "linear" for tb in tables)
            missing = "an accelerometer table (m/s^2)" if acc is None else "a gyroscope table (rad/s)"
            raise RecordingError(
                f"{path.name}: phyphox export without {missing}",
                hint="export 'Acceleration with g' and 'Gyroscope' as CSV into one folder or zip"
                + ("; 'Linear Acceleration' lacks gravity and cannot be used" if linear else ""),
            )
        self.name = path.name
        self.acc_table, self.gyro_table = acc, gyro
        self.metadata = {"device": "phyphox"}
        start = _phyphox_start(time_csv)
        if start:
            self.metadata["start"] = start
        self.bytes_total = acc.size + gyro.size
        self._acc = _PhyphoxReader(acc)
        self._gyro = _PhyphoxReader(gyro)
        self._g = np.empty((0, 4))

    @property
    def bytes_read(self) -> int:
        return self._acc.reader.consumed + self._gyro.reader.consumed

    def locate(self, line: int) -> str:
        return f"{self.acc_table.name} line {line}"

    def blocks(self) -> Iterator[_RawBlock]:
        gyro_period: float | None = None
        while True:
            got = self._acc.next_block()
            if got is None:
                return
            acc, lines = got
            t = acc[:, 0]
            # enough gyro to bracket this block
            while (
                not self._gyro.done
                and (self._g.shape[0] == 0 or self._g[-1, 0] < t[-1])
                and self._g.shape[0] < _PHYPHOX_MAX_GYRO_ROWS
            ):
                more = self._gyro.next_block()
                if more is not None:
                    g = more[0]
                    g = g[np.isfinite(g[:, 0])]
                    self._g = np.concatenate([self._g, g])
            if gyro_period is None and self._g.shape[0] >= 2:
                gyro_period = float(np.median(np.diff(self._g[:1000, 0])))
            gyro = self._interpolate(t, gyro_period or math.inf)
            yield _RawBlock(t.copy(), acc[:, 1:4].copy(), gyro, lines)
            # keep the gyro samples still needed: from the last one at or before this block's end
            if self._g.shape[0]:
                keep = max(int(np.searchsorted(self._g[:, 0], t[-1], side="right")) - 1, 0)
                self._g = self._g[keep:]

    def _interpolate(self, t: FloatArray, gyro_period: float) -> FloatArray:
        g = self._g
        out = np.full((t.size, 3), np.nan)
        if g.shape[0] == 0:
            return out
        gt = g[:, 0]
        right = np.searchsorted(gt, t, side="left")
        exact = (right < gt.size) & (gt[np.minimum(right, gt.size - 1)] == t)
        left = right - 1
        inside = (left >= 0) & (right < gt.size)
        li, ri = np.clip(left, 0, gt.size - 1), np.clip(right, 0, gt.size - 1)
        span = gt[ri] - gt[li]
        ok = inside & (span <= GAP_PERIODS * gyro_period)
        w = np.where(ok & (span > 0), (t - gt[li]) / np.where(span > 0, span, 1.0), 0.0)
        for k in range(3):
            vals = g[li, k + 1] * (1 - w) + g[ri, k + 1] * w
            out[:, k] = np.where(ok, vals, np.nan)
            out[exact, k] = g[ri[exact], k + 1]
        return out

    def close(self) -> None:
        self._acc.stream.close()
        self._gyro.stream.close()


# --- hsb ----------------------------------------------------------------------------------------------------


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
        self.header = hsb.read_header(self._f, self.name)
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
        damaged: list[hsb.Damage] = []
        last_t: float | None = None
        pending: hsb.Damage | None = None
        lost: list[str] = []
        for b in hsb.iter_blocks(self._f, self.header, self.name, damaged=damaged):
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


def _check_regular(path: Path) -> None:
    """Refuse anything but a regular file (a FIFO or ``/dev/zero`` named ``.csv`` would block or never end)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})", hint="check the path") from None
    if not stat.S_ISREG(mode):
        raise RecordingError(
            f"{path.name}: not a regular file (a device, pipe or socket)",
            hint="give a recording file, a phyphox folder or .zip",
        )


def _detect_format(path: Path) -> str:
    name = path.name.lower()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # a symlink loop, a name too long, ...
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})", hint="check the path") from None
    if not exists:
        raise RecordingError(f"{path}: no such file or folder", hint="check the path")
    if is_dir:
        return "phyphox"
    _check_regular(path)
    if name.endswith(".hsb"):
        return "hsb"
    if _HAPT_RE.match(path.name):
        return "hapt"
    if name.endswith(".zip"):
        return "phyphox"
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        if path.stat().st_size == 0:
            return "csv"
        reader = _open_bytes(path)
        try:
            first = (_Lines(reader).readline() or b"").lstrip()
        except _LineTooLong:
            raise _line_too_long(path.name, 1) from None
        finally:
            reader.close()
        return "phyphox" if first.startswith(b'"') else "csv"
    raise RecordingError(
        f"{path.name}: unknown recording format",
        hint="use .csv / .csv.gz (canonical), .hsb, a phyphox folder or .zip, or HAPT acc_expXX_userYY.txt",
    )


def _make_source(path: Path, fmt: str) -> _Source:
    try:
        return _make_source_unchecked(path, fmt)
    except OSError as exc:
        raise _os_error(path, exc) from None


def _os_error(path: Path, exc: OSError) -> RecordingError:
    return RecordingError(
        f"{path.name}: cannot read ({exc.strerror or type(exc).__name__})", hint="check the file and its permissions"
    )


def _make_source_unchecked(path: Path, fmt: str) -> _Source:
    if fmt == "hsb":
        return _HsbSource(path)
    if fmt == "hapt":
        pair = _hapt_partner(path)
        assert pair is not None
        return _HaptSource(*pair)
    if fmt == "phyphox":
        return _PhyphoxSource(path)
    return _CsvSource(path)


# --------------------------------------------------------------------------------------------------------------
# checks and repairs, applied block by block


def _runs_at_limit(at: NDArray[np.bool_], carry: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Running length of consecutive True per column, continuing ``carry`` from the previous block."""
    n = at.shape[0]
    idx = np.arange(n)[:, None]
    last_false = np.maximum.accumulate(np.where(~at, idx, -1), axis=0)
    run = idx - last_false
    run = np.where(last_false < 0, run + carry[None, :], run)
    new_carry = run[-1] if n else carry
    return run, new_carry


@dataclass
class _Counter:
    count: int = 0
    first: str = ""

    def add(self, n: int, where: Callable[[], str]) -> None:
        if n and not self.count:
            self.first = where()
        self.count += n


@dataclass
class _Checker:
    """Stateful checks over raw blocks; the output is the same whatever the block boundaries."""

    source: _Source
    name: str
    period: float
    acc_range: float | None
    gyro_range: float | None
    last_t: float | None = None
    nonfinite: _Counter = field(default_factory=_Counter)
    duplicates: _Counter = field(default_factory=_Counter)
    saturated: _Counter = field(default_factory=_Counter)
    gaps: int = 0
    gap_seconds: float = 0.0
    samples: int = 0  # kept so far
    sat_carry: NDArray[np.int64] = field(default_factory=lambda: np.zeros(6, np.int64))

    def check(self, b: _RawBlock, acc_scale: float, gyro_scale: float) -> Samples:
        t, acc, gyro, lines = b.t, b.acc * acc_scale, b.gyro * gyro_scale, b.lines
        finite = np.isfinite(t) & np.isfinite(acc).all(axis=1) & np.isfinite(gyro).all(axis=1)
        finite &= np.abs(t) <= MAX_ABS_T_S
        with np.errstate(invalid="ignore"):
            finite &= (np.abs(acc) <= MAX_ABS_VALUE).all(axis=1) & (np.abs(gyro) <= MAX_ABS_VALUE).all(axis=1)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            self.nonfinite.add(bad.size, lambda: self.source.locate(int(lines[bad[0]])))
            t, acc, gyro, lines = t[finite], acc[finite], gyro[finite], lines[finite]
        if t.size == 0:
            return Samples.empty()
        prev = np.concatenate([[self.last_t if self.last_t is not None else -np.inf], t[:-1]])
        back = np.flatnonzero(t < prev)
        error: RecordingError | None = None
        if back.size:
            k = int(back[0])
            error = RecordingError(
                f"{self.source.locate(int(lines[k]))}: time goes backwards ({prev[k]:.6f} s -> {t[k]:.6f} s); "
                f"everything before was read",
                hint="the recording is out of order; sort it by t or split it at that line",
            )
            t, acc, gyro, lines, prev = t[:k], acc[:k], gyro[:k], lines[:k], prev[:k]
        dup = t == prev
        if dup.any():
            first_dup = int(np.flatnonzero(dup)[0])
            self.duplicates.add(int(dup.sum()), lambda: self.source.locate(int(lines[first_dup])))
            keep = ~dup
            t, acc, gyro, lines, prev = t[keep], acc[keep], gyro[keep], lines[keep], prev[keep]
        if t.size:
            step = t - prev
            for k in np.flatnonzero(step > GAP_PERIODS * self.period).tolist():
                if not np.isfinite(prev[k]):
                    continue
                allowed = MAX_GAP_S + MAX_GAP_RATIO * (self.samples + k) * self.period - self.gap_seconds
                if step[k] > min(MAX_GAP_S, allowed):
                    why = "more than 24 h" if step[k] > MAX_GAP_S else "gaps far longer than the data"
                    error = RecordingError(  # earlier than a backwards step (t was cut there)
                        f"{self.source.locate(int(lines[k]))}: time jumps ahead by {step[k]:.6g} s "
                        f"(t {prev[k]:.3f} -> {t[k]:.6g} s; {why}); stopped there, everything before was read",
                        hint="a wrong timestamp on that line, or several recordings in one file: fix or split it",
                    )
                    t, acc, gyro, lines, prev, step = t[:k], acc[:k], gyro[:k], lines[:k], prev[:k], step[:k]
                    break
                self.gaps += 1
                self.gap_seconds += float(step[k])
                if self.gaps <= MAX_GAP_WARNINGS:
                    warnings.warn(
                        f"{self.source.locate(int(lines[k]))}: gap of {step[k]:.3f} s in the samples "
                        f"(t {prev[k]:.3f} -> {t[k]:.3f} s); kept as a gap, not interpolated",
                        RecordingWarning,
                        stacklevel=2,
                    )
        if t.size:
            self._saturation(acc, gyro, lines)
            self.last_t = float(t[-1])
            self.samples += int(t.size)
        if error is not None and self._pending_error is None:
            self._pending_error = error
        return Samples(t, acc, gyro)

    _pending_error: RecordingError | None = None

    def _saturation(self, acc: FloatArray, gyro: FloatArray, lines: IntArray) -> None:
        if self.acc_range is None and self.gyro_range is None:
            return
        at = np.zeros((acc.shape[0], 6), bool)
        if self.acc_range is not None:
            at[:, :3] = np.abs(acc) >= 0.995 * self.acc_range
        if self.gyro_range is not None:
            at[:, 3:] = np.abs(gyro) >= 0.995 * self.gyro_range
        run, self.sat_carry = _runs_at_limit(at, self.sat_carry)
        newly = np.where(run == SATURATION_RUN, SATURATION_RUN, 0) + (run > SATURATION_RUN)
        n = int(newly.sum())
        if n:
            row = int(np.flatnonzero((run >= SATURATION_RUN).any(axis=1))[0])
            start = max(row - int(run[row].max()) + 1, 0)  # where that run began (within this block)
            self.saturated.add(n, lambda: self.source.locate(int(lines[start])))

    def summary(self) -> None:
        """Warnings about what was dropped or noticed over the whole stream (issued once, at the end)."""
        name = self.name
        if self.nonfinite.count:
            warnings.warn(
                f"{self.nonfinite.first}: {self.nonfinite.count} rows with NaN, inf or missing values dropped "
                f"(first at that line); they become a gap",
                RecordingWarning,
                stacklevel=2,
            )
        if self.duplicates.count:
            warnings.warn(
                f"{self.duplicates.first}: {self.duplicates.count} rows with a duplicate timestamp dropped "
                f"(first at that line)",
                RecordingWarning,
                stacklevel=2,
            )
        if self.saturated.count:
            limits = []
            if self.acc_range is not None:
                limits.append(f"+-{self.acc_range / STANDARD_GRAVITY:g} g")
            if self.gyro_range is not None:
                limits.append(f"+-{np.rad2deg(self.gyro_range):g} deg/s")
            warnings.warn(
                f"{self.saturated.first}: {self.saturated.count} samples pinned at the sensor range "
                f"({', '.join(limits)}) for {SATURATION_RUN}+ samples in a row (first at that line); "
                f"fast movements there are clipped",
                RecordingWarning,
                stacklevel=2,
            )
        if self.gaps > MAX_GAP_WARNINGS:
            warnings.warn(
                f"{name}: {self.gaps - MAX_GAP_WARNINGS} more gaps not listed ({self.gaps} in all, "
                f"{self.gap_seconds:.1f} s)",
                RecordingWarning,
                stacklevel=2,
            )


# --- units --------------------------------------------------------------------------------------------------


def _decide_accel_unit(acc: FloatArray, requested: str, name: str) -> float:
    """Scale that turns the file's acc into m/s²."""
    if requested == "m/s2":
        return 1.0
    if requested == "g":
        return STANDARD_GRAVITY
    if requested != "auto":
        raise RecordingError(f"accel_unit={requested!r} is not one of auto, m/s2, g", hint="--accel-unit m/s2")
    with np.errstate(over="ignore"):  # absurd values decide nothing (they are dropped as rows later)
        med = float(np.median(np.linalg.norm(acc, axis=1)))
    if 5.0 <= med <= 20.0:
        return 1.0
    if 0.5 <= med <= 2.0:
        warnings.warn(
            f"{name}: accelerometer looks like it is in g (median |a| = {med:.2f}), not m/s²; converted to "
            f"m/s² (pass --accel-unit m/s2 to keep the values as they are)",
            RecordingWarning,
            stacklevel=3,
        )
        return STANDARD_GRAVITY
    raise RecordingError(
        f"{name}: cannot tell the accelerometer unit (median |a| over the first {UNIT_PREFIX_S:g} s is "
        f"{med:.3g}; expected about 9.8 m/s² or 1 g)",
        hint="pass --accel-unit m/s2 or --accel-unit g (accel_unit=...)",
    )


def _gyro_ratio(t: FloatArray, acc: FloatArray, gyro: FloatArray) -> tuple[float, float] | None:
    """Gyro angular speed / angular speed of the (low-passed) gravity direction, and the swept angle (rad).

    In rad/s the ratio is about 1 (or more: rotation about gravity is invisible to the accelerometer); in deg/s
    about 57 times larger. None when there are too few samples.
    """
    n = t.size
    if n < 10:
        return None
    dt = float(np.median(np.diff(t)))
    if not dt > 0:  # repeated timestamps (dropped later as duplicates): no time base to compare with
        return None
    win = max(1, round(0.25 / dt))
    if win > n:
        return None
    if n < 4 * win:
        return None
    c = np.cumsum(np.vstack([np.zeros((1, 3)), acc]), axis=0)
    low = (c[win:] - c[:-win]) / win
    u = low / np.maximum(np.linalg.norm(low, axis=1, keepdims=True), 1e-9)
    du = np.linalg.norm(np.diff(u, axis=0), axis=1)  # ~ angle per step
    centre = np.arange(du.size) + win // 2
    g = gyro[np.minimum(centre, n - 1)]
    uu = u[:-1]
    perp = g - np.sum(g * uu, axis=1, keepdims=True) * uu
    gyro_angle = np.linalg.norm(perp, axis=1) * np.diff(t[win - 1 :])[: du.size]
    swept = float(du.sum())
    if swept <= 0:
        return None
    # smooth the gyro over the same window so both see the same band
    return float(gyro_angle.sum() / swept), swept


def _decide_gyro_unit(t: FloatArray, acc_si: FloatArray, gyro: FloatArray, requested: str, name: str) -> float:
    """Scale that turns the file's gyro into rad/s."""
    if requested == "rad/s":
        return 1.0
    if requested == "deg/s":
        return _RAD_PER_DEG
    if requested != "auto":
        raise RecordingError(f"gyro_unit={requested!r} is not one of auto, rad/s, deg/s", hint="--gyro-unit rad/s")
    mag = np.linalg.norm(gyro, axis=1)
    p99 = float(np.percentile(mag, 99)) if mag.size else 0.0
    ratio = _gyro_ratio(t, acc_si, gyro)
    by_ratio: str | None = None
    if ratio is not None and ratio[1] >= 0.5:  # at least ~30° of tilting to compare
        by_ratio = "deg/s" if ratio[0] > math.sqrt(1 / _RAD_PER_DEG) * 1.0 else "rad/s"
    by_magnitude = "deg/s" if p99 > 20.0 else ("rad/s" if p99 < 5.0 else None)
    decided = by_ratio or by_magnitude
    if by_ratio and by_magnitude and by_ratio != by_magnitude:
        decided = None
    if decided is None:
        detail = f"99th percentile |w| = {p99:.3g}" + (f", gyro/tilt ratio {ratio[0]:.3g}" if ratio else "")
        raise RecordingError(
            f"{name}: cannot tell whether the gyroscope is in rad/s or deg/s ({detail})",
            hint="pass --gyro-unit rad/s or --gyro-unit deg/s (gyro_unit=...)",
        )
    if decided == "deg/s":
        why = f"gyro/tilt ratio {ratio[0]:.0f}" if by_ratio and ratio else f"99th percentile |w| = {p99:.3g}"
        warnings.warn(
            f"{name}: gyroscope looks like it is in deg/s ({why}), not rad/s; converted to rad/s "
            f"(pass --gyro-unit rad/s to keep the values as they are)",
            RecordingWarning,
            stacklevel=3,
        )
        return _RAD_PER_DEG
    return 1.0


# --------------------------------------------------------------------------------------------------------------
# public reading API


class EmptyRecordingError(RecordingError):
    """A recording that ends without usable samples (header only, all NaN, one timestamp repeated)."""


class Recording:
    """An open recording. Iterate to get :class:`Samples` chunks of at most ``chunk_size`` samples.

    Use as a context manager. ``samples_read`` counts samples yielded so far; ``bytes_read`` / ``bytes_total``
    give progress through the file(s) (compressed bytes for gzip), e.g. for a tqdm bar.
    Iterating again starts again from the beginning.
    """

    def __init__(
        self,
        info: RecordingInfo,
        open_source: Callable[[], _Source],
        *,
        chunk_size: int,
        accel_unit: str,
        gyro_unit: str,
        bytes_total: int,
    ) -> None:
        self.info = info
        self._open_source = open_source
        self._chunk_size = chunk_size
        self._accel_unit = accel_unit
        self._gyro_unit = gyro_unit
        self._source: _Source | None = None
        self.samples_read = 0
        self.bytes_total = bytes_total
        self._bytes_done = 0

    @property
    def bytes_read(self) -> int:
        return self._source.bytes_read if self._source is not None else self._bytes_done

    def __enter__(self) -> Recording:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._source is not None:
            self._bytes_done = self._source.bytes_read
            self._source.close()
            self._source = None

    def __iter__(self) -> Iterator[Samples]:
        self.close()
        self.samples_read = 0
        source = self._open_source()
        self._source = source
        out: list[Samples] = []
        size = 0
        error: RecordingError | None = None
        try:
            try:
                for block in self._checked(source):
                    out.append(block)
                    size += len(block)
                    while size >= self._chunk_size:
                        whole = Samples.concat(out) if len(out) > 1 else out[0]
                        chunk = whole.slice(0, self._chunk_size)
                        rest = whole.slice(self._chunk_size)
                        out, size = ([rest] if len(rest) else []), len(rest)
                        self.samples_read += len(chunk)
                        yield chunk
            except RecordingError as exc:
                error = exc  # yield what came before it first
            except OSError as exc:  # the disk or the file went away while reading
                error = _os_error(self.info.path, exc)
            if size:
                whole = Samples.concat(out)
                self.samples_read += len(whole)
                yield whole
            if error is not None:
                raise error
            if self.samples_read < 2:
                raise EmptyRecordingError(
                    f"{self.info.path.name}: no usable samples ({self.samples_read} after dropping rows with NaN "
                    "or a repeated timestamp); nothing to analyze",
                    hint="check that the file was written completely",
                )
        finally:
            self.close()

    def _checked(self, source: _Source) -> Iterator[Samples]:
        """Checked, unit-converted blocks; on an error, everything before it is yielded first."""
        name = self.info.path.name
        checker = _Checker(
            source,
            name,
            1.0 / self.info.rate_hz,
            source.acc_range,
            source.gyro_range,
        )
        decide = not source.units_known or self._accel_unit != "auto" or self._gyro_unit != "auto"
        acc_scale = gyro_scale = 1.0
        prefix: list[_RawBlock] = []
        prefix_n = 0
        error: RecordingError | None = None
        blocks = source.blocks()
        try:
            while True:
                try:
                    raw = next(blocks, None)
                except RecordingError as exc:
                    error, raw = exc, None
                if decide and raw is not None:
                    prefix.append(raw)
                    prefix_n += raw.t.size
                    t_all = np.concatenate([p.t for p in prefix])
                    finite_t = t_all[np.isfinite(t_all)]
                    span = float(finite_t[-1] - finite_t[0]) if finite_t.size else 0.0
                    if span < UNIT_PREFIX_S and prefix_n < _UNIT_PREFIX_MAX_SAMPLES:
                        continue
                if decide and prefix:
                    acc_scale, gyro_scale = self._decide_units(prefix, source)
                    decide = False
                    for p in prefix:
                        yield from self._check_one(checker, p, acc_scale, gyro_scale)
                    prefix = []
                elif raw is not None:
                    yield from self._check_one(checker, raw, acc_scale, gyro_scale)
                if raw is None:
                    break
        finally:
            checker.summary()
        if error is not None:
            raise error

    @staticmethod
    def _check_one(checker: _Checker, raw: _RawBlock, acc_scale: float, gyro_scale: float) -> Iterator[Samples]:
        s = checker.check(raw, acc_scale, gyro_scale)
        if len(s):
            yield s
        if checker._pending_error is not None:
            raise checker._pending_error

    def _decide_units(self, prefix: list[_RawBlock], source: _Source) -> tuple[float, float]:
        t = np.concatenate([p.t for p in prefix])
        acc = np.concatenate([p.acc for p in prefix])
        gyro = np.concatenate([p.gyro for p in prefix])
        ok = np.isfinite(t) & np.isfinite(acc).all(axis=1) & np.isfinite(gyro).all(axis=1)
        with np.errstate(invalid="ignore"):
            ok &= (np.abs(acc) <= MAX_ABS_VALUE).all(axis=1) & (np.abs(gyro) <= MAX_ABS_VALUE).all(axis=1)
        t, acc, gyro = t[ok], acc[ok], gyro[ok]
        if t.size:
            keep = t <= t[0] + UNIT_PREFIX_S
            keep &= np.arange(t.size) < _UNIT_PREFIX_MAX_SAMPLES
            t, acc, gyro = t[keep], acc[keep], gyro[keep]
        if t.size == 0:
            return 1.0, 1.0
        name = self.info.path.name
        if source.units_known:
            acc_scale = {"auto": 1.0, "m/s2": 1.0, "g": STANDARD_GRAVITY}.get(self._accel_unit, 1.0)
            gyro_scale = {"auto": 1.0, "rad/s": 1.0, "deg/s": _RAD_PER_DEG}.get(self._gyro_unit, 1.0)
            return acc_scale, gyro_scale
        acc_scale = _decide_accel_unit(acc, self._accel_unit, name)
        gyro_scale = _decide_gyro_unit(t, acc * acc_scale, gyro, self._gyro_unit, name)
        return acc_scale, gyro_scale


def _parse_start(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise RecordingError(
            f"{name}: metadata start={value!r} is not an ISO 8601 time",
            hint="write e.g. '# start=2024-05-01T08:30:00+02:00'",
        ) from None
    if start.tzinfo is None:
        raise RecordingError(
            f"{name}: metadata start={value!r} has no UTC offset",
            hint="write e.g. '# start=2024-05-01T08:30:00+02:00'",
        )
    first, last = START_YEARS
    if not first <= start.year <= last:
        raise RecordingError(
            f"{name}: metadata start={value!r} is outside the years {first}-{last}",
            hint="a device clock that was never set? write the real start, e.g. '# start=2024-05-01T08:30:00+02:00'",
        )
    return start


def open_recording(
    path: str | Path,
    *,
    chunk_size: int = 65536,
    accel_unit: AccelUnit = "auto",
    gyro_unit: GyroUnit = "auto",
    rate_hz: float | None = None,
) -> Recording:
    """Open a recording of any supported format (see the module docstring).

    accel_unit / gyro_unit: the units of the canonical CSV's columns, "auto" to detect from the first 60 s
    (the other formats declare their units). rate_hz: nominal rate, overriding metadata and estimation.
    Raises RecordingError (one line, with a hint) for unknown, empty or malformed files.
    """
    p = Path(path)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if accel_unit not in ("auto", "m/s2", "g"):
        raise RecordingError(f"accel_unit={accel_unit!r} is not one of auto, m/s2, g", hint="--accel-unit m/s2")
    if gyro_unit not in ("auto", "rad/s", "deg/s"):
        raise RecordingError(f"gyro_unit={gyro_unit!r} is not one of auto, rad/s, deg/s", hint="--gyro-unit rad/s")
    fmt = _detect_format(p)
    source = _make_source(p, fmt)
    try:
        metadata = dict(source.metadata)
        bytes_total = source.bytes_total
        rate = rate_hz
        where = "the rate_hz argument"
        if rate is None and "rate_hz" in metadata:
            where = f"metadata rate_hz={metadata['rate_hz']!r}"
            try:
                rate = float(metadata["rate_hz"])
            except ValueError:
                raise RecordingError(
                    f"{p.name}: metadata rate_hz={metadata['rate_hz']!r} is not a number",
                    hint="write e.g. '# rate_hz=100'",
                ) from None
        if rate is None:
            where = "the rate estimated from the first timestamps"
            rate = _estimate_rate(source, p.name)
        low, high = RATE_RANGE_HZ
        if not low <= rate <= high:
            raise RecordingError(
                f"{p.name}: sample rate {rate:g} Hz ({where}) is outside {low:g}-{high:g} Hz",
                hint="check the timestamps (seconds) or the '# rate_hz=...' line; --rate overrides it",
            )
        start = _parse_start(metadata.get("start"), p.name)
    except OSError as exc:
        raise _os_error(p, exc) from None
    finally:
        source.close()
    info = RecordingInfo(path=p, format=fmt, metadata=metadata, rate_hz=float(rate), start=start)
    return Recording(
        info,
        lambda: _make_source(p, fmt),
        chunk_size=chunk_size,
        accel_unit=accel_unit,
        gyro_unit=gyro_unit,
        bytes_total=bytes_total,
    )


def _estimate_rate(source: _Source, name: str) -> float:
    first = next(source.blocks(), None)  # a RecordingError in the first block is reported as it is
    if first is None or first.t.size == 0:
        raise RecordingError(
            f"{name}: the recording holds no samples", hint="check that the file was written completely"
        )
    t = first.t[np.isfinite(first.t)][:2000]
    steps = np.diff(t)
    steps = steps[steps > 0]
    if steps.size == 0:
        raise RecordingError(
            f"{name}: cannot estimate the sample rate from the first timestamps",
            hint="add '# rate_hz=...' to the metadata or pass rate_hz=...",
        )
    return float(f"{1.0 / np.median(steps):.6g}")  # 100.0, not 100.00000000000213


# --------------------------------------------------------------------------------------------------------------
# writing


def _format_metadata(metadata: Mapping[str, str]) -> bytes:
    lines = []
    for key, value in metadata.items():
        k, v = str(key), str(value)
        if "=" in k or "\n" in k or "\n" in v or not k:
            raise RecordingError(
                f"metadata key {k!r} / value {v!r} cannot be written", hint="keys need no '=', values no newline"
            )
        lines.append(f"# {k}={v}\n")
    return "".join(lines).encode("utf-8")


def format_csv_rows(s: Samples) -> bytes:
    """Canonical CSV rows (no header) for ``s``, at :data:`CSV_DECIMALS`."""
    values = np.column_stack([s.t, s.acc, s.gyro])
    if not np.isfinite(values).all():
        raise RecordingError("cannot write NaN or inf samples to CSV", hint="drop them first (they are a gap)")
    if np.abs(values).max(initial=0.0) >= 1e11:
        raise RecordingError("cannot write values of 1e11 or more to CSV", hint="check the units")
    step = 1 << 15  # rows per piece: the formatter's work arrays stay in the CPU caches
    return b"".join(format_block(values[i : i + step], CSV_DECIMALS) for i in range(0, values.shape[0], step))


class RecordingWriter:
    """Write samples to ``.csv``, ``.csv.gz`` or ``.hsb`` (chosen by suffix), crash-safely.

    Samples are buffered and written out whenever ``flush_s`` seconds of data (default 1 s) or
    ``flush_samples`` samples have accumulated, so a killed process loses at most that much. ``.csv.gz`` is
    written as one gzip member per flush and ``.hsb`` as one block per flush, so the file stays readable.
    ``append=True`` continues an existing ``.hsb`` (dropping a torn last block) or ``.csv`` / ``.csv.gz``.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        metadata: Mapping[str, str] | None = None,
        append: bool = False,
        flush_s: float | None = 1.0,
        flush_samples: int = 16384,
        acc_full_scale_g: float = hsb.DEFAULT_ACC_FULL_SCALE_G,
        gyro_full_scale_dps: float = hsb.DEFAULT_GYRO_FULL_SCALE_DPS,
    ) -> None:
        self.path = Path(path)
        name = self.path.name.lower()
        self._kind = "hsb" if name.endswith(".hsb") else "csv.gz" if name.endswith(".csv.gz") else "csv"
        if not (name.endswith((".hsb", ".csv", ".csv.gz"))):
            raise RecordingError(f"{self.path.name}: cannot write this format", hint="write .csv, .csv.gz or .hsb")
        self._flush_s = flush_s
        self._flush_samples = flush_samples
        self._pending: list[Samples] = []
        self._pending_n = 0
        self.samples_written = 0
        self._last_t: float | None = None
        meta = dict(metadata or {})
        self._hsb: hsb.HsbWriter | None = None
        self._file: IO[bytes] | None = None
        if self._kind == "hsb":
            self._hsb = hsb.HsbWriter(
                self.path,
                meta,
                append=append,
                acc_full_scale_g=acc_full_scale_g,
                gyro_full_scale_dps=gyro_full_scale_dps,
                block_samples=flush_samples,
            )
            self._last_t = self._hsb.last_t
            return
        resume = append and self.path.exists() and self.path.stat().st_size > 0
        if resume:
            self._last_t = _last_csv_time(self.path)
        self._file = open_private(self.path, "ab" if resume else "wb")
        if not resume:
            self._emit(_format_metadata(meta) + (CANONICAL_HEADER + "\n").encode())

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def write(self, s: Samples) -> None:
        """Queue ``s``; write it out when enough has accumulated. t must keep increasing strictly."""
        if len(s) == 0:
            return
        t = s.t
        prev = self._pending[-1].t[-1] if self._pending else self._last_t
        if (prev is not None and t[0] <= prev) or (t.size > 1 and np.any(np.diff(t) <= 0)):
            raise RecordingError(
                f"{self.path.name}: samples must have strictly increasing t (near t = {t[0]:.6f} s)",
                hint="drop duplicates and sort before writing",
            )
        self._pending.append(s)
        self._pending_n += len(s)
        span = float(t[-1] - self._pending[0].t[0])
        if self._pending_n >= self._flush_samples or (self._flush_s is not None and span >= self._flush_s):
            self.flush()

    def flush(self) -> None:
        """Write out everything queued (as one gzip member / one .hsb block)."""
        if not self._pending:
            return
        s = Samples.concat(self._pending)
        self._pending, self._pending_n = [], 0
        if self._hsb is not None:
            self._hsb.write_block(s, f"t = {s.t[0]:.3f} s")
        else:
            self._emit(format_csv_rows(s))
        self.samples_written += len(s)
        self._last_t = float(s.t[-1])

    def _emit(self, data: bytes) -> None:
        assert self._file is not None
        if self._kind == "csv.gz":
            c = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
            data = c.compress(data) + c.flush()
        self._file.write(data)
        self._file.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            if self._hsb is not None:
                self._hsb.close()
            if self._file is not None and not self._file.closed:
                self._file.close()


def _last_csv_time(path: Path) -> float | None:
    last: float | None = None
    with open_recording(path, accel_unit="m/s2", gyro_unit="rad/s", rate_hz=1.0) as rec, warnings.catch_warnings():
        warnings.simplefilter("ignore", RecordingWarning)
        with contextlib.suppress(EmptyRecordingError):
            for chunk in rec:
                last = float(chunk.t[-1])
    return last


def write_recording(path: str | Path, chunks: Iterable[Samples], *, metadata: Mapping[str, str] | None = None) -> int:
    """Write all ``chunks`` to ``path`` (format by suffix: .csv, .csv.gz, .hsb); returns the sample count."""
    with RecordingWriter(path, metadata=metadata, flush_s=None, flush_samples=65536) as w:
        for chunk in chunks:
            w.write(chunk)
    return w.samples_written
