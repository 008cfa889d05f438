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

Two uses:

* :func:`fit_rest_bias` over a whole recording (hindsight, the ``analyze`` path): one bias for the recording;
* :func:`radial_bias`: only the component along one reference vertical (the posture the wearer rests in
  most, e.g. the neutral standing), which does not turn the vertical in that posture and so keeps a neutral
  calibration taken there valid as the estimate improves (the live path, where the neutral is read once).

>>> import numpy as np
>>> g = 9.80665
>>> ups = np.array([[0.0, 0.0, 1.0], [0.0, 0.34, 0.94], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
>>> ups /= np.linalg.norm(ups, axis=1, keepdims=True)
>>> b = np.array([0.3, -0.2, 0.4])
>>> fit = fit_rest_bias(RestStatistics(g * ups + b, np.full(4, 10.0)), g)
>>> np.round(fit.bias, 2) + 0.0
array([ 0.3, -0.2,  0.4])
"""

from __future__ import annotations

import math
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
class AccelBias:
    """A fitted accelerometer bias.

    bias: (3,) m/s², sensor frame: subtract it from the accelerometer, ``a - bias``.
    sd: (3,) m/s², posterior standard deviation per axis (``prior_sd`` where the rests said nothing).
    rests: number of rests used. spread_deg: largest angle between the verticals of two rests, degrees (how
    many postures the rests span: below ~20° only the component along the vertical is known).
    """

    bias: FloatArray
    sd: FloatArray
    rests: int
    spread_deg: float

    def apply(self, acc: FloatArray) -> FloatArray:
        """``acc`` (n, 3) m/s² with the bias removed."""
        return np.asarray(acc - self.bias, dtype=np.float64)


def _weights(stats: RestStatistics, norm_sd_mps2: float) -> FloatArray:
    return np.asarray(np.minimum(stats.duration_s, REST_CAP_S) / REST_CAP_S / norm_sd_mps2**2, dtype=np.float64)


def _spread_deg(ups: FloatArray) -> float:
    if ups.shape[0] < 2:
        return 0.0
    cos = np.clip(ups @ ups.T, -1.0, 1.0)
    return float(np.degrees(np.arccos(cos.min())))


def fit_rest_bias(
    stats: RestStatistics,
    gravity_mps2: float,
    *,
    prior_sd_mps2: float = PRIOR_SD_MPS2,
    norm_sd_mps2: float = NORM_SD_MPS2,
) -> AccelBias:
    """Bias (3,) m/s² with ``|ā_i - b| ≈ g`` at the rests, ridge-regularised (Gauss–Newton, a few steps).

    With no rests (or ``prior_sd_mps2 == 0``: calibration off) the bias is zero and ``sd`` the prior."""
    m = stats.mean_acc.shape[0]
    prior = np.full(3, prior_sd_mps2)
    if m == 0 or prior_sd_mps2 == 0.0:
        return AccelBias(np.zeros(3), prior, 0, 0.0)
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
    return AccelBias(b, np.sqrt(np.diag(cov)), m, _spread_deg(ups))


def radial_bias(
    stats: RestStatistics,
    gravity_mps2: float,
    reference_up: FloatArray,
    *,
    within_deg: float = 10.0,
    prior_sd_mps2: float = PRIOR_SD_MPS2,
    norm_sd_mps2: float = NORM_SD_MPS2,
) -> AccelBias:
    """Bias along ``reference_up`` (3,) only, ``β u0``, from the rests within ``within_deg`` of it.

    Removing it changes the norm of the accelerometer in the reference posture but not its direction; in the
    other postures it turns the vertical by ``β sin(angle) / g``, which is the part of the bias's effect that a
    neutral calibration in the reference posture does not absorb."""
    u0 = np.asarray(reference_up, dtype=np.float64) / float(np.linalg.norm(reference_up))
    prior = np.full(3, prior_sd_mps2)
    m = stats.mean_acc.shape[0]
    if m == 0:
        return AccelBias(np.zeros(3), prior, 0, 0.0)
    norm = np.linalg.norm(stats.mean_acc, axis=1)
    cos = (stats.mean_acc @ u0) / norm
    near = cos >= math.cos(math.radians(within_deg))
    if not near.any():
        return AccelBias(np.zeros(3), prior, 0, 0.0)
    w = _weights(stats, norm_sd_mps2)[near]
    # |a - β u0| ≈ |a| - β cos  =>  cos β = |a| - g
    info = 1.0 / prior_sd_mps2**2 + float(np.sum(w * cos[near] ** 2))
    beta = float(np.sum(w * cos[near] * (norm[near] - gravity_mps2))) / info
    sd = prior.copy()
    sd_along = 1.0 / math.sqrt(info)
    sd = np.sqrt(prior_sd_mps2**2 * (1.0 - u0 * u0) + sd_along**2 * u0 * u0)
    return AccelBias(beta * u0, sd, int(near.sum()), 0.0)
