"""Gravity direction for the pipeline.

``make_up_estimator`` chooses the orientation filter the pipeline uses. Until the gyro-fusing estimator of
``processing.orientation`` is wired in, this is a first-order low-pass of the accelerometer (time constant
``tau_s``), which is exact at rest and smooths walking accelerations, but lags real rotations.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from processing.samples import FloatArray, Samples


class LowPassUp:
    """Up vector (unit, sensor frame) from the low-passed accelerometer; chunk invariant.

    rate_hz: nominal rate, Hz; tau_s: time constant, s.
    """

    def __init__(self, *, rate_hz: float, tau_s: float = 1.0) -> None:
        alpha = 1.0 - np.exp(-1.0 / (rate_hz * tau_s))
        self._b = np.array([alpha])
        self._a = np.array([1.0, alpha - 1.0])
        self._zi: FloatArray | None = None

    def reset(self) -> None:
        self._zi = None

    def update(self, samples: Samples) -> FloatArray:
        if len(samples) == 0:
            return np.empty((0, 3))
        if self._zi is None:
            self._zi = (1.0 - float(self._b[0])) * samples.acc[0][None, :]
        out, self._zi = lfilter(self._b, self._a, samples.acc, axis=0, zi=self._zi)
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        up: FloatArray = out / np.where(norm > 0, norm, 1.0)
        return up


def make_up_estimator(rate_hz: float) -> LowPassUp:
    return LowPassUp(rate_hz=rate_hz)
