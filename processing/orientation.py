"""Streaming attitude (gravity direction) from gyroscope and accelerometer, with gyro-bias estimation.

The estimator returns, for every sample, the **up vector**: a unit vector in the *sensor* frame pointing away
from the Earth (the direction of the accelerometer's specific force when the sensor is still). Roll and pitch
follow from it; heading is not estimated. Downstream code (mounting calibration, tilt) rotates it into the
pelvis frame.

How it works (a complementary filter in an almost-inertial frame, vectorised):

1. The bias-corrected gyro is integrated into the orientation ``R_k`` of the sensor relative to a reference
   frame fixed at the last (re-)initialisation (quaternion prefix products; see :mod:`processing._quat`).
2. The accelerometer is rotated into that frame, ``R_k a_k``, where gravity is nearly constant, and low-passed
   there with time constant ``tau_acc_s`` (a first-order filter using the real ``dt`` of every sample; the
   first ``tau_acc_s`` after an initialisation are a running mean). Walking accelerations average out over
   strides; samples whose ``|a|`` departs far from g are down-weighted.
3. The filtered gravity is rotated back: ``up_k = R_kᵀ ĝ_k / |ĝ_k|``.

Both passes below run at a group rate (:class:`_GroupFilter`) on the same groups: a power-of-two number of
samples (4 at 100 Hz, so about 25 groups/s), aligned to the sample index since the stream start. Each sample is
touched once per chunk, to add it to its group's bias-free sums (``θ_i = ω_i dt_i``: ``Σ θ_i``,
``½ Σ_{i<j} θ_i × θ_j``, ``½ Σ_{i<j} dt_i dt_j (ω_i - ω_j)``, ...); since the bias ``b`` is constant within a
group, the bias-corrected group rotation then follows at group level, ``Θ(b) = S - b Σ dt + C - D × b``,
exactly to second order. The accelerometer is averaged in the group's starting frame and the low-pass updated
once per group; each sample's ``up`` is its group's starting ``up`` carried by the intra-group rotation. The
output is the same as per-sample integration to ~0.01° RMS (simulated walking).

Gyro bias is piecewise constant over bias blocks of about ``bias_block_s`` seconds (the block of a group is
that of its first sample's time since the first sample, so independent of the caller's chunking) and updated
at each block boundary:

* **at rest** (gyro and accelerometer steady for ``rest_min_s``): towards the mean gyro over the rest samples;
* **in motion**: from the drift of the low-passed gravity in the gyro-integrated frame of a first pass that uses
  only the rest estimate. The drift over a block equals ``P A e`` (``A = Σ R_k dt``, ``P`` projects
  perpendicular to gravity, ``e`` the residual bias), which reveals the bias components perpendicular to
  gravity; a second pass then integrates with the full estimate. Only the second pass produces ``up``.

Gaps (a step in ``t`` longer than ``gap_periods`` nominal periods or ``gap_s``) re-initialise the attitude from
the accelerometer and keep the bias. Results do not depend on chunking (to ~1e-12): one call over a
recording equals any sequence of calls over its pieces.

>>> import numpy as np
>>> from processing.samples import Samples
>>> n = 200
>>> t = np.arange(n) / 100.0
>>> acc = np.tile([0.0, 9.80665 * np.sin(0.3), 9.80665 * np.cos(0.3)], (n, 1))
>>> est = OrientationEstimator()
>>> res = est.update(Samples(t, acc, np.zeros((n, 3))))
>>> np.round(res.up[-1], 6) + 0.0
array([0.      , 0.29552 , 0.955336])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
from numpy.typing import NDArray

from processing import _quat
from processing.samples import STANDARD_GRAVITY, FloatArray, Samples

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: Internal processing block, samples: large enough that numpy's per-call overhead on the group-rate arrays
#: (a quarter of this) is small (16384 was 10 % slower, 65536 no faster), small enough for cheap temporaries.
_CHUNK = 32768
#: Chunks up to this many samples are processed sample by sample in plain Python (live streams).
_SMALL_N = 16
#: Consecutive sample intervals (index-aligned) whose median (of every 8th) is the nominal period for the next.
_DT_BLOCK = 1024
#: Smallest cumulative decay factor (e^-500) handled in one pass of the linear recursion before re-basing.
_MIN_PROD = math.exp(-500.0)
#: Both passes run on groups of a power-of-two number of samples, at about this rate, Hz.
_GROUP_RATE_HZ = 25.0
#: Largest group, samples.
_MAX_GROUP = 16


@dataclass(frozen=True, slots=True)
class OrientationParams:
    """Parameters of :class:`OrientationEstimator` (all SI; validated on construction).

    tau_acc_s: time constant of the gravity low-pass in the gyro-integrated frame, s. Longer averages walking
        accelerations better but lets gyro errors act longer.
    acc_weight_lo_mps2, acc_weight_hi_mps2: a sample's weight in the gravity low-pass falls linearly from 1
        to 0 as ``||a| - gravity_mps2|`` goes from lo to hi, m/s² (impacts, saturation).
    gravity_mps2: magnitude of gravity, m/s².
    gap_s: a step in ``t`` longer than this is a gap, s.
    gap_periods: a step longer than this many nominal periods is a gap.
    rate_hz: nominal sample rate, Hz; None estimates the period from the previous 1024 intervals (median).
    bias_block_s: the bias is constant over blocks of this length and updated at their boundaries, s.
    bias_max_rps: bound on each bias estimate's norm, rad/s.
    rest_gyro_rps: at rest, the gyro stays within this of its 0.5 s low-pass, rad/s.
    rest_acc_mps2: at rest, the accelerometer stays within this of its low-pass, m/s².
    rest_filter_tau_s: time constant of the rest-detection low-passes, s.
    rest_min_s: stillness must last this long to count as rest, s.
    rest_bias_tau_s: time constant of the bias update from rest samples (in seconds of rest), s.
    motion_bias_tau_s: time constant of the bias update in motion, s.
    motion_bias_reg: regularisation of the motion-bias least squares (fraction of a fully observable block);
        components seen less than this are barely updated.
    initial_bias_rps: bias at start and after :meth:`OrientationEstimator.reset`, rad/s, sensor frame.
    """

    tau_acc_s: float = 4.0
    acc_weight_lo_mps2: float = 6.0
    acc_weight_hi_mps2: float = 12.0
    gravity_mps2: float = STANDARD_GRAVITY
    gap_s: float = 0.5
    gap_periods: float = 3.0
    rate_hz: float | None = None
    bias_block_s: float = 5.0
    bias_max_rps: float = math.radians(5.0)
    rest_gyro_rps: float = math.radians(2.0)
    rest_acc_mps2: float = 0.5
    rest_filter_tau_s: float = 0.5
    rest_min_s: float = 1.5
    rest_bias_tau_s: float = 3.0
    motion_bias_tau_s: float = 100.0
    motion_bias_reg: float = 0.1
    initial_bias_rps: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        positive = (
            "tau_acc_s",
            "acc_weight_hi_mps2",
            "gravity_mps2",
            "gap_s",
            "bias_block_s",
            "bias_max_rps",
            "rest_gyro_rps",
            "rest_acc_mps2",
            "rest_filter_tau_s",
            "rest_bias_tau_s",
            "motion_bias_tau_s",
            "motion_bias_reg",
        )
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"OrientationParams.{name} must be a finite number > 0, got {value!r}")
        if not 0 <= self.acc_weight_lo_mps2 < self.acc_weight_hi_mps2:
            raise ValueError("OrientationParams needs 0 <= acc_weight_lo_mps2 < acc_weight_hi_mps2")
        if not (math.isfinite(self.gap_periods) and self.gap_periods > 1):
            raise ValueError(f"OrientationParams.gap_periods must be > 1, got {self.gap_periods!r}")
        if self.rest_min_s < 0:
            raise ValueError(f"OrientationParams.rest_min_s must be >= 0, got {self.rest_min_s!r}")
        if self.rate_hz is not None and not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"OrientationParams.rate_hz must be None or > 0, got {self.rate_hz!r}")
        if len(self.initial_bias_rps) != 3 or not all(math.isfinite(v) for v in self.initial_bias_rps):
            raise ValueError("OrientationParams.initial_bias_rps must be three finite numbers (rad/s)")


@dataclass(frozen=True, slots=True)
class OrientationResult:
    """Per-sample output of :meth:`OrientationEstimator.update`.

    t: (n,) float, s, the input sample times.
    up: (n, 3) float, unit vector in the sensor frame pointing up (away from the Earth); equals
        ``acc / |acc|`` for a sensor at rest. Tilt of sensor axis ``u`` from vertical: ``arccos(up @ u)``.
    bias: (n, 3) float, rad/s, sensor frame: the gyro bias subtracted at each sample.
    rest: (n,) bool, the sensor was at rest (steady for ``rest_min_s``).
    reinit: (n,) bool, the attitude was re-initialised from this sample's accelerometer alone (first sample,
        first after a gap); ``up`` is less certain for about ``tau_acc_s`` afterwards.
    """

    t: FloatArray
    up: FloatArray
    bias: FloatArray
    rest: BoolArray
    reinit: BoolArray

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @staticmethod
    def concat(parts: Sequence[OrientationResult]) -> OrientationResult:
        """Join consecutive results (e.g. from a stream of chunks)."""
        if not parts:
            return OrientationResult(
                np.empty(0), np.empty((0, 3)), np.empty((0, 3)), np.empty(0, bool), np.empty(0, bool)
            )
        return OrientationResult(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(OrientationResult))
        )


def _linrec(c: FloatArray, u: FloatArray, y0: FloatArray) -> FloatArray:
    """Solve ``y_k = c_k y_{k-1} + u_k`` for (m,) ``c`` in (0, 1], (ch, m) ``u`` and (ch,) ``y0``.

    Closed form ``y_k = P_k (y0 + Σ_{i<=k} u_i / P_i)`` with ``P = cumprod(c)``, re-based whenever ``P`` falls
    below ``e^-500`` so that nothing underflows. Channels are summed in complex pairs: numpy's cumsum is
    sequential, and a complex one costs the same as a real one.
    """
    prod = np.cumprod(c)
    if prod[-1] < _MIN_PROD:
        if c.min() < _MIN_PROD:
            return _linrec(np.maximum(c, _MIN_PROD), u, y0)
        cut = max(1, int(np.searchsorted(-prod, -_MIN_PROD, side="right")))
        head = _linrec(c[:cut], u[:, :cut], y0)
        tail = _linrec(c[cut:], u[:, cut:], head[:, -1])
        return np.concatenate((head, tail), axis=1)
    ch, m = u.shape
    out = np.empty((ch, m))
    pair = np.empty(m, dtype=np.complex128)
    for i in range(0, ch - 1, 2):
        np.divide(u[i], prod, out=pair.real)
        np.divide(u[i + 1], prod, out=pair.imag)
        np.cumsum(pair, out=pair)
        out[i] = pair.real
        out[i + 1] = pair.imag
    if ch % 2:
        np.divide(u[ch - 1], prod, out=out[ch - 1])
        np.cumsum(out[ch - 1], out=out[ch - 1])
    out += y0[:, None]
    out *= prod
    return out


def _solve3(m: list[float], rhs: list[float]) -> list[float]:
    """Solve a 3x3 system (row-major ``m``) by Cramer's rule."""
    a, b, c, d, e, f, g, h, i = m
    co0, co1, co2 = e * i - f * h, f * g - d * i, d * h - e * g
    det = a * co0 + b * co1 + c * co2
    inv = (
        co0, c * h - b * i, b * f - c * e,
        co1, a * i - c * g, c * d - a * f,
        co2, b * g - a * h, a * e - b * d,
    )  # fmt: skip
    return [(inv[3 * r] * rhs[0] + inv[3 * r + 1] * rhs[1] + inv[3 * r + 2] * rhs[2]) / det for r in range(3)]


