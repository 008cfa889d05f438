"""Checks and repairs applied to the samples block by block: dropped rows, gaps, order, saturation."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from processing.errors import RecordingError, RecordingWarning
from processing.samples import STANDARD_GRAVITY, Samples
from sensor.recording.base import (
    GAP_PERIODS,
    MAX_ABS_T_S,
    MAX_ABS_VALUE,
    MAX_GAP_RATIO,
    MAX_GAP_S,
    MAX_GAP_WARNINGS,
    SATURATION_RUN,
    FloatArray,
    IntArray,
    _RawBlock,
    _Source,
)


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
