"""Per-sample streams reduced to 1 s epochs, chunk by chunk.

Epoch ``k`` holds the samples with ``floor(t - t0) == k``, where ``t0`` is the first sample's time. An epoch is
emitted once a sample of a later epoch arrives (or on :meth:`EpochAccumulator.finish`). Epochs that received no
sample at all (a gap in the stream) are emitted too, with a count of zero, so downstream code sees the gap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from processing.stage import SnapshotState

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class EpochSums:
    """Complete epochs: ``k`` (m,) epoch indices, ``count`` (m,) samples, ``sums`` (m, c) column sums."""

    k: IntArray
    count: IntArray
    sums: FloatArray

    def __len__(self) -> int:
        return int(self.k.shape[0])


class EpochAccumulator(SnapshotState):
    """Sums ``c`` per-sample columns into 1 s epochs; the result does not depend on chunk sizes.

    Values come column-major, ``(c, n)``: each column contiguous, which makes both filling them and the
    per-epoch sums (one ``np.add.reduceat``) several times faster than row-major.

    >>> acc = EpochAccumulator(1)
    >>> out = acc.update(np.array([0.0, 0.5, 1.0, 3.2]), np.array([[1.0, 2.0, 3.0, 4.0]]))
    >>> out.k.tolist(), out.count.tolist(), out.sums[:, 0].tolist()
    ([0, 1, 2], [2, 1, 0], [3.0, 3.0, 0.0])
    >>> acc.finish().k.tolist()
    [3]
    """

    def __init__(self, n_columns: int) -> None:
        self.n_columns = n_columns
        self.reset()

    def reset(self) -> None:
        """Forget the stream (a new one starts at its first sample)."""
        self.t0: float | None = None
        self._k_open = 0  # index of the epoch still being filled
        self._open_count = 0
        self._open_sums = np.zeros(self.n_columns)

    def _empty(self) -> EpochSums:
        return EpochSums(np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, self.n_columns)))

    def update(self, t: FloatArray, values: FloatArray) -> EpochSums:
        """Add samples at times ``t`` (n,) seconds with ``values`` (c, n); return the epochs now complete."""
        n = t.shape[0]
        if n == 0:
            return self._empty()
        if self.t0 is None:
            self.t0 = float(t[0])
        rel = np.floor(t - self.t0).astype(np.int64) - self._k_open
        span = int(rel[-1]) + 1
        if span == 1:
            self._open_count += n
            self._open_sums += values.sum(axis=1)
            return self._empty()
        starts = np.flatnonzero(np.diff(rel, prepend=-1))
        present = rel[starts]
        count = np.zeros(span, np.int64)
        count[present] = np.diff(np.append(starts, n))
        sums = np.zeros((span, self.n_columns))
        sums[present] = np.add.reduceat(values, starts, axis=1).T
        count[0] += self._open_count
        sums[0] += self._open_sums
        done = EpochSums(np.arange(self._k_open, self._k_open + span - 1, dtype=np.int64), count[:-1], sums[:-1])
        self._k_open += span - 1
        self._open_count = int(count[-1])
        self._open_sums = sums[-1].copy()
        return done

    def finish(self) -> EpochSums:
        """Emit the epoch still open (at the end of a recording)."""
        if self.t0 is None or self._open_count == 0:
            return self._empty()
        out = EpochSums(
            np.array([self._k_open], np.int64),
            np.array([self._open_count], np.int64),
            self._open_sums[None, :].copy(),
        )
        self._open_count = 0
        self._open_sums = np.zeros(self.n_columns)
        self._k_open += 1
        return out