@dataclass(frozen=True, slots=True)
class _BlockStats:
    """Pass-1 statistics of one complete bias block."""

    a_sum: list[float]  # Σ R dt, row-major 3x3, s
    t_sum: float  # Σ dt, s
    g_end: list[float]  # low-passed gravity at the block's end, pass-1 frame
    has_init: bool  # a re-initialisation happened in the block


def _group_size(dt_s: float) -> int:
    """Samples per group for a sample period: a power of two giving a group rate near
    ``_GROUP_RATE_HZ`` (1 at 25 Hz and below, 4 at 100 Hz, at most ``_MAX_GROUP``)."""
    ratio = 1.0 / (dt_s * _GROUP_RATE_HZ)
    if not math.isfinite(ratio) or ratio < 1.5:
        return 1
    return min(_MAX_GROUP, 1 << round(math.log2(ratio)))


# Rows of a group's raw (bias-free) sums, for groups of samples i = 1..c with θ_i = ω_i dt_i,
# φ_i = Σ_{j<=i} θ_j, τ_i = Σ_{j<=i} dt_j: S = φ_c; C = ½ Σ_{i<j} θ_i × θ_j; D = ½ Σ_{i<j} dt_i dt_j (ω_i - ω_j);
# P = Σ φ_i; A = Σ w_i a_i; Q = Σ τ_i; T = τ_c; W = Σ w_i; N = c.
_S, _C, _D, _P, _A = slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 12), slice(12, 15)
_Q, _T, _W, _N = 15, 16, 17, 18
_ROWS = 19


