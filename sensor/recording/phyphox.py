"""phyphox CSV exports (folder, ``.zip`` or one of its CSV files): accelerometer and gyroscope tables."""

from __future__ import annotations

import contextlib
import io
import itertools
import math
import re
import stat
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO

import numpy as np

from processing.errors import RecordingError
from sensor.recording.base import GAP_PERIODS, MAX_LINE_BYTES, TEXT_BLOCK_BYTES, FloatArray, IntArray, _RawBlock
from sensor.recording.text import _ByteReader, _line_too_long, _Lines, _LineTooLong, _parse_text_block


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
