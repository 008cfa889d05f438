"""Accelerometer bias from still periods (auto-calibration), so that the vertical at rest is the true vertical.

At rest an accelerometer reads ``a = g u + b`` (``u`` the unit up vector in the sensor frame, ``b`` its bias,
m/s²); every attitude filter converges to the direction of ``a``, so a bias ``b`` tilts the vertical by
``|b - (b·u) u| / g`` rad, by an amount that changes with the posture. A cheap MEMS part has 20–50 mg per axis:
after a neutral calibration in standing, a 35 mg bias along the standing vertical alone tilts sitting (20° from
standing) by about ``0.035 sin 20°`` rad ≈ 0.7°.

What is observable: the norm at rest, ``|a - b| = g``. Linearised, each rest gives one equation for the bias
component along its vertical, ``û·b = |ā| - g`` (``ā`` the rest's mean accelerometer). Rests in one posture
reveal only the component along that vertical; rests in postures far apart reveal the rest (the sphere fit of
van Hees et al., J Appl Physiol 2014, and GGIR, reduced to a bias). The fit here is a ridge (Bayesian) least
squares: a zero-mean prior of ``prior_sd_mps2`` per axis keeps unobserved components at zero, and the
posterior standard deviation along each axis says how sure the fit is. Model errors (scale, cross-axis,
local gravity ≠ standard gravity, sway) enter as the equations' noise ``norm_sd_mps2``.

**What cannot be told apart.** Rests that all lie within a few degrees of one vertical ``u0`` (a hip sensor
worn standing only, BROAD's rests) reveal ``|a| - g`` along ``u0`` only, and there a bias ``β u0`` and a sensitivity
error ``β / g`` along ``u0`` read the same. Within the cone they also tilt the vertical alike (``β sin θ / g``
and ``β sin θ cos θ / g`` at ``θ`` from ``u0``); far outside it they do not (at 90°: ``β / g`` against 0). Such
rests are therefore fitted as a **sensitivity along u0** (:class:`AccelCalibration` with ``gain_along``): it
removes the error within the cone and leaves orientations far from it as they were, whichever the truth is.
A full bias is fitted only when the rests span at least :data:`FULL_FIT_SPREAD_DEG` (sitting, about 20° from
standing; lying): then the curvature of the rests' arc also shows the bias across ``u0`` in their plane (a
sensitivity error read as bias there costs about ``θ (s_x - s_z / 2)`` rad, 0.2° for 1 % at 20°).

On by default (``OrientationParams.acc_bias_prior_sd_mps2 = ACCEL_CALIBRATION_ON``; 0 switches it off): on the
simulator's cheap sensor it removes most of the accelerometer's share of the tilt error; on BROAD's calibrated
IMU it costs +0.006° and on HAPT it changes nothing that matters (see the README).

Uses: :func:`fit_rest_calibration` over a whole recording (hindsight, the ``analyze`` path); the live path
(:class:`processing.orientation.OrientationEstimator`) keeps the sensitivity along the first rest's vertical
and, once the rests span :data:`FULL_FIT_SPREAD_DEG`, the bias across it, as running sums, and turns its output
so that the vertical in that posture stays the raw accelerometer's as the estimate improves (a neutral
calibration taken there stays valid).

>>> import numpy as np
>>> g = 9.80665
>>> ups = np.array([[0.0, 0.0, 1.0], [0.0, 0.34, 0.94], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
>>> ups /= np.linalg.norm(ups, axis=1, keepdims=True)
>>> b = np.array([0.3, -0.2, 0.4])
>>> fit = fit_rest_calibration(RestStatistics(g * ups + b, np.full(4, 10.0)), g)
>>> np.round(fit.bias, 2) + 0.0
array([ 0.29, -0.19,  0.39])
>>> one = fit_rest_calibration(RestStatistics(np.array([[0.0, 0.0, g + 0.2]]), np.array([30.0])), g)
>>> np.round(one.apply(np.array([[0.0, 0.0, g + 0.2]])), 3) + 0.0
array([[0.  , 0.  , 9.81]])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from processing.samples import FloatArray

BoolArray = NDArray[np.bool_]

#: Per-axis standard deviation of the bias before any rest is seen, m/s² (50 mg: a cheap MEMS part).
PRIOR_SD_MPS2 = 0.05 * 9.80665
#: Standard deviation of one rest's norm equation, m/s² (model error: 1 % scale, cross-axis, local gravity).
NORM_SD_MPS2 = 0.01 * 9.80665
#: A rest counts with its duration up to this, s (a long rest is one posture, not many equations).
REST_CAP_S = 10.0
#: Rests shorter than this are not used, s.
MIN_REST_S = 2.0
#: A full bias is fitted only when two rests' verticals are at least this far apart, degrees.
FULL_FIT_SPREAD_DEG = 10.0


@dataclass(frozen=True, slots=True)
class RestStatistics:
    """Rests of a recording: mean accelerometer (m, 3), m/s², sensor frame, and duration (m,), s."""

    mean_acc: FloatArray
    duration_s: FloatArray

    @staticmethod
    def from_mask(t: FloatArray, acc: FloatArray, rest: BoolArray, min_rest_s: float = MIN_REST_S) -> RestStatistics:
        """The contiguous runs of ``rest`` (n,) in ``acc`` (n, 3) at times ``t`` (n,) s, each at least
        ``min_rest_s`` long."""
        r = np.concatenate(([False], rest, [False]))
        edges = np.flatnonzero(r[1:] != r[:-1])
        starts, stops = edges[::2], edges[1::2]
        if starts.shape[0] == 0:
            return RestStatistics(np.empty((0, 3)), np.empty(0))
        dur = t[stops - 1] - t[starts]
        keep = dur >= min_rest_s
        starts, stops, dur = starts[keep], stops[keep], dur[keep]
        if starts.shape[0] == 0:
            return RestStatistics(np.empty((0, 3)), np.empty(0))
        csum = np.concatenate((np.zeros((1, 3)), np.cumsum(acc, axis=0)))
        mean = (csum[stops] - csum[starts]) / (stops - starts)[:, None]
        return RestStatistics(mean, dur)


@dataclass(frozen=True, slots=True)
class AccelCalibration:
    """A fitted accelerometer correction: ``a' = c - gain_along (c · along) along`` with ``c = a - bias``.

    bias: (3,) m/s², sensor frame (zero for a sensitivity-only fit).
    along: (3,) unit vector, sensor frame (the rests' vertical), or zeros. gain_along: the relative sensitivity
    error along it (0.01: reads 1 % high).
    sd: (3,) m/s², posterior standard deviation of the bias per axis, or of ``gain_along g`` along ``along``
    (the prior where the rests said nothing).
    rests: number of rests used. spread_deg: largest angle between the verticals of two rests, degrees.
    """

    bias: FloatArray
    along: FloatArray
    gain_along: float
    sd: FloatArray
    rests: int
    spread_deg: float

    @staticmethod
    def identity(prior_sd_mps2: float = PRIOR_SD_MPS2) -> AccelCalibration:
        return AccelCalibration(np.zeros(3), np.zeros(3), 0.0, np.full(3, prior_sd_mps2), 0, 0.0)

    def apply(self, acc: FloatArray) -> FloatArray:
        """``acc`` (n, 3) m/s² corrected."""
        out = np.asarray(acc - self.bias, dtype=np.float64)
        if self.gain_along != 0.0:
            out = out - self.gain_along * (out @ self.along)[:, None] * self.along[None, :]
        return out


def _weights(stats: RestStatistics, norm_sd_mps2: float) -> FloatArray:
    return np.asarray(np.minimum(stats.duration_s, REST_CAP_S) / REST_CAP_S / norm_sd_mps2**2, dtype=np.float64)


def _spread_deg(ups: FloatArray) -> float:
    if ups.shape[0] < 2:
        return 0.0
    cos = np.clip(ups @ ups.T, -1.0, 1.0)
    return float(np.degrees(np.arccos(cos.min())))


def fit_rest_calibration(
    stats: RestStatistics,
    gravity_mps2: float,
    *,
    prior_sd_mps2: float = PRIOR_SD_MPS2,
    norm_sd_mps2: float = NORM_SD_MPS2,
) -> AccelCalibration:
    """The correction that makes ``|a'| ≈ g`` at the rests: a full bias (:func:`fit_rest_bias`) when the rests
    span :data:`FULL_FIT_SPREAD_DEG`, else a sensitivity along their mean vertical (:func:`fit_rest_gain`).
    With no rests (or ``prior_sd_mps2 == 0``: calibration off) the identity."""
    if stats.mean_acc.shape[0] == 0 or prior_sd_mps2 == 0.0:
        return AccelCalibration.identity(prior_sd_mps2)
    ups = stats.mean_acc / np.linalg.norm(stats.mean_acc, axis=1, keepdims=True)
    if _spread_deg(ups) >= FULL_FIT_SPREAD_DEG:
        return fit_rest_bias(stats, gravity_mps2, prior_sd_mps2=prior_sd_mps2, norm_sd_mps2=norm_sd_mps2)
    w = np.minimum(stats.duration_s, REST_CAP_S)
    mean_up = (ups * w[:, None]).sum(axis=0)
    return fit_rest_gain(
        stats, gravity_mps2, mean_up / np.linalg.norm(mean_up), prior_sd_mps2=prior_sd_mps2, norm_sd_mps2=norm_sd_mps2
    )


def fit_rest_bias(
    stats: RestStatistics,
    gravity_mps2: float,
    *,
    prior_sd_mps2: float = PRIOR_SD_MPS2,
    norm_sd_mps2: float = NORM_SD_MPS2,
) -> AccelCalibration:
    """Bias (3,) m/s² with ``|ā_i - b| ≈ g`` at the rests, ridge-regularised (Gauss–Newton, a few steps)."""
    m = stats.mean_acc.shape[0]
    if m == 0 or prior_sd_mps2 == 0.0:
        return AccelCalibration.identity(prior_sd_mps2)
    w = _weights(stats, norm_sd_mps2)
    b = np.zeros(3)
    info = np.eye(3) / prior_sd_mps2**2
    for _ in range(4):
        d = stats.mean_acc - b
        norm = np.linalg.norm(d, axis=1)
        u = d / norm[:, None]
        # residual r = |a - b| - g; d r / d b = -u; solve for the full b (prior at 0)
        info = np.eye(3) / prior_sd_mps2**2 + (u * w[:, None]).T @ u
        rhs = (u * w[:, None]).T @ (norm - gravity_mps2 + u @ b)
        b = np.linalg.solve(info, rhs)
    cov = np.linalg.inv(info)
    d = stats.mean_acc - b
    ups = d / np.linalg.norm(d, axis=1, keepdims=True)
    return AccelCalibration(b, np.zeros(3), 0.0, np.sqrt(np.diag(cov)), m, _spread_deg(ups))


def fit_rest_gain(
    stats: RestStatistics,
    gravity_mps2: float,
    along: FloatArray,
    *,
    prior_sd_mps2: float = PRIOR_SD_MPS2,
    norm_sd_mps2: float = NORM_SD_MPS2,
) -> AccelCalibration:
    """Sensitivity error along the unit vector ``along`` (3,) from the rests: with ``c_i`` the cosine of each
    rest's vertical to it, ``c_i² β ≈ |ā_i| - g`` (ridge, the prior ``prior_sd_mps2`` on ``β``), ``gain = β / g``.
    """
    u0 = np.asarray(along, dtype=np.float64)
    m = stats.mean_acc.shape[0]
    if m == 0 or prior_sd_mps2 == 0.0:
        return AccelCalibration.identity(prior_sd_mps2)
    norm = np.linalg.norm(stats.mean_acc, axis=1)
    cos = (stats.mean_acc @ u0) / norm
    w = _weights(stats, norm_sd_mps2)
    info = 1.0 / prior_sd_mps2**2 + float(np.sum(w * cos**4))
    beta = float(np.sum(w * cos**2 * (norm - gravity_mps2))) / info
    sd = np.sqrt(prior_sd_mps2**2 * (1.0 - u0 * u0) + u0 * u0 / info)
    return AccelCalibration(np.zeros(3), u0, beta / gravity_mps2, sd, m, _spread_deg(stats.mean_acc / norm[:, None]))