def _cross(x: FloatArray, y: FloatArray) -> FloatArray:
    """``x × y`` for (3, ...) arrays."""
    return np.stack((x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]))


def _combine(o: list[float], x: FloatArray) -> None:
    """Prepend the open group's sums ``o`` to the group sums ``x`` (19,) in place."""
    s0, s1, s2 = o[0:3]
    h0, h1, h2 = x[_S].tolist()
    to, th, nh = o[_T], float(x[_T]), float(x[_N])
    x[_C] += np.add(o[3:6], 0.5 * np.array((s1 * h2 - s2 * h1, s2 * h0 - s0 * h2, s0 * h1 - s1 * h0)))
    x[_D] += np.add(o[6:9], 0.5 * (th * np.array(o[0:3]) - to * np.array((h0, h1, h2))))
    x[_P] += np.add(o[9:12], nh * np.array(o[0:3]))
    x[_Q] += o[_Q] + nh * to
    x[_S] += o[0:3]
    x[_A] += o[12:15]
    x[_T] += to
    x[_W] += o[_W]
    x[_N] += o[_N]


def _add_sample(o: list[float], g: Sequence[float], a: Sequence[float], dt: float, w: float) -> None:
    """Add one sample (raw gyro ``g``, accelerometer ``a``) to the open group's sums ``o``."""
    t0, t1, t2 = g[0] * dt, g[1] * dt, g[2] * dt
    p0, p1, p2, tau = o[0], o[1], o[2], o[_T]
    o[3] += 0.5 * (p1 * t2 - p2 * t1)
    o[4] += 0.5 * (p2 * t0 - p0 * t2)
    o[5] += 0.5 * (p0 * t1 - p1 * t0)
    o[6] += 0.5 * (dt * p0 - tau * t0)
    o[7] += 0.5 * (dt * p1 - tau * t1)
    o[8] += 0.5 * (dt * p2 - tau * t2)
    p0, p1, p2, tau = p0 + t0, p1 + t1, p2 + t2, tau + dt
    o[0], o[1], o[2], o[_T] = p0, p1, p2, tau
    o[9] += p0
    o[10] += p1
    o[11] += p2
    o[12] += w * a[0]
    o[13] += w * a[1]
    o[14] += w * a[2]
    o[_Q] += tau
    o[_W] += w
    o[_N] += 1.0


def _slots(x: FloatArray, front: int, gs: int, ng: int) -> FloatArray:
    """(ch, L) consecutive samples -> (ch, gs, ng) slot-major groups, the first sample in slot ``front`` of
    group 0; padding slots are zero."""
    ch, n = x.shape
    out = np.empty((ch, gs, ng))
    k = g0 = 0
    if front:
        k = min(n, gs - front)
        out[:, :, 0] = 0.0
        out[:, front : front + k, 0] = x[:, :k]
        g0 = 1
    mid = (n - k) // gs
    if mid:
        out[:, :, g0 : g0 + mid] = x[:, k : k + mid * gs].reshape(ch, mid, gs).transpose(0, 2, 1)
    r = n - k - mid * gs
    if r:
        out[:, :, -1] = 0.0
        out[:, :r, -1] = x[:, n - r :]
    return out


def _unslot(v: FloatArray, out: FloatArray, front: int) -> None:
    """Inverse of :func:`_slots`: (ch, gs, ng) groups -> ``out`` (L, ch), sample-major."""
    ch, gs, _ = v.shape
    n = out.shape[0]
    k = g0 = 0
    if front:
        k = min(n, gs - front)
        out[:k] = v[:, front : front + k, 0].T
        g0 = 1
    mid = (n - k) // gs
    if mid:
        out[k : k + mid * gs].reshape(mid, gs, ch)[...] = v[:, :, g0 : g0 + mid].transpose(2, 1, 0)
    r = n - k - mid * gs
    if r:
        out[n - r :] = v[:, :r, -1].T


def _group_sums(th: FloatArray, tau: FloatArray, wa: FloatArray, ws: FloatArray) -> FloatArray:
    """Raw sums (19, ng) of slot-major groups from θ (3, gs, ng) and dt (gs, ng), which become φ and τ in
    place, and the weighted accelerometer (3, gs, ng) with its weights (gs, ng). Padding counts as samples."""
    gs, ng = tau.shape
    for j in range(1, gs):  # prefix sums over slots (numpy's cumsum along a middle axis is slow)
        th[:, j] += th[:, j - 1]
        tau[j] += tau[j - 1]
    x = np.empty((_ROWS, ng))
    x[_S] = th[:, -1]
    if gs > 1:
        p, q = th[:, :-1], th[:, 1:]  # Σ_{i<j} θ_i × θ_j = Σ_j φ_{j-1} × φ_j
        x[3] = (p[1] * q[2] - p[2] * q[1]).sum(axis=0)
        x[4] = (p[2] * q[0] - p[0] * q[2]).sum(axis=0)
        x[5] = (p[0] * q[1] - p[1] * q[0]).sum(axis=0)
        x[_C] *= 0.5
        # Σ_{i<j} (dt_j θ_i - dt_i θ_j) = Σ_j (τ_j φ_{j-1} - τ_{j-1} φ_j)
        x[_D] = (tau[1:] * p - tau[:-1] * q).sum(axis=1)
        x[_D] *= 0.5
    else:
        x[3:9] = 0.0
    x[_P] = th.sum(axis=1)
    x[_A] = wa.sum(axis=1)
    x[_Q] = tau.sum(axis=0)
    x[_T] = tau[-1]
    x[_W] = ws.sum(axis=0)
    x[_N] = gs
    return x


