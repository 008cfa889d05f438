"""Stage one of the pipeline: samples -> gravity direction -> 1 s epoch features.

Everything a later stage needs (calibration, tilt, activity) is summarised per epoch here, so that the per-
epoch stages run at 1 Hz whatever the sample rate, and ``analyze`` can calibrate from the whole recording
without holding its samples in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from processing.epochs import EpochAccumulator, EpochSums
from processing.samples import STANDARD_GRAVITY, FloatArray, Samples
from processing.stage import SnapshotState

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

# Column layout of the per-sample values summed into epochs.
_UP = slice(0, 3)
_ACC = slice(3, 6)
_ACC2 = slice(6, 12)  # xx yy zz xy xz yz
_GYRO = slice(12, 15)
_GYRO2 = slice(15, 21)
_NORM = 21
_NORM2 = 22
_VERT = 23  # acc . up - g: vertical acceleration along the per-sample up direction
_VERT_LATE = 24  # the same x (time left in the epoch, as a fraction of it)
_N_COLUMNS = 25
_PAIRS = ((0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))


class UpEstimator(Protocol):
    """A streaming estimator of the gravity direction in the sensor frame."""

    def update(self, samples: Samples) -> FloatArray:
        """Return ``up`` (n, 3): the unit vector pointing up (against gravity), sensor frame."""
        ...

    def reset(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EpochFeatures:
    """Features of complete 1 s epochs. Arrays have one row per epoch; NaN where an epoch has no sample.

    k: (m,) epoch index; t: (m,) epoch start, s (stream clock); count: (m,) samples in the epoch;
    coverage: (m,) count / nominal rate (1.0 = complete); up: (m, 3) mean gravity direction, unit, sensor frame;
    acc_mean: (m, 3) m/s²; acc_cov: (m, 3, 3) (m/s²)²; gyro_mean: (m, 3) rad/s; gyro_cov: (m, 3, 3) (rad/s)²;
    acc_norm_std: (m,) m/s², standard deviation of |acc| within the epoch.
    vert_acc: (m,) m/s², mean vertical acceleration ``acc · up - g`` over the samples (``up`` per sample, so it
    holds while the sensor turns; x 1 s it is the vertical velocity change over the epoch, plus the sensor's
    bias). vert_acc_late: (m,) m/s², the same weighted by the fraction of the epoch left after each sample,
    ``k + 1 - (t - t0)`` (x 1 s² it is the vertical displacement the epoch's own acceleration causes by the
    epoch's end). Both None in hand-made features without them.
    """

    k: IntArray
    t: FloatArray
    count: IntArray
    coverage: FloatArray
    up: FloatArray
    acc_mean: FloatArray
    acc_cov: FloatArray
    gyro_mean: FloatArray
    gyro_cov: FloatArray
    acc_norm_std: FloatArray
    vert_acc: FloatArray | None = None
    vert_acc_late: FloatArray | None = None

    def __len__(self) -> int:
        return int(self.k.shape[0])

    @staticmethod
    def concat(parts: list[EpochFeatures]) -> EpochFeatures:
        if not parts:
            return _features_from_sums(
                EpochSums(np.empty(0, np.int64), np.empty(0, np.int64), np.empty((0, _N_COLUMNS))), 0.0, 1.0
            )
        columns: dict[str, Any] = {
            name: _concat_optional([getattr(p, name) for p in parts]) for name in EpochFeatures.__slots__
        }
        return EpochFeatures(**columns)

    def select(self, index: IntArray | BoolArray | slice) -> EpochFeatures:
        columns: dict[str, Any] = {
            name: None if (v := getattr(self, name)) is None else v[index] for name in EpochFeatures.__slots__
        }
        return EpochFeatures(**columns)


def _concat_optional(arrays: list[NDArray[Any] | None]) -> NDArray[Any] | None:
    """Concatenate, or None when any part lacks the column."""
    present = [a for a in arrays if a is not None]
    return np.concatenate(present) if len(present) == len(arrays) else None


def _cov(sums: FloatArray, mean: FloatArray, n: FloatArray) -> FloatArray:
    second = sums / n[:, None]
    cov = np.empty((len(n), 3, 3))
    for j, (a, b) in enumerate(_PAIRS):
        value = second[:, j] - mean[:, a] * mean[:, b]
        cov[:, a, b] = value
        cov[:, b, a] = value
    return cov


def _features_from_sums(sums: EpochSums, t0: float, rate_hz: float) -> EpochFeatures:
    n = sums.count.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(n > 0, n, np.nan)
        up = sums.sums[:, _UP] / safe[:, None]
        up /= np.linalg.norm(up, axis=1, keepdims=True)
        acc_mean = sums.sums[:, _ACC] / safe[:, None]
        gyro_mean = sums.sums[:, _GYRO] / safe[:, None]
        norm_mean = sums.sums[:, _NORM] / safe
        norm_var = sums.sums[:, _NORM2] / safe - norm_mean**2
        return EpochFeatures(
            k=sums.k,
            t=t0 + sums.k.astype(np.float64),
            count=sums.count,
            coverage=n / rate_hz,
            up=up,
            acc_mean=acc_mean,
            acc_cov=_cov(sums.sums[:, _ACC2], acc_mean, safe),
            gyro_mean=gyro_mean,
            gyro_cov=_cov(sums.sums[:, _GYRO2], gyro_mean, safe),
            acc_norm_std=np.sqrt(np.maximum(norm_var, 0.0)),
            vert_acc=sums.sums[:, _VERT] / safe,
            vert_acc_late=sums.sums[:, _VERT_LATE] / safe,
        )


class FeatureExtractor(SnapshotState):
    """Samples in, complete epoch features out; chunk invariant.

    rate_hz: nominal sample rate, Hz (for gap detection and coverage).
    up_estimator: the orientation filter giving the gravity direction per sample.
    A step in ``t`` longer than ``gap_periods`` sample periods is a gap (counted in ``gaps``).
    """

    def __init__(self, *, rate_hz: float, up_estimator: UpEstimator, gap_periods: float = 3.0) -> None:
        if not 1.0 <= rate_hz <= 2000.0:
            raise ValueError(f"rate_hz={rate_hz} is outside 1..2000 Hz")
        self.rate_hz = rate_hz
        self.gap_s = gap_periods / rate_hz
        self.up_estimator = up_estimator
        self._acc = EpochAccumulator(_N_COLUMNS)
        self._t_last: float | None = None
        self.gaps = 0

    def reset(self) -> None:
        """Forget the stream (the up estimator too)."""
        self._acc.reset()
        self.up_estimator.reset()
        self._t_last = None
        self.gaps = 0

    @property
    def t0(self) -> float | None:
        return self._acc.t0

    def update(self, samples: Samples) -> EpochFeatures:
        n = len(samples)
        if n == 0:
            return self._features(self._acc.update(samples.t, np.empty((_N_COLUMNS, 0))))
        # The orientation filter re-initialises itself after gaps (keeping its gyro bias); count them here.
        t = samples.t
        prev = np.concatenate([[t[0] if self._t_last is None else self._t_last], t[:-1]])
        self.gaps += int(np.count_nonzero(t - prev > self.gap_s))
        up = self.up_estimator.update(samples)
        self._t_last = float(t[-1])
        # Column-major (c, n): every column is contiguous, to fill and to sum per epoch.
        values = np.empty((_N_COLUMNS, n))
        acc = samples.acc.T
        gyro = samples.gyro.T
        values[_UP] = up.T
        values[_ACC] = acc
        values[_GYRO] = gyro
        acc_rows = values[_ACC]  # contiguous copies of the acc and gyro axes
        gyro_rows = values[_GYRO]
        for j, (a, b) in enumerate(_PAIRS):
            np.multiply(acc_rows[a], acc_rows[b], out=values[_ACC2.start + j])
            np.multiply(gyro_rows[a], gyro_rows[b], out=values[_GYRO2.start + j])
        norm2 = values[_NORM2]
        np.add(values[_ACC2.start], values[_ACC2.start + 1], out=norm2)
        norm2 += values[_ACC2.start + 2]
        np.sqrt(norm2, out=values[_NORM])
        up_rows = values[_UP]
        vert = values[_VERT]
        np.multiply(acc_rows[0], up_rows[0], out=vert)
        vert += acc_rows[1] * up_rows[1]
        vert += acc_rows[2] * up_rows[2]
        vert -= STANDARD_GRAVITY
        since = t - (t[0] if self._acc.t0 is None else self._acc.t0)
        np.multiply(vert, np.floor(since) + 1.0 - since, out=values[_VERT_LATE])
        return self._features(self._acc.update(t, values))

    def finish(self) -> EpochFeatures:
        """The epoch still open, at the end of the stream."""
        return self._features(self._acc.finish())

    def _features(self, sums: EpochSums) -> EpochFeatures:
        return _features_from_sums(sums, self._acc.t0 or 0.0, self.rate_hz)
