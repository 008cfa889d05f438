"""The gravity direction the pipeline uses: :class:`~processing.orientation.OrientationEstimator`'s ``up``, or,
for stored recordings, hindsight over bounded windows (:class:`HindsightUp`)."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from processing.accel_calibration import AccelCalibration, RestStatistics
from processing.orientation import (
    OrientationEstimator,
    OrientationParams,
    fit_rest_calibration_with,
    hindsight_up,
    rest_rows,
)
from processing.samples import FloatArray, Samples
from processing.stage import SnapshotState


class OrientationUp(SnapshotState):
    """Adapts :class:`OrientationEstimator` to the pipeline's ``UpEstimator``: returns ``up`` (n, 3)."""

    def __init__(self, params: OrientationParams) -> None:
        self.estimator = OrientationEstimator(params)

    def reset(self) -> None:
        self.estimator.reset()

    def update(self, samples: Samples) -> FloatArray:
        return self.estimator.update(samples).up

    def finish(self) -> FloatArray:
        """The end of the stream: nothing is held back (no rows)."""
        return self.estimator.finish().up


def make_up_estimator(rate_hz: float) -> OrientationUp:
    return OrientationUp(OrientationParams(rate_hz=rate_hz))


class HindsightUp(SnapshotState):
    """Hindsight (offline) up vectors for a stored recording, in memory bounded by a window, not the recording.

    Samples go in through :meth:`push` and come out delayed, in order, as released pieces: each window of
    ``window_s`` seconds' worth of samples (counted at ``rate_hz``) is smoothed by
    :func:`~processing.orientation.hindsight_up` together with ``margin_s`` of context before and after it, and
    only the window itself is released. :meth:`finish` releases the rest.

    **Accelerometer calibration.** Before smoothing, the accelerometer's error is fitted
    (:func:`~processing.accel_calibration.fit_rest_calibration`) over the rests of everything released so far and of the
    window and its look-ahead, and removed; the released pieces carry the *calibrated* accelerometer, so that
    everything computed from them (the epochs' mean accelerometer that the neutral calibration reads, the up
    vectors) agrees. :attr:`accel_calibration` is the latest fit. :meth:`update` is
    the pipeline's ``UpEstimator``: called with exactly the pieces released, in order, it returns their up
    vectors (n, 3). Memory: at most ``window_s + 2 margin_s`` of samples plus one input chunk. Results do not
    depend on how the input is chunked.

    >>> import numpy as np
    >>> n = 500
    >>> s = Samples(np.arange(n) / 100.0, np.tile([0.0, 0.0, 9.81], (n, 1)), np.zeros((n, 3)))
    >>> h = HindsightUp(100.0, window_s=2.0, margin_s=1.0)
    >>> pieces = h.push(s) + h.finish()
    >>> [len(p) for p in pieces]
    [200, 200, 100]
    >>> np.round(h.update(pieces[0])[0], 6) + 0.0
    array([0., 0., 1.])
    """

    def __init__(
        self,
        rate_hz: float,
        *,
        window_s: float = 600.0,
        margin_s: float = 60.0,
        params: OrientationParams | None = None,
    ) -> None:
        if not (math.isfinite(rate_hz) and rate_hz > 0):
            raise ValueError(f"HindsightUp: rate_hz must be > 0, got {rate_hz!r}")
        if not (math.isfinite(window_s) and window_s > 0 and math.isfinite(margin_s) and margin_s >= 0):
            raise ValueError("HindsightUp: window_s must be > 0 and margin_s >= 0 (seconds)")
        self.params = params if params is not None else OrientationParams(rate_hz=rate_hz)
        self.window_n = max(1, round(window_s * rate_hz))
        self.margin_n = round(margin_s * rate_hz)
        self.reset()

    def reset(self) -> None:
        """Forget everything buffered and released."""
        self._buf: list[Samples] = []
        self._n = 0  # samples in the buffer
        self._emit = 0  # index (in the buffer) of the first sample not yet released
        self._out: deque[tuple[Samples, FloatArray]] = deque()
        self._past_rests = RestStatistics(np.empty((0, 3)), np.empty(0))  # rests in the released samples
        self.accel_calibration: AccelCalibration | None = None

    def push(self, samples: Samples) -> list[Samples]:
        """Add a chunk; returns the pieces released by it (possibly none), oldest first."""
        if len(samples):
            self._buf.append(samples)
            self._n += len(samples)
        ready = []
        while self._n - self._emit >= self.window_n + self.margin_n:
            ready.append(self._release(self._emit + self.window_n + self.margin_n, self._emit + self.window_n))
        return ready

    def finish(self) -> list[Samples]:
        """Release everything still buffered (the end of the recording)."""
        if self._n > self._emit:
            return [self._release(self._n, self._n)]
        return []

    def update(self, samples: Samples) -> FloatArray:
        """Up vectors (n, 3) of ``samples``, which must be the oldest released piece not yet asked for."""
        if not self._out:
            raise ValueError("HindsightUp.update: no released piece is waiting; feed the pieces push() returns")
        piece, up = self._out.popleft()
        if len(piece) != len(samples) or (len(piece) and piece.t[0] != samples.t[0]):
            raise ValueError("HindsightUp.update: samples are not the next piece push() or finish() released")
        return up

    def _release(self, stop: int, emit_stop: int) -> Samples:
        """Smooth buffer[0:stop], release buffer[emit:emit_stop], keep the context for the next window."""
        whole = Samples.concat(self._buf) if len(self._buf) > 1 else self._buf[0]
        part = whole.slice(0, stop)
        rest = rest_rows(part, self.params)
        ahead = _rests(part, rest, self._emit, stop)
        fit = fit_rest_calibration_with(_joined(self._past_rests, ahead), self.params)
        self.accel_calibration = fit
        calibrated = Samples(part.t, fit.apply(part.acc), part.gyro)
        up = hindsight_up(calibrated, self.params)
        piece = calibrated.slice(self._emit, emit_stop)
        self._out.append((piece, up[self._emit : emit_stop]))
        self._past_rests = _joined(self._past_rests, _rests(part, rest, self._emit, emit_stop))
        keep = max(0, emit_stop - self.margin_n)
        tail = whole.slice(keep)  # copied: a view would hold on to the whole buffer
        kept = Samples(tail.t.copy(), tail.acc.copy(), tail.gyro.copy())
        self._buf = [kept] if len(kept) else []
        self._n = len(kept)
        self._emit = emit_stop - keep
        return piece


def _rests(part: Samples, rest: np.ndarray, lo: int, hi: int) -> RestStatistics:
    """The rests (runs of ``rest``) of ``part`` between sample ``lo`` and ``hi``."""
    return RestStatistics.from_mask(part.t[lo:hi], part.acc[lo:hi], rest[lo:hi])


def _joined(a: RestStatistics, b: RestStatistics) -> RestStatistics:
    return RestStatistics(np.concatenate((a.mean_acc, b.mean_acc)), np.concatenate((a.duration_s, b.duration_s)))