class _GroupFilter:
    """The complementary filter updated once per group, from the group's raw sums and a bias ``b``.

    The bias-corrected group rotation is ``Θ = S - b T + C - D × b`` (second order, exact for the sums: the
    bias is constant within a group); the accelerometer is the weighted mean rotated into the group's starting
    frame to first order by the mean intra-group rotation ``(P - b Q) / N``; the gravity low-pass then runs once
    per group in the frame of the last (re-)initialisation. :meth:`close` (plain Python, one group) and
    :meth:`run` (numpy, many) are the same arithmetic. ``u`` is the up vector at the end of the last group.
    """

    def __init__(self) -> None:
        self.qa = 1.0 + 0.0j
        self.qb = 0.0j
        self.g = [0.0, 0.0, 0.0]
        self.u = [0.0, 0.0, 1.0]
        self.count = 0

    def init(self, a: Sequence[float]) -> None:
        """Re-initialise from one accelerometer sample."""
        a0, a1, a2 = a
        self.qa, self.qb = 1.0 + 0.0j, 0.0j
        self.g = [a0, a1, a2]
        self.count = 1
        n = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
        self.u = [a0 / n, a1 / n, a2 / n]

    def close(self, o: list[float], b: Sequence[float], k_acc: float, with_u: bool) -> tuple[float, ...]:
        """Update with one group's sums ``o``; returns the rotation matrix at its start (row-major)."""
        b0, b1, b2 = b
        s0, s1, s2, c0, c1, c2, d0, d1, d2, p0, p1, p2, a0, a1, a2, q, t, w, n = o
        v0 = s0 - b0 * t + c0 - (d1 * b2 - d2 * b1)
        v1 = s1 - b1 * t + c1 - (d2 * b0 - d0 * b2)
        v2 = s2 - b2 * t + c2 - (d0 * b1 - d1 * b0)
        m0, m1, m2 = (p0 - b0 * q) / n, (p1 - b1 * q) / n, (p2 - b2 * q) / n
        inv = 1.0 / max(w, 1e-300)
        a0, a1, a2 = a0 * inv, a1 * inv, a2 * inv
        a0, a1, a2 = a0 + (m1 * a2 - m2 * a1), a1 + (m2 * a0 - m0 * a2), a2 + (m0 * a1 - m1 * a0)
        r = _matrix(self.qa, self.qb)
        self.count += int(n)
        beta = max(-math.expm1(t * k_acc), n / self.count) * (w / n)
        keep = 1.0 - beta
        g = self.g
        s0 = keep * g[0] + beta * (r[0] * a0 + r[1] * a1 + r[2] * a2)
        s1 = keep * g[1] + beta * (r[3] * a0 + r[4] * a1 + r[5] * a2)
        s2 = keep * g[2] + beta * (r[6] * a0 + r[7] * a1 + r[8] * a2)
        self.g = [s0, s1, s2]
        h2 = 0.25 * (v0 * v0 + v1 * v1 + v2 * v2)
        if h2 < 0.01:
            cw = ((((h2 * (1.0 / 40320.0) - 1.0 / 720.0) * h2 + 1.0 / 24.0) * h2 - 0.5) * h2) + 1.0
            sc = ((h2 * (-1.0 / 10080.0) + 1.0 / 240.0) * h2 - 1.0 / 12.0) * h2 + 0.5
        else:
            half = math.sqrt(h2)
            cw = math.cos(half)
            sc = math.sin(half) / (2.0 * half)
        da, db = complex(cw, sc * v0), complex(sc * v1, sc * v2)
        qa, qb = self.qa, self.qb
        qa, qb = qa * da - qb * db.conjugate(), qa * db + qb * da.conjugate()
        norm = math.sqrt(abs(qa) ** 2 + abs(qb) ** 2)
        self.qa, self.qb = qa / norm, qb / norm
        if with_u:
            e = _matrix(self.qa, self.qb)
            u0 = e[0] * s0 + e[3] * s1 + e[6] * s2
            u1 = e[1] * s0 + e[4] * s1 + e[7] * s2
            u2 = e[2] * s0 + e[5] * s1 + e[8] * s2
            un = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
            self.u = [u0 / un, u1 / un, u2 / un]
        return r

    def run(
        self, x: FloatArray, b: FloatArray, k_acc: float, with_u: bool
    ) -> tuple[FloatArray, FloatArray, FloatArray | None]:
        """Update with the sums ``x`` (19, m) of consecutive groups and their biases ``b`` (3, m); returns the
        rotation matrices at the groups' starts (9, m), the low-passed gravity after each (3, m) and, if
        ``with_u``, the up vector after each (3, m)."""
        s, c, d = x[_S], x[_C], x[_D]
        t, w, n = x[_T], x[_W], x[_N]
        rot = s - b * t
        rot += c
        rot -= _cross(d, b)
        mean = (x[_P] - b * x[_Q]) / n
        ab = x[_A] / np.maximum(w, 1e-300)
        ab += _cross(mean, ab)
        qa, qb = _quat.from_rotvec(rot)
        a0, b0 = complex(qa[0]), complex(qb[0])
        qa[0] = self.qa * a0 - self.qb * b0.conjugate()
        qb[0] = self.qa * b0 + self.qb * a0.conjugate()
        pa, pb = _quat.scan(qa, qb)
        r = _quat.to_matrix(np.concatenate(([self.qa], pa)), np.concatenate(([self.qb], pb)))
        aref = _quat.rotate(r[:, :-1], ab)
        ends = np.cumsum(n)
        ends += self.count
        beta = np.maximum(-np.expm1(t * k_acc), n / ends)
        beta *= w / n
        aref *= beta
        gsm = _linrec(1.0 - beta, aref, np.array(self.g))
        ue = None
        if with_u:
            ue = _quat.rotate_inverse(r[:, 1:], gsm)
            ue /= np.sqrt(ue[0] * ue[0] + ue[1] * ue[1] + ue[2] * ue[2])
            self.u = ue[:, -1].tolist()
        norm = math.sqrt(abs(complex(pa[-1])) ** 2 + abs(complex(pb[-1])) ** 2)
        self.qa, self.qb = complex(pa[-1]) / norm, complex(pb[-1]) / norm
        self.g = gsm[:, -1].tolist()
        self.count = int(ends[-1])
        return r[:, :-1], gsm, ue


def _matrix(qa: complex, qb: complex) -> tuple[float, ...]:
    """Row-major rotation matrix of one unit quaternion (as :func:`processing._quat.to_matrix`)."""
    w_, x_, y_, z_ = qa.real, qa.imag, qb.real, qb.imag
    ww, xx, yy, zz = w_ * w_, x_ * x_, y_ * y_, z_ * z_
    xy, zw, xz, yw, yz, xw = x_ * y_, z_ * w_, x_ * z_, y_ * w_, y_ * z_, x_ * w_
    return (
        ww + xx - yy - zz, 2.0 * (xy - zw), 2.0 * (xz + yw),
        2.0 * (xy + zw), ww - xx + yy - zz, 2.0 * (yz - xw),
        2.0 * (xz - yw), 2.0 * (yz + xw), ww - xx - yy + zz,
    )  # fmt: skip


