"""Writing recordings: :class:`RecordingWriter` (canonical CSV, ``.csv.gz``, ``.hsb``) and :func:`write_recording`."""

from __future__ import annotations

import contextlib
import warnings
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np

from processing.errors import RecordingError, RecordingWarning
from processing.samples import Samples
from sensor.files import open_private
from sensor.recording import hsb
from sensor.recording.base import CANONICAL_HEADER, CSV_DECIMALS, GZIP_LEVEL
from sensor.recording.fastcsv import format_block
from sensor.recording.reader import EmptyRecordingError, open_recording


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
