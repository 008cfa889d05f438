"""The raw HAPT pair ``acc_expXX_userYY.txt[.gz]`` (g) + ``gyro_expXX_userYY.txt[.gz]`` (rad/s), 50 Hz."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from processing.errors import RecordingError
from processing.samples import STANDARD_GRAVITY
from sensor.recording.base import TEXT_BLOCK_BYTES, FloatArray, IntArray, _check_regular, _RawBlock
from sensor.recording.text import _line_too_long, _Lines, _LineTooLong, _open_bytes, _parse_text_block

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