class OrientationEstimator:
    """Streaming gravity-direction (roll/pitch) estimator; see the module docstring.

    ``update(samples)`` accepts chunks of any size (1 sample to a whole recording) and returns one
    :class:`OrientationResult` row per input sample; ``reset()`` forgets everything except the parameters.
    """

    def __init__(self, params: OrientationParams | None = None) -> None:
        self.params = params if params is not None else OrientationParams()
        self.reset()

    def reset(self) -> None:
        """Forget all state (attitude, bias, rest, timing); the next sample initialises."""
        p = self.params
        self._t_last = math.nan
        self._t_origin = math.nan
        self._dt_buf = np.empty(0)
        self._dt_nom = 1.0 / p.rate_hz if p.rate_hz is not None else math.inf
        # rest detection
        self._gy_lp = np.zeros(3)
        self._ac_lp = np.zeros(3)
        self._t_moving = -math.inf
        # bias: rest part (absolute) and motion part (residual relative to the rest part); the current bias
        # block for each, the rest samples of the current block, the end of the previous block in pass 1
        self._b_rest = np.array(p.initial_bias_rps, dtype=np.float64)
        self._b_mot = np.zeros(3)
        self._blk = -1
        self._rest_t = 0.0
        self._rest_sum = np.zeros(3)
        self._blk_m = -1
        self._g1_last: list[float] | None = None
        # pass-1 statistics of the current bias block so far: Σ R T (row-major 3x3), Σ T, a re-initialisation
        self._st_a = [0.0] * 9
        self._st_t = 0.0
        self._st_init = False
        # groups: size (0 until the first non-initialising sample), samples since the reset (groups are aligned
        # to this index), raw sums of the open group and its bias block
        self._gs = _group_size(1.0 / p.rate_hz) if p.rate_hz is not None else 0
        self._n_seen = 0
        self._open = [0.0] * _ROWS
        self._open_blk = -1
        self._f1 = _GroupFilter()  # pass 1: rest bias only
        self._f2 = _GroupFilter()  # pass 2: full bias; the output

    def update(self, samples: Samples) -> OrientationResult:
        """Process a chunk; rows of the result correspond to ``samples``. Raises ValueError if ``t`` does not
        increase (also across calls) or if values are not finite."""
        n = len(samples)
        if n == 0:
            return OrientationResult.concat([])
        t = np.asarray(samples.t, dtype=np.float64)
        acc = np.asarray(samples.acc, dtype=np.float64)
        gyro = np.asarray(samples.gyro, dtype=np.float64)
        if n <= _SMALL_N:
            tl, al, gl = t.tolist(), acc.tolist(), gyro.tolist()
            if not all(math.isfinite(v) for v in itertools.chain(tl, *al, *gl)):
                raise ValueError("orientation: samples contain NaN or infinite values; drop or repair them first")
            return self._process_small(tl, al, gl)
        if not (np.isfinite(t).all() and np.isfinite(acc).all() and np.isfinite(gyro).all()):
            raise ValueError("orientation: samples contain NaN or infinite values; drop or repair them first")
        parts = []
        for s in range(0, n, _CHUNK):
            e = min(n, s + _CHUNK)
            parts.append(self._process(t[s:e], np.ascontiguousarray(acc[s:e].T), np.ascontiguousarray(gyro[s:e].T)))
        return parts[0] if len(parts) == 1 else OrientationResult.concat(parts)

    # -- internals ---------------------------------------------------------------------------------------

    def _process_small(self, tl: list[float], al: list[list[float]], gl: list[list[float]]) -> OrientationResult:
        """The same computation as :meth:`_process`, sample by sample in plain Python floats (numpy's per-call
        overhead dominates for a few samples: the live case)."""
        p = self.params
        n = len(tl)
        first = math.isnan(self._t_last)
        if first:
            self._t_origin = tl[0]
        dts = [tl[0] - self._t_last if not first else 0.0]
        dts += [tl[k] - tl[k - 1] for k in range(1, n)]
        if not all(d > 0 for d in dts[1 if first else 0 :]):
            raise ValueError("orientation: sample times must be strictly increasing (also across chunks)")
        nominal = [math.inf] if first else []
        if n > len(nominal):
            nominal += self._nominal_dt(np.array(dts[len(nominal) :])).tolist()
        inits = []
        for k in range(n):
            gap = min(p.gap_s, p.gap_periods * nominal[k])
            i0 = dts[k] > gap or (k == 0 and first)
            inits.append(i0)
            if i0:
                dts[k] = 0.0
        self._t_last = tl[-1]

        # rest detection and weights
        gx, gy, gz = self._gy_lp.tolist()
        ax, ay, az = self._ac_lp.tolist()
        kr = -1.0 / p.rest_filter_tau_s
        g_thr, a_thr = p.rest_gyro_rps**2, p.rest_acc_mps2**2
        t_moving = self._t_moving
        w_scale = 1.0 / (p.acc_weight_hi_mps2 - p.acc_weight_lo_mps2)
        rest_l, w_l = [], []
        for k in range(n):
            g0, g1, g2 = gl[k]
            a0, a1, a2 = al[k]
            t = tl[k]
            if inits[k]:
                gx, gy, gz, ax, ay, az = g0, g1, g2, a0, a1, a2
                still = False
            else:
                logc = dts[k] * kr
                c = math.exp(logc)
                e = -math.expm1(logc)
                gx, gy, gz = c * gx + g0 * e, c * gy + g1 * e, c * gz + g2 * e
                ax, ay, az = c * ax + a0 * e, c * ay + a1 * e, c * az + a2 * e
                still = (g0 - gx) ** 2 + (g1 - gy) ** 2 + (g2 - gz) ** 2 < g_thr and (a0 - ax) ** 2 + (a1 - ay) ** 2 + (
                    a2 - az
                ) ** 2 < a_thr
            if not still:
                t_moving = max(t_moving, t)
            rest_l.append((t - t_moving) >= p.rest_min_s)
            dev = abs(math.sqrt(a0 * a0 + a1 * a1 + a2 * a2) - p.gravity_mps2)
            w_l.append(min(1.0, max(0.0, (p.acc_weight_hi_mps2 - dev) * w_scale)))
        self._gy_lp = np.array((gx, gy, gz))
        self._ac_lp = np.array((ax, ay, az))
        self._t_moving = t_moving

        # groups: bias blocks, rest bias, both passes, per sample
        o = self._open
        f1, f2 = self._f1, self._f2
        k_acc = -1.0 / p.tau_acc_s
        inv_blk = 1.0 / p.bias_block_s
        base = self._n_seen
        self._n_seen += n
        up_l, bias_l = [], []
        br = self._b_rest.tolist()
        bm = self._b_mot.tolist()
        for k in range(n):
            a, g, dt = al[k], gl[k], dts[k]
            if inits[k] or o[_N] == 0.0:
                blk = math.floor((tl[k] - self._t_origin) * inv_blk)
                if blk != self._blk:
                    self._enter_block(blk)
                    br = self._b_rest.tolist()
                    bm = self._b_mot.tolist()
                self._open_blk = blk
            b = (br[0] + bm[0], br[1] + bm[1], br[2] + bm[2])
            bias_l.append(b)
            if inits[k]:
                o[:] = [0.0] * _ROWS
                f1.init(a)
                f2.init(a)
                self._st_init = True
                up_l.append(tuple(f2.u))
                continue
            if rest_l[k]:
                self._rest_t += dt
                self._rest_sum += (g[0] * dt, g[1] * dt, g[2] * dt)
            if self._gs == 0:
                self._gs = _group_size(dt)
            _add_sample(o, g, a, dt, w_l[k])
            if (base + k) % self._gs == self._gs - 1:
                r = f1.close(o, br, k_acc, False)
                tg = o[_T]
                self._st_a = [s + v * tg for s, v in zip(self._st_a, r, strict=True)]
                self._st_t += tg
                f2.close(o, b, k_acc, True)
                o[:] = [0.0] * _ROWS
                up_l.append(tuple(f2.u))
                continue
            u0, u1, u2 = f2.u
            tg = o[_T]
            p0, p1, p2 = o[0] - b[0] * tg, o[1] - b[1] * tg, o[2] - b[2] * tg
            v0 = u0 - (p1 * u2 - p2 * u1)
            v1 = u1 - (p2 * u0 - p0 * u2)
            v2 = u2 - (p0 * u1 - p1 * u0)
            vn = math.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
            up_l.append((v0 / vn, v1 / vn, v2 / vn))
        return OrientationResult(
            np.array(tl), np.array(up_l), np.array(bias_l), np.array(rest_l, dtype=bool), np.array(inits, dtype=bool)
        )

    def _enter_block(self, blk: int) -> None:
        """A group starts bias block ``blk`` (live path): close the previous block for both bias estimates."""
        updated = self._finish_rest_block()
        self._blk = blk
        if self._blk_m >= 0:
            st = _BlockStats(self._st_a, self._st_t, list(self._f1.g), self._st_init)
            self._finish_motion_block(updated, self._b_rest, st)
        self._blk_m = blk
        self._st_a, self._st_t, self._st_init = [0.0] * 9, 0.0, False

    def _nominal_dt(self, dt: FloatArray) -> FloatArray:
        """Nominal period for each interval: median of the previous index-aligned block of intervals."""
        if self.params.rate_hz is not None:
            return np.full(dt.shape[0], self._dt_nom)
        buf = np.concatenate((self._dt_buf, dt))
        full = buf.shape[0] // _DT_BLOCK
        per_block = np.full(full + 1, self._dt_nom)
        if full:
            per_block[1:] = np.median(buf[: full * _DT_BLOCK].reshape(full, _DT_BLOCK)[:, ::8], axis=1)
            self._dt_nom = float(per_block[-1])
        counts = np.full(full + 1, _DT_BLOCK)
        counts[-1] = buf.shape[0] - full * _DT_BLOCK
        counts[0] -= self._dt_buf.shape[0]
        nominal = np.repeat(per_block, counts)
        self._dt_buf = buf[full * _DT_BLOCK :].copy()
        return nominal

    def _process(self, t: FloatArray, acc: FloatArray, gyro: FloatArray) -> OrientationResult:
        p = self.params
        n = t.shape[0]
        first = math.isnan(self._t_last)
        if first:
            self._t_origin = float(t[0])
        dt = np.empty(n)
        dt[0] = t[0] - self._t_last if not first else 0.0
        np.subtract(t[1:], t[:-1], out=dt[1:])
        if first:
            if n > 1 and not (dt[1:] > 0).all():
                raise ValueError("orientation: sample times must be strictly increasing")
            nominal = np.full(n, math.inf)
            nominal[1:] = self._nominal_dt(dt[1:])
        else:
            if not (dt > 0).all():
                raise ValueError("orientation: sample times must be strictly increasing (also across chunks)")
            nominal = self._nominal_dt(dt)
        init = dt > np.minimum(p.gap_s, p.gap_periods * nominal)
        init[0] |= first
        dt[init] = 0.0
        self._t_last = float(t[-1])
        inits = np.flatnonzero(init).tolist()

        seg_bounds = [*inits, n] if inits and inits[0] == 0 else [0, *inits, n]
        rest = self._rest(t, acc, gyro, dt, init, seg_bounds)

        anorm = np.sqrt(acc[0] * acc[0] + acc[1] * acc[1] + acc[2] * acc[2])
        dev = np.abs(anorm - p.gravity_mps2)
        w = np.clip((p.acc_weight_hi_mps2 - dev) * (1.0 / (p.acc_weight_hi_mps2 - p.acc_weight_lo_mps2)), 0, 1)

        # groups: runs between re-initialisations, each in a slot-major layout aligned to the sample index since
        # the reset; a re-initialising sample is a group of its own and drops the group it interrupts. Parts:
        # (first group, groups, last group complete, run start, run stop, front, φ, τ) or (group, -1, ...) for
        # a re-initialisation
        base = self._n_seen
        self._n_seen += n
        if self._gs == 0 and len(inits) < n:
            self._gs = _group_size(float(dt[np.flatnonzero(~init)[0]]))
        gs = self._gs
        xs: list[FloatArray] = []
        firsts: list[IntArray] = []
        parts: list[tuple[int, int, bool, int, int, int, FloatArray, FloatArray]] = []
        none = np.empty(0)
        ng_all = 0
        carry = self._open[_N] > 0
        pos = 0
        for stop in [*inits, n]:
            if stop > pos:
                m = stop - pos
                front = (base + pos) % gs
                ng = (front + m + gs - 1) // gs
                th = _slots(gyro[:, pos:stop], front, gs, ng)
                tau = _slots(dt[None, pos:stop], front, gs, ng)[0]
                th *= tau
                ws = _slots(w[None, pos:stop], front, gs, ng)[0]
                wa = _slots(acc[:, pos:stop], front, gs, ng)
                wa *= ws
                x = _group_sums(th, tau, wa, ws)
                x[_N, 0] -= front
                npad = gs - (front + m - (ng - 1) * gs)
                if npad:
                    x[_P, -1] -= npad * th[:, -1, -1]
                    x[_Q, -1] -= npad * tau[-1, -1]
                    x[_N, -1] -= npad
                if pos == 0 and carry:
                    _combine(self._open, x[:, 0])
                    th[:, :, 0] += np.array(self._open[_S])[:, None]
                    tau[:, 0] += self._open[_T]
                gf = np.arange(ng, dtype=np.int64) * gs + (pos - front)
                gf[0] = pos
                xs.append(x)
                firsts.append(gf)
                parts.append((ng_all, ng, npad == 0, pos, stop, front, th, tau))
                ng_all += ng
            if stop < n:
                x = np.zeros((_ROWS, 1))
                x[_A, 0] = acc[:, stop]
                x[_N, 0] = 1.0
                xs.append(x)
                firsts.append(np.array([stop], dtype=np.int64))
                parts.append((ng_all, -1, True, stop, stop + 1, 0, none, none))
                ng_all += 1
            pos = stop + 1
        xg = xs[0] if len(xs) == 1 else np.concatenate(xs, axis=1)
        gfirst = firsts[0] if len(firsts) == 1 else np.concatenate(firsts)
        ngr = ng_all
        complete = np.ones(ngr, dtype=bool)
        is_init = np.zeros(ngr, dtype=bool)
        for g0, ng, full, *_ in parts:
            if ng < 0:
                is_init[g0] = True
            elif not full:
                complete[g0 + ng - 1] = False

        # bias blocks start with groups: pieces of groups in one block
        blk = np.floor((t[gfirst] - self._t_origin) * (1.0 / p.bias_block_s)).astype(np.int64)
        if carry and parts[0][1] > 0 and parts[0][3] == 0:
            blk[0] = self._open_blk
        gcut = np.flatnonzero(blk[1:] != blk[:-1]) + 1
        pstart = np.concatenate(([0], gcut))
        pend = np.append(gcut, ngr)
        sstart = gfirst[pstart]
        blk_l = blk[pstart].tolist()
        glen = np.diff(np.append(pstart, ngr))

        # loop 1: bias from rest, per piece
        rest_dt = np.where(rest, dt, 0.0)
        rest_t = np.add.reduceat(rest_dt, sstart).tolist()
        rest_sum = np.add.reduceat(gyro * rest_dt, sstart, axis=1)
        npc = len(blk_l)
        b_rest = np.empty((3, npc))
        updated = []
        for i, b in enumerate(blk_l):
            upd = False
            if b != self._blk:
                upd = self._finish_rest_block()
                self._blk = b
            updated.append(upd)
            b_rest[:, i] = self._b_rest
            self._rest_t += rest_t[i]
            self._rest_sum += rest_sum[:, i]
        k_acc = -1.0 / p.tau_acc_s

        # pass 1 (rest bias only): the statistics of each block
        f1 = self._f1
        g_start = list(f1.g)
        b1 = np.repeat(b_rest, glen, axis=1)
        rt = np.zeros((9, ngr))
        g1 = np.empty((3, ngr))
        for g0, ng, full, pos, *_ in parts:
            if ng < 0:
                f1.init(acc[:, pos].tolist())
                g1[:, g0] = f1.g
                continue
            m = ng if full else ng - 1
            if m:
                r, gg, _ = f1.run(xg[:, g0 : g0 + m], b1[:, g0 : g0 + m], k_acc, False)
                np.multiply(r, xg[_T, g0 : g0 + m], out=rt[:, g0 : g0 + m])
                g1[:, g0 : g0 + m] = gg
            if not full:
                g1[:, g0 + ng - 1] = f1.g
        a_pc = np.add.reduceat(rt, pstart, axis=1).T
        t_pc = np.add.reduceat(np.where(complete, xg[_T], 0.0), pstart).tolist()
        i_pc = np.logical_or.reduceat(is_init, pstart).tolist()
        g_pc = g1[:, pend - 1].T.tolist()

        # loop 2: bias in motion, per piece
        b_mot = np.empty((3, npc))
        g_end = g_start
        st_a = np.array(self._st_a)
        for i, b in enumerate(blk_l):
            if b != self._blk_m:
                if self._blk_m >= 0:
                    st = _BlockStats(st_a.tolist(), self._st_t, g_end, self._st_init)
                    self._finish_motion_block(updated[i], b_rest[:, i], st)
                self._blk_m = b
                st_a, self._st_t, self._st_init = a_pc[i], 0.0, False
            else:
                st_a = st_a + a_pc[i]
            b_mot[:, i] = self._b_mot
            self._st_t += t_pc[i]
            self._st_init |= i_pc[i]
            g_end = g_pc[i]
        self._st_a = st_a.tolist()
        bias_pc = b_rest + b_mot

        # pass 2 (full bias): the output, per group and then per sample
        f2 = self._f2
        b2 = np.repeat(bias_pc, glen, axis=1)
        up = np.empty((n, 3))
        for g0, ng, full, pos, stop, front, phi, tau in parts:
            if ng < 0:
                f2.init(acc[:, pos].tolist())
                up[pos] = f2.u
                continue
            m = ng if full else ng - 1
            us = np.empty((3, ng + 1))
            us[:, 0] = f2.u
            if m:
                _, _, ue = f2.run(xg[:, g0 : g0 + m], b2[:, g0 : g0 + m], k_acc, True)
                us[:, 1 : m + 1] = ue
            if not full:
                us[:, ng] = us[:, ng - 1]
            v = np.empty((3, gs, ng))
            v[:, -1] = us[:, 1:]
            if gs > 1:
                # slots 0 .. gs-2: the group's starting up carried by the intra-group rotation, u - φ × u
                u = us[:, None, :ng]
                ph = phi[:, :-1] - b2[:, None, g0 : g0 + ng] * tau[None, :-1]
                vv = v[:, :-1]
                np.subtract(u[0], ph[1] * u[2] - ph[2] * u[1], out=vv[0])
                np.subtract(u[1], ph[2] * u[0] - ph[0] * u[2], out=vv[1])
                np.subtract(u[2], ph[0] * u[1] - ph[1] * u[0], out=vv[2])
                vv /= np.sqrt(vv[0] * vv[0] + vv[1] * vv[1] + vv[2] * vv[2])
            _unslot(v, up[pos:stop], front)

        # the open group
        g0, ng, full, pos, stop, *_ = parts[-1]
        if ng > 0 and not full and stop == n:
            self._open = xg[:, g0 + ng - 1].tolist()
            self._open_blk = int(blk[-1])
        else:
            self._open = [0.0] * _ROWS
        bias = np.empty((n, 3))
        for i, (s, e) in enumerate(itertools.pairwise([*sstart.tolist(), n])):
            bias[s:e] = bias_pc[:, i]
        return OrientationResult(t.copy(), up, bias, rest, init)

    def _rest(
        self,
        t: FloatArray,
        acc: FloatArray,
        gyro: FloatArray,
        dt: FloatArray,
        init: BoolArray,
        bounds: list[int],
    ) -> BoolArray:
        p = self.params
        still = np.empty(t.shape[0], dtype=bool)
        for s, e in itertools.pairwise(bounds):
            if init[s]:
                self._gy_lp = gyro[:, s].copy()
                self._ac_lp = acc[:, s].copy()
                still[s] = False
                s += 1
                if s == e:
                    continue
            gain = -np.expm1(dt[s:e] * (-1.0 / p.rest_filter_tau_s))
            both = np.concatenate((gyro[:, s:e], acc[:, s:e]))
            both *= gain
            lp = _linrec(1.0 - gain, both, np.concatenate((self._gy_lp, self._ac_lp)))
            gl, al = lp[:3], lp[3:]
            self._gy_lp = gl[:, -1].copy()
            self._ac_lp = al[:, -1].copy()
            dg = gyro[:, s:e] - gl
            da = acc[:, s:e] - al
            still[s:e] = (np.einsum("ij,ij->j", dg, dg) < p.rest_gyro_rps**2) & (
                np.einsum("ij,ij->j", da, da) < p.rest_acc_mps2**2
            )
        moving = np.where(still, -np.inf, t)
        moving[0] = max(moving[0], self._t_moving)
        np.maximum.accumulate(moving, out=moving)
        self._t_moving = float(moving[-1])
        rest: BoolArray = (t - moving) >= p.rest_min_s
        return rest

    def _clip(self, b: FloatArray) -> FloatArray:
        norm = float(np.sqrt(b @ b))
        return b * (self.params.bias_max_rps / norm) if norm > self.params.bias_max_rps else b

    def _finish_rest_block(self) -> bool:
        """Close the current bias block for the rest estimate; True if the bias was updated from rest."""
        p = self.params
        updated = False
        if self._rest_t >= min(1.0, 0.2 * p.bias_block_s):
            gain = -math.expm1(-self._rest_t / p.rest_bias_tau_s)
            mean = self._rest_sum / self._rest_t
            self._b_rest = self._clip(self._b_rest + gain * (mean - self._b_rest))
            updated = True
        self._rest_t = 0.0
        self._rest_sum = np.zeros(3)
        return updated

    def _finish_motion_block(self, rest_updated: bool, b_rest: FloatArray, st: _BlockStats) -> None:
        """Close the current bias block for the motion estimate (residual relative to the rest estimate)."""
        p = self.params
        g0 = self._g1_last
        self._g1_last = st.g_end
        if rest_updated:
            self._b_mot = np.zeros(3)
            return
        if g0 is None or st.has_init or st.t_sum < 0.5 * p.bias_block_s:
            return
        # plain Python floats: this runs once per block and numpy's per-call overhead would dominate
        x0, y0, z0 = g0
        x1, y1, z1 = st.g_end
        n0 = math.sqrt(x0 * x0 + y0 * y0 + z0 * z0)
        n1 = math.sqrt(x1 * x1 + y1 * y1 + z1 * z1)
        if n0 < 0.5 * p.gravity_mps2 or n1 < 0.5 * p.gravity_mps2:
            return
        x0, y0, z0, x1, y1, z1 = x0 / n0, y0 / n0, z0 / n0, x1 / n1, y1 / n1, z1 / n1
        drift = (y0 * z1 - z0 * y1, z0 * x1 - x0 * z1, x0 * y1 - y0 * x1)  # ≈ P A e, rad
        a00, a01, a02, a10, a11, a12, a20, a21, a22 = st.a_sum
        # P A with P = I - u uᵀ (u = current gravity direction)
        ua0 = x1 * a00 + y1 * a10 + z1 * a20
        ua1 = x1 * a01 + y1 * a11 + z1 * a21
        ua2 = x1 * a02 + y1 * a12 + z1 * a22
        p00, p01, p02 = a00 - x1 * ua0, a01 - x1 * ua1, a02 - x1 * ua2
        p10, p11, p12 = a10 - y1 * ua0, a11 - y1 * ua1, a12 - y1 * ua2
        p20, p21, p22 = a20 - z1 * ua0, a21 - z1 * ua1, a22 - z1 * ua2
        m00 = p00 * p00 + p10 * p10 + p20 * p20
        m01 = p00 * p01 + p10 * p11 + p20 * p21
        m02 = p00 * p02 + p10 * p12 + p20 * p22
        m11 = p01 * p01 + p11 * p11 + p21 * p21
        m12 = p01 * p02 + p11 * p12 + p21 * p22
        m22 = p02 * p02 + p12 * p12 + p22 * p22
        b0, b1, b2 = self._b_mot.tolist()
        d0, d1, d2 = drift
        rhs = [
            p00 * d0 + p10 * d1 + p20 * d2 - (m00 * b0 + m01 * b1 + m02 * b2),
            p01 * d0 + p11 * d1 + p21 * d2 - (m01 * b0 + m11 * b1 + m12 * b2),
            p02 * d0 + p12 * d1 + p22 * d2 - (m02 * b0 + m12 * b1 + m22 * b2),
        ]
        reg = (p.motion_bias_reg * st.t_sum) ** 2
        m = [m00 + reg, m01, m02, m01, m11 + reg, m12, m02, m12, m22 + reg]
        step = _solve3(m, rhs)
        gain = -math.expm1(-st.t_sum / p.motion_bias_tau_s)
        r0, r1, r2 = b_rest.tolist()
        n0, n1, n2 = r0 + b0 + gain * step[0], r1 + b1 + gain * step[1], r2 + b2 + gain * step[2]
        norm = math.sqrt(n0 * n0 + n1 * n1 + n2 * n2)
        if norm > p.bias_max_rps:
            k = p.bias_max_rps / norm
            n0, n1, n2 = n0 * k, n1 * k, n2 * k
        self._b_mot = np.array((n0 - r0, n1 - r1, n2 - r2))
