"""The canonical CSV (``.csv`` / ``.csv.gz``): metadata lines, header, rows (docs/contracts.md)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from processing.errors import RecordingError, RecordingWarning
from processing.samples import STANDARD_GRAVITY
from sensor.recording.base import (
    _RAD_PER_DEG,
    CANONICAL_COLUMNS,
    CANONICAL_HEADER,
    MAX_METADATA_LINES,
    READ_AHEAD_BLOCKS,
    TEXT_BLOCK_BYTES,
    _RawBlock,
)
from sensor.recording.fastcsv import parse_block
from sensor.recording.text import (
    _is_gz,
    _line_too_long,
    _Lines,
    _LineTooLong,
    _open_bytes,
    _parse_lines_slow,
    _ReadAhead,
)


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
