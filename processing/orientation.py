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

The output pass runs at a group rate (:class:`_GroupFilter`): groups of a power-of-two number of samples
(4 at 100 Hz, so about 25 groups/s), aligned to the sample index since the stream start. A group's rotation is
composed from its gyro samples to second order, its accelerometer averaged in its starting frame, and the
low-pass updated once per group; each sample's ``up`` is its group's starting ``up`` carried by the
intra-group rotation. The output is the same to ~0.01° RMS (simulated walking) at a quarter of the
quaternion work.

Gyro bias is piecewise constant over bias blocks of ``bias_block_s`` seconds (aligned to the first sample's
time, so independent of the caller's chunking) and updated at each block boundary:

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
from processing._quat import ComplexArray
from processing.samples import STANDARD_GRAVITY, FloatArray, Samples

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: Internal processing block, samples: large enough that numpy's per-call overhead on the group-rate arrays
#: (a quarter of this) is small, small enough that temporaries stay cheap (2x larger was no faster).
_CHUNK = 16384
#: Chunks up to this many samples are processed sample by sample in plain Python (live streams).
_SMALL_N = 16
#: Consecutive sample intervals (index-aligned) whose median (of every 8th) is the nominal period for the next.
_DT_BLOCK = 1024
#: Samples per group in the (bias-measuring) first pass.
_GROUP = 4
#: Smallest cumulative decay factor (e^-500) handled in one pass of the linear recursion before re-basing.
_MIN_PROD = math.exp(-500.0)
#: The output pass runs on groups of a power-of-two number of samples, at about this rate, Hz.
_GROUP_RATE_HZ = 25.0
#: Largest output-pass group, samples.
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


class _GroupPass:
    """Pass 1 on groups of up to ``_GROUP`` samples: orientation at each group's middle, gravity low-pass.

    Only the motion-bias statistics come from this pass (``A = Σ R dt`` per block and the low-passed gravity
    at block ends), so it runs on whole blocks once they are complete, at a quarter of the sample rate: group
    quaternions are exact products of the sample quaternions, the accelerometer is the group's weighted mean
    rotated by the orientation at the group's middle.
    """

    def __init__(self) -> None:
        self.qa = 1.0 + 0.0j
        self.qb = 0.0j
        self.g = np.zeros(3)
        self.count = 0

    def run(
        self,
        qa: ComplexArray,
        qb: ComplexArray,
        ha: ComplexArray,
        hb: ComplexArray,
        dt: FloatArray,
        cnt: FloatArray,
        wsum: FloatArray,
        wacc: FloatArray,
        init_acc: FloatArray | None,
        tau_s: float,
    ) -> tuple[FloatArray, FloatArray]:
        """One gap-free run of groups (the first is the re-initialising sample alone if ``init_acc`` is
        given): group quaternions ``q``, first-half quaternions ``h``; returns ``R_mid dt`` (9, m), ĝ (3, m)."""
        m = dt.shape[0]
        rdt = np.zeros((9, m))
        g = np.empty((3, m))
        start = 0
        if init_acc is not None:
            self.qa, self.qb = 1.0 + 0.0j, 0.0j
            self.g = init_acc.copy()
            self.count = 1
            g[:, 0] = self.g
            start = 1
        if start == m:
            return rdt, g
        qa, qb, ha, hb = qa[start:], qb[start:], ha[start:], hb[start:]
        a0, b0 = complex(qa[0]), complex(qb[0])
        qa[0] = self.qa * a0 - self.qb * b0.conjugate()
        qb[0] = self.qa * b0 + self.qb * a0.conjugate()
        pa, pb = _quat.scan(qa, qb)
        prev_a = np.empty_like(pa)
        prev_b = np.empty_like(pb)
        prev_a[0], prev_b[0] = self.qa, self.qb
        prev_a[1:], prev_b[1:] = pa[:-1], pb[:-1]
        ma, mb = _quat.mul(prev_a, prev_b, ha, hb)
        rs = _quat.to_matrix(ma, mb)
        d = dt[start:]
        np.multiply(rs, d, out=rdt[:, start:])
        c = cnt[start:]
        ends = np.cumsum(c)
        ends += self.count
        warm = c / ends
        alpha = -np.expm1(d * (-1.0 / tau_s))
        beta = np.maximum(alpha, warm)
        beta *= wsum[start:] / c
        aref = _quat.rotate(rs, wacc[:, start:] / np.maximum(wsum[start:], 1e-300))
        gs = _linrec(1.0 - beta, aref * beta, self.g)
        g[:, start:] = gs
        norm = math.sqrt(abs(complex(pa[-1])) ** 2 + abs(complex(pb[-1])) ** 2)
        self.qa, self.qb = complex(pa[-1]) / norm, complex(pb[-1]) / norm
        self.g = gs[:, -1].copy()
        self.count = int(ends[-1])
        return rdt, g


def _group_size(dt_s: float) -> int:
    """Samples per output-pass group for a sample period: a power of two giving a group rate near
    ``_GROUP_RATE_HZ`` (1 at 25 Hz and below, 4 at 100 Hz, at most ``_MAX_GROUP``)."""
    ratio = 1.0 / (dt_s * _GROUP_RATE_HZ)
    if not math.isfinite(ratio) or ratio < 1.5:
        return 1
    return min(_MAX_GROUP, 1 << round(math.log2(ratio)))


class _GroupFilter:
    """The output pass at a group rate: the complementary filter updated once per group of ``size`` samples.

    Groups are aligned to the sample index since the stream start (``[kG, (k+1)G)``); a re-initialising
    sample is alone and ends the group it falls in. A group's rotation is composed from its samples' rotation
    vectors ``θ_i`` to second order, ``Θ = Σ θ_i + ½ Σ_{i<j} θ_i × θ_j``; its accelerometer is the weighted
    mean rotated into the group's starting frame to first order (by the mean intra-group rotation); the
    gravity low-pass then runs once per group. Every sample's ``up`` is the up vector at its group's start
    rotated back by the intra-group rotation ``φ_i = Σ_{j<=i} θ_j`` (first order, renormalised); the group's
    last sample gets the filter's own value after its update. :meth:`step` (plain Python, per sample) and
    :meth:`run` (numpy, whole groups) are the same arithmetic.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.qa = 1.0 + 0.0j
        self.qb = 0.0j
        self.g = [0.0, 0.0, 0.0]
        self.u = [0.0, 0.0, 1.0]
        self.count = 0
        self._open()

    def _open(self) -> None:
        self.phi = [0.0, 0.0, 0.0]
        self.cr = [0.0, 0.0, 0.0]
        self.ps = [0.0, 0.0, 0.0]
        self.acc = [0.0, 0.0, 0.0]
        self.wsum = 0.0
        self.dtg = 0.0
        self.cnt = 0

    def init(self, a0: float, a1: float, a2: float) -> tuple[float, float, float]:
        """Re-initialise from one accelerometer sample; returns its up vector."""
        self.qa, self.qb = 1.0 + 0.0j, 0.0j
        self.g = [a0, a1, a2]
        self.count = 1
        n = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
        self.u = [a0 / n, a1 / n, a2 / n]
        self._open()
        return a0 / n, a1 / n, a2 / n

    def step(
        self, r: Sequence[float], a: Sequence[float], dt: float, w: float, close: bool, k_acc: float
    ) -> tuple[float, float, float]:
        """One (non-initialising) sample: bias-corrected gyro ``r``, accelerometer ``a``; ``close``: it is the
        last of its group. Returns its up vector."""
        t0, t1, t2 = r[0] * dt, r[1] * dt, r[2] * dt
        p0, p1, p2 = self.phi
        cr = self.cr
        cr[0] += 0.5 * (p1 * t2 - p2 * t1)
        cr[1] += 0.5 * (p2 * t0 - p0 * t2)
        cr[2] += 0.5 * (p0 * t1 - p1 * t0)
        p0, p1, p2 = p0 + t0, p1 + t1, p2 + t2
        self.phi = [p0, p1, p2]
        ps = self.ps
        ps[0] += p0
        ps[1] += p1
        ps[2] += p2
        acc = self.acc
        acc[0] += w * a[0]
        acc[1] += w * a[1]
        acc[2] += w * a[2]
        self.wsum += w
        self.dtg += dt
        self.cnt += 1
        if close:
            self._close(k_acc)
            u0, u1, u2 = self.u
            return u0, u1, u2
        u0, u1, u2 = self.u
        v0 = u0 - (p1 * u2 - p2 * u1)
        v1 = u1 - (p2 * u0 - p0 * u2)
        v2 = u2 - (p0 * u1 - p1 * u0)
        n = math.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
        return v0 / n, v1 / n, v2 / n

    def _close(self, k_acc: float) -> None:
        c = float(self.cnt)
        v0, v1, v2 = (p + q for p, q in zip(self.phi, self.cr, strict=True))
        h2 = 0.25 * (v0 * v0 + v1 * v1 + v2 * v2)
        if h2 < 0.01:
            cw = ((((h2 * (1.0 / 40320.0) - 1.0 / 720.0) * h2 + 1.0 / 24.0) * h2 - 0.5) * h2) + 1.0
            sc = ((h2 * (-1.0 / 10080.0) + 1.0 / 240.0) * h2 - 1.0 / 12.0) * h2 + 0.5
        else:
            half = math.sqrt(h2)
            cw = math.cos(half)
            sc = math.sin(half) / (2.0 * half)
        da, db = complex(cw, sc * v0), complex(sc * v1, sc * v2)
        r = _matrix(self.qa, self.qb)
        inv = 1.0 / max(self.wsum, 1e-300)
        a0, a1, a2 = self.acc[0] * inv, self.acc[1] * inv, self.acc[2] * inv
        m0, m1, m2 = self.ps[0] / c, self.ps[1] / c, self.ps[2] / c
        a0, a1, a2 = a0 + (m1 * a2 - m2 * a1), a1 + (m2 * a0 - m0 * a2), a2 + (m0 * a1 - m1 * a0)
        self.count += self.cnt
        beta = max(-math.expm1(self.dtg * k_acc), c / self.count) * (self.wsum / c)
        keep = 1.0 - beta
        g = self.g
        s0 = keep * g[0] + beta * (r[0] * a0 + r[1] * a1 + r[2] * a2)
        s1 = keep * g[1] + beta * (r[3] * a0 + r[4] * a1 + r[5] * a2)
        s2 = keep * g[2] + beta * (r[6] * a0 + r[7] * a1 + r[8] * a2)
        self.g = [s0, s1, s2]
        qa, qb = self.qa, self.qb
        qa, qb = qa * da - qb * db.conjugate(), qa * db + qb * da.conjugate()
        norm = math.sqrt(abs(qa) ** 2 + abs(qb) ** 2)
        self.qa, self.qb = qa / norm, qb / norm
        r = _matrix(self.qa, self.qb)
        u0 = r[0] * s0 + r[3] * s1 + r[6] * s2
        u1 = r[1] * s0 + r[4] * s1 + r[7] * s2
        u2 = r[2] * s0 + r[5] * s1 + r[8] * s2
        n = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
        self.u = [u0 / n, u1 / n, u2 / n]
        self._open()

    def run(self, gyro: FloatArray, acc: FloatArray, dt: FloatArray, w: FloatArray, k_acc: float) -> FloatArray:
        """Whole groups (``m`` a multiple of ``size``, none open, no re-initialisation): returns up (3, m)."""
        gs = self.size
        m = dt.shape[0]
        ng = m // gs
        # slot-major layout (3, gs, ng): numpy reduces slowly along a short innermost axis
        dts = np.ascontiguousarray(dt.reshape(ng, gs).T)
        ws = np.ascontiguousarray(w.reshape(ng, gs).T)
        th = np.empty((3, gs, ng))
        np.multiply(gyro.reshape(3, ng, gs).transpose(0, 2, 1), dts, out=th)
        wacc = np.empty((3, gs, ng))
        np.multiply(acc.reshape(3, ng, gs).transpose(0, 2, 1), ws, out=wacc)
        wacc = wacc.sum(axis=1)
        dtg = dts.sum(axis=0)
        wsum = ws.sum(axis=0)
        phi = th  # in place: prefix sums φ_j; Σ_{i<j} θ_i × θ_j = Σ_j φ_{j-1} × φ_j
        for j in range(1, gs):
            phi[:, j] += phi[:, j - 1]
        if gs > 1:
            x, y = phi[:, :-1], phi[:, 1:]
            rot = phi[:, -1] + 0.5 * np.stack(
                (
                    (x[1] * y[2] - x[2] * y[1]).sum(axis=0),
                    (x[2] * y[0] - x[0] * y[2]).sum(axis=0),
                    (x[0] * y[1] - x[1] * y[0]).sum(axis=0),
                )
            )
            mean = phi.sum(axis=1) * (1.0 / gs)
        else:
            rot = phi[:, 0]
            mean = rot
        qa, qb = _quat.from_rotvec(rot)
        a0, b0 = complex(qa[0]), complex(qb[0])
        qa[0] = self.qa * a0 - self.qb * b0.conjugate()
        qb[0] = self.qa * b0 + self.qb * a0.conjugate()
        pa, pb = _quat.scan(qa, qb)
        r = _quat.to_matrix(np.concatenate(([self.qa], pa)), np.concatenate(([self.qb], pb)))
        ab = wacc / np.maximum(wsum, 1e-300)
        ab += np.stack(
            (
                mean[1] * ab[2] - mean[2] * ab[1],
                mean[2] * ab[0] - mean[0] * ab[2],
                mean[0] * ab[1] - mean[1] * ab[0],
            )
        )
        aref = _quat.rotate(r[:, :-1], ab)
        ends = np.arange(1, ng + 1, dtype=np.float64) * gs
        ends += self.count
        beta = np.maximum(-np.expm1(dtg * k_acc), gs / ends)
        beta *= wsum * (1.0 / gs)
        gsm = _linrec(1.0 - beta, aref * beta, np.array(self.g))
        ue = _quat.rotate_inverse(r[:, 1:], gsm)
        ue /= np.sqrt(ue[0] * ue[0] + ue[1] * ue[1] + ue[2] * ue[2])
        up = np.empty((3, gs, ng))
        up[:, -1] = ue
        if gs > 1:
            u = np.empty((3, 1, ng))
            u[:, 0, 0] = self.u
            u[:, 0, 1:] = ue[:, :-1]
            p = phi[:, :-1]
            v = up[:, :-1]
            np.subtract(u[0], p[1] * u[2] - p[2] * u[1], out=v[0])
            np.subtract(u[1], p[2] * u[0] - p[0] * u[2], out=v[1])
            np.subtract(u[2], p[0] * u[1] - p[1] * u[0], out=v[2])
            v /= np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
        norm = math.sqrt(abs(complex(pa[-1])) ** 2 + abs(complex(pb[-1])) ** 2)
        self.qa, self.qb = complex(pa[-1]) / norm, complex(pb[-1]) / norm
        self.g = gsm[:, -1].tolist()
        self.u = ue[:, -1].tolist()
        self.count = int(ends[-1])
        return up.transpose(0, 2, 1).reshape(3, m)


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
        # bias: rest part (absolute) and motion part (residual relative to the rest part)
        self._b_rest = np.array(p.initial_bias_rps, dtype=np.float64)
        self._b_mot = np.zeros(3)
        self._blk = -1
        self._rest_t = 0.0
        self._rest_sum = np.zeros(3)
        self._blk_m = -1
        self._g1_last: FloatArray | None = None
        # samples of the current (incomplete) bias block, for the first pass: gyro - rest bias, acc, dt, w,
        # init, block index
        self._buf: list[tuple[FloatArray, FloatArray, FloatArray, FloatArray, BoolArray, IntArray]] = []
        self._buf_blk = -1
        # live mode (small chunks): pass 1 of the current block runs group by group in plain Python as samples
        # arrive, instead of in numpy when the block completes (no latency spike); samples not yet in a group
        # as (gx, gy, gz, ax, ay, az, dt, w, init), partial block statistics [A (9), Σ dt, init seen], ĝ
        self._live = False
        self._live_q: list[tuple[float, float, float, float, float, float, float, float, bool]] = []
        self._live_a = [0.0] * 9
        self._live_t = 0.0
        self._live_init = False
        self._live_off = 0  # offset of the first queued sample from the start of its piece
        self._pass1 = _GroupPass()
        self._n_seen = 0  # samples since the reset: the output pass's groups are aligned to this index
        self._pass2 = _GroupFilter(_group_size(1.0 / p.rate_hz) if p.rate_hz is not None else 0)

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

        # rest detection, weights, blocks, rest bias (loop 1)
        gx, gy, gz = self._gy_lp.tolist()
        ax, ay, az = self._ac_lp.tolist()
        kr = -1.0 / p.rest_filter_tau_s
        g_thr, a_thr = p.rest_gyro_rps**2, p.rest_acc_mps2**2
        t_moving = self._t_moving
        inv_blk = 1.0 / p.bias_block_s
        w_scale = 1.0 / (p.acc_weight_hi_mps2 - p.acc_weight_lo_mps2)
        rest_l, w_l, blk_l, br_l, upd_l = [], [], [], [], []
        for k in range(n):
            g0, g1, g2 = gl[k]
            a0, a1, a2 = al[k]
            t = tl[k]
            dt = dts[k]
            if inits[k]:
                gx, gy, gz, ax, ay, az = g0, g1, g2, a0, a1, a2
                still = False
            else:
                logc = dt * kr
                c = math.exp(logc)
                e = -math.expm1(logc)
                gx, gy, gz = c * gx + g0 * e, c * gy + g1 * e, c * gz + g2 * e
                ax, ay, az = c * ax + a0 * e, c * ay + a1 * e, c * az + a2 * e
                still = (g0 - gx) ** 2 + (g1 - gy) ** 2 + (g2 - gz) ** 2 < g_thr and (a0 - ax) ** 2 + (a1 - ay) ** 2 + (
                    a2 - az
                ) ** 2 < a_thr
            if not still:
                t_moving = max(t_moving, t)
            rest = (t - t_moving) >= p.rest_min_s
            rest_l.append(rest)
            dev = abs(math.sqrt(a0 * a0 + a1 * a1 + a2 * a2) - p.gravity_mps2)
            w_l.append(min(1.0, max(0.0, (p.acc_weight_hi_mps2 - dev) * w_scale)))
            b = math.floor((t - self._t_origin) * inv_blk)
            blk_l.append(b)
            updated = False
            if b != self._blk:
                updated = self._finish_rest_block()
                self._blk = b
            upd_l.append(updated)
            br_l.append(self._b_rest.tolist())
            if rest:
                self._rest_t += dt
                self._rest_sum += (g0 * dt, g1 * dt, g2 * dt)
        self._gy_lp = np.array((gx, gy, gz))
        self._ac_lp = np.array((ax, ay, az))
        self._t_moving = t_moving

        # pass 1 (buffered; runs on completed blocks)
        gr_l = [[g[0] - b[0], g[1] - b[1], g[2] - b[2]] for g, b in zip(gl, br_l, strict=True)]
        stats = self._pass1_blocks(
            True,
            np.array(gr_l).T,
            np.array(al).T,
            np.array(dts),
            np.array(w_l),
            np.array(inits),
            np.array(blk_l, dtype=np.int64),
        )

        # loop 2 and pass 2, per sample
        gf = self._pass2
        k_acc = -1.0 / p.tau_acc_s
        base = self._n_seen
        self._n_seen += n
        up_l, bias_l = [], []
        for k in range(n):
            b = blk_l[k]
            if b != self._blk_m:
                if self._blk_m >= 0:
                    self._finish_motion_block(upd_l[k], stats[self._blk_m])
                self._blk_m = b
            m0, m1, m2 = self._b_mot.tolist()
            r0, r1, r2 = gr_l[k]
            b0, b1, b2 = br_l[k]
            bias_l.append((b0 + m0, b1 + m1, b2 + m2))
            if inits[k]:
                up_l.append(gf.init(*al[k]))
                continue
            if gf.size == 0:
                gf.size = _group_size(dts[k])
            close = (base + k) % gf.size == gf.size - 1
            up_l.append(gf.step((r0 - m0, r1 - m1, r2 - m2), al[k], dts[k], w_l[k], close, k_acc))
        return OrientationResult(
            np.array(tl), np.array(up_l), np.array(bias_l), np.array(rest_l, dtype=bool), np.array(inits, dtype=bool)
        )

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
        nominal = per_block[np.arange(self._dt_buf.shape[0], buf.shape[0]) // _DT_BLOCK]
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

        # segments between re-initialisations
        seg_starts = np.flatnonzero(init)
        if seg_starts.shape[0] == 0 or seg_starts[0] != 0:
            seg_starts = np.concatenate(([0], seg_starts))
        seg_bounds = [*seg_starts.tolist(), n]

        rest = self._rest(t, acc, gyro, dt, init, seg_bounds)

        anorm = np.sqrt(acc[0] * acc[0] + acc[1] * acc[1] + acc[2] * acc[2])
        dev = np.abs(anorm - p.gravity_mps2)
        w = np.clip((p.acc_weight_hi_mps2 - dev) * (1.0 / (p.acc_weight_hi_mps2 - p.acc_weight_lo_mps2)), 0, 1)

        # pieces: constant bias block and no re-initialisation inside (except at the start)
        blk = np.floor((t - self._t_origin) * (1.0 / p.bias_block_s)).astype(np.int64)
        cut = init.copy()
        cut[0] = True
        cut[1:] |= blk[1:] != blk[:-1]
        starts = np.flatnonzero(cut)
        starts_l = starts.tolist()
        blk_l = blk[starts].tolist()

        # loop 1: bias from rest, per piece
        rest_dt = np.where(rest, dt, 0.0)
        rest_t = np.add.reduceat(rest_dt, starts).tolist()
        rest_sum = np.add.reduceat(gyro * rest_dt, starts, axis=1)
        b_rest = np.empty((3, len(starts_l)))
        rest_updated = []
        for i, b in enumerate(blk_l):
            updated = False
            if b != self._blk:
                updated = self._finish_rest_block()
                self._blk = b
            rest_updated.append(updated)
            b_rest[:, i] = self._b_rest
            self._rest_t += rest_t[i]
            self._rest_sum += rest_sum[:, i]
        lengths = np.diff([*starts_l, n])
        b_rest_s = np.repeat(b_rest, lengths, axis=1)

        gyro_r = gyro - b_rest_s

        # pass 1 (rest bias only) on the bias blocks completed by this chunk: their drift statistics
        stats = self._pass1_blocks(False, gyro_r, acc, dt, w, init, blk)

        # loop 2: bias in motion, per piece
        b_mot = np.empty((3, len(starts_l)))
        for i, b in enumerate(blk_l):
            if b != self._blk_m:
                if self._blk_m >= 0:
                    self._finish_motion_block(rest_updated[i], stats[self._blk_m])
                self._blk_m = b
            b_mot[:, i] = self._b_mot
        bias = b_rest_s + np.repeat(b_mot, lengths, axis=1)
        gyro_c = gyro_r - np.repeat(b_mot, lengths, axis=1)

        # pass 2: integrate with the full bias; the output
        up = self._output_pass(gyro_c, acc, dt, w, init)
        return OrientationResult(t.copy(), up.T.copy(), bias.T.copy(), rest, init)

    def _pass1_blocks(
        self,
        small: bool,
        gyro: FloatArray,
        acc: FloatArray,
        dt: FloatArray,
        w: FloatArray,
        init: BoolArray,
        blk: IntArray,
    ) -> dict[int, _BlockStats]:
        """Pass 1 of this chunk: statistics of the bias blocks it completes. ``small``: a live chunk; the
        current block then continues in live mode (see :meth:`_live_step`)."""
        stats: dict[int, _BlockStats] = {}
        if self._live:
            split = int(np.searchsorted(blk, self._buf_blk, side="right"))
            self._live_q += zip(
                *gyro[:, :split].tolist(),
                *acc[:, :split].tolist(),
                dt[:split].tolist(),
                w[:split].tolist(),
                init[:split].tolist(),
                strict=True,
            )
            if split == dt.shape[0]:
                self._live_step(False)
                return stats
            stats[self._buf_blk] = self._live_step(True)
            self._live = False
            self._buf_blk = int(blk[split])
            gyro, acc, dt, w, init, blk = (
                gyro[:, split:],
                acc[:, split:],
                dt[split:],
                w[split:],
                init[split:],
                blk[split:],
            )
        stats.update(self._pass1_numpy(gyro, acc, dt, w, init, blk))
        if small:
            # enter live mode on the current block's buffered samples
            self._live = True
            self._live_q = []
            for g_, a_, d_, w_, i_, _ in self._buf:
                self._live_q += zip(*g_.tolist(), *a_.tolist(), d_.tolist(), w_.tolist(), i_.tolist(), strict=True)
            self._buf = []
            self._live_a = [0.0] * 9
            self._live_t = 0.0
            self._live_init = False
            self._live_off = 0
            self._live_step(False)
        return stats

    def _live_step(self, final: bool) -> _BlockStats:
        """Run pass 1 on the complete groups of the live queue (all of it if ``final``: the block ended);
        the same computation as :meth:`_pass1_numpy` and :class:`_GroupPass`, in plain Python floats."""
        st = self._pass1
        q = self._live_q
        qa, qb = st.qa, st.qb
        sx, sy, sz = st.g.tolist()
        count = st.count
        k_acc = -1.0 / self.params.tau_acc_s
        acc_a = self._live_a
        t_sum = self._live_t
        has_init = self._live_init
        j, nq = 0, len(q)
        off = self._live_off
        while j < nq:
            if q[j][8]:
                _, _, _, sx, sy, sz, d, _, _ = q[j]
                qa, qb = 1.0 + 0.0j, 0.0j
                count = 1
                has_init = True
                t_sum += d
                j += 1
                off = 1
                continue
            # groups are aligned to the start of the piece (block start or re-initialisation)
            size = _GROUP - off % _GROUP
            e = j + 1
            while e < nq and e < j + size and not q[e][8]:
                e += 1
            if e - j < size and e == nq and not final:
                break
            off += e - j
            # group quaternions: h = q0 q1, g = h (q2 q3); identity for missing samples
            ha, hb, ta, tb = 1.0 + 0.0j, 0.0j, 1.0 + 0.0j, 0.0j
            dtg = wsum = wx = wy = wz = 0.0
            for k in range(j, e):
                g0, g1, g2, a0, a1, a2, d, wk, _ = q[k]
                v0, v1, v2 = g0 * d, g1 * d, g2 * d
                h2 = 0.25 * (v0 * v0 + v1 * v1 + v2 * v2)
                if h2 < 0.01:
                    cw = ((((h2 * (1.0 / 40320.0) - 1.0 / 720.0) * h2 + 1.0 / 24.0) * h2 - 0.5) * h2) + 1.0
                    sc = ((h2 * (-1.0 / 10080.0) + 1.0 / 240.0) * h2 - 1.0 / 12.0) * h2 + 0.5
                else:
                    half = math.sqrt(h2)
                    cw = math.cos(half)
                    sc = math.sin(half) / (2.0 * half)
                da, db = complex(cw, sc * v0), complex(sc * v1, sc * v2)
                if k - j < 2:
                    ha, hb = ha * da - hb * db.conjugate(), ha * db + hb * da.conjugate()
                else:
                    ta, tb = ta * da - tb * db.conjugate(), ta * db + tb * da.conjugate()
                dtg += d
                wsum += wk
                wx += a0 * wk
                wy += a1 * wk
                wz += a2 * wk
            ma, mb = qa * ha - qb * hb.conjugate(), qa * hb + qb * ha.conjugate()
            ga, gb = ha * ta - hb * tb.conjugate(), ha * tb + hb * ta.conjugate()
            qa, qb = qa * ga - qb * gb.conjugate(), qa * gb + qb * ga.conjugate()
            w_, x_, y_, z_ = ma.real, ma.imag, mb.real, mb.imag
            ww, xx, yy, zz = w_ * w_, x_ * x_, y_ * y_, z_ * z_
            xy, zw, xz, yw, yz, xw = x_ * y_, z_ * w_, x_ * z_, y_ * w_, y_ * z_, x_ * w_
            r = (
                ww + xx - yy - zz, 2.0 * (xy - zw), 2.0 * (xz + yw),
                2.0 * (xy + zw), ww - xx + yy - zz, 2.0 * (yz - xw),
                2.0 * (xz - yw), 2.0 * (yz + xw), ww - xx - yy + zz,
            )  # fmt: skip
            for i in range(9):
                acc_a[i] += r[i] * dtg
            c = float(e - j)
            count += e - j
            beta = max(-math.expm1(dtg * k_acc), c / count) * (wsum / c)
            inv = 1.0 / max(wsum, 1e-300)
            a0, a1, a2 = wx * inv, wy * inv, wz * inv
            keep = 1.0 - beta
            sx = keep * sx + beta * (r[0] * a0 + r[1] * a1 + r[2] * a2)
            sy = keep * sy + beta * (r[3] * a0 + r[4] * a1 + r[5] * a2)
            sz = keep * sz + beta * (r[6] * a0 + r[7] * a1 + r[8] * a2)
            t_sum += dtg
            j = e
        norm = math.sqrt(abs(qa) ** 2 + abs(qb) ** 2)
        st.qa, st.qb = qa / norm, qb / norm
        st.g = np.array((sx, sy, sz))
        st.count = count
        del q[:j]
        self._live_off = off
        self._live_a, self._live_t, self._live_init = acc_a, t_sum, has_init
        return _BlockStats(list(acc_a), t_sum, [sx, sy, sz], has_init)

    def _pass1_numpy(
        self,
        gyro: FloatArray,
        acc: FloatArray,
        dt: FloatArray,
        w: FloatArray,
        init: BoolArray,
        blk: IntArray,
    ) -> dict[int, _BlockStats]:
        """Buffer this chunk for pass 1 and run it on the bias blocks that are now complete (numpy)."""
        if dt.shape[0] == 0:
            return {}
        last = int(blk[-1])
        if last == self._buf_blk:
            self._buf.append((gyro, acc, dt, w, init, blk))
            return {}
        split = int(np.searchsorted(blk, last))
        parts = [*self._buf, (gyro[:, :split], acc[:, :split], dt[:split], w[:split], init[:split], blk[:split])]
        self._buf = [(gyro[:, split:], acc[:, split:], dt[split:], w[split:], init[split:], blk[split:])]
        self._buf_blk = last
        if len(parts) == 1:
            gyro, acc, dt, w, init, blk = parts[0]
        else:
            gyro = np.concatenate([q[0] for q in parts], axis=1)
            acc = np.concatenate([q[1] for q in parts], axis=1)
            dt = np.concatenate([q[2] for q in parts])
            w = np.concatenate([q[3] for q in parts])
            init = np.concatenate([q[4] for q in parts])
            blk = np.concatenate([q[5] for q in parts])
        n = dt.shape[0]
        if n == 0:
            return {}
        # groups: up to _GROUP samples inside a piece (constant block, no re-initialisation); an
        # initialising sample is a group of its own
        cut = init.copy()
        cut[0] = True
        bcut = np.empty(n, dtype=bool)
        bcut[0] = True
        np.not_equal(blk[1:], blk[:-1], out=bcut[1:])
        cut |= bcut
        pstarts = np.flatnonzero(cut)
        idx = np.arange(n)
        off = idx - np.repeat(pstarts, np.diff(np.append(pstarts, n)))
        gcut = (off & (_GROUP - 1)) == 0
        gcut[1:] |= init[:-1]
        gstarts = np.flatnonzero(gcut)
        ng = gstarts.shape[0]
        gid = np.cumsum(gcut) - 1
        slot = idx - gstarts[gid]
        qa, qb = _quat.from_rotvec(gyro * dt)
        xa = np.ones(ng * _GROUP, dtype=np.complex128)
        xb = np.zeros(ng * _GROUP, dtype=np.complex128)
        pos = gid * _GROUP + slot
        xa[pos] = qa
        xb[pos] = qb
        xa2 = xa.reshape(ng, _GROUP)
        xb2 = xb.reshape(ng, _GROUP)
        ha, hb = _quat.mul(xa2[:, 0], xb2[:, 0], xa2[:, 1], xb2[:, 1])
        ta, tb = _quat.mul(xa2[:, 2], xb2[:, 2], xa2[:, 3], xb2[:, 3])
        ga, gb = _quat.mul(ha, hb, ta, tb)
        dtg = np.add.reduceat(dt, gstarts)
        cnt = np.diff(np.append(gstarts, n)).astype(np.float64)
        wsum = np.add.reduceat(w, gstarts)
        wacc = np.add.reduceat(acc * w, gstarts, axis=1)
        ginit = init[gstarts]
        seg = [*np.flatnonzero(ginit).tolist(), ng]
        if seg[0] != 0:
            seg.insert(0, 0)
        rdts, gs = [], []
        for s, e in itertools.pairwise(seg):
            init_acc = acc[:, gstarts[s]] if ginit[s] else None
            rdt, g = self._pass1.run(
                ga[s:e],
                gb[s:e],
                ha[s:e],
                hb[s:e],
                dtg[s:e],
                cnt[s:e],
                wsum[s:e],
                wacc[:, s:e],
                init_acc,
                self.params.tau_acc_s,
            )
            rdts.append(rdt)
            gs.append(g)
        rdt = rdts[0] if len(rdts) == 1 else np.concatenate(rdts, axis=1)
        g = gs[0] if len(gs) == 1 else np.concatenate(gs, axis=1)
        bstarts = np.flatnonzero(bcut)
        bg = gid[bstarts]
        a_blk = np.add.reduceat(rdt, bg, axis=1)
        t_blk = np.add.reduceat(dt, bstarts).tolist()
        i_blk = np.logical_or.reduceat(init, bstarts).tolist()
        g_end = g[:, np.append(bg[1:], ng) - 1]
        return {
            int(b): _BlockStats(a_blk[:, j].tolist(), t_blk[j], g_end[:, j].tolist(), i_blk[j])
            for j, b in enumerate(blk[bstarts].tolist())
        }

    def _output_pass(
        self, gyro: FloatArray, acc: FloatArray, dt: FloatArray, w: FloatArray, init: BoolArray
    ) -> FloatArray:
        """Pass 2 (:class:`_GroupFilter`) over a chunk: whole groups in numpy, the partial groups at its edges
        and around re-initialisations sample by sample; returns up (3, n)."""
        gf = self._pass2
        n = dt.shape[0]
        base = self._n_seen
        self._n_seen += n
        k_acc = -1.0 / self.params.tau_acc_s
        up = np.empty((3, n))
        inits = np.flatnonzero(init).tolist()
        if gf.size == 0 and len(inits) < n:
            gf.size = _group_size(float(dt[np.flatnonzero(~init)[0]]))
        gs = gf.size

        def python(s: int, e: int) -> None:
            gl, al = gyro[:, s:e].T.tolist(), acc[:, s:e].T.tolist()
            dl, wl = dt[s:e].tolist(), w[s:e].tolist()
            for k in range(e - s):
                close = (base + s + k) % gs == gs - 1
                up[:, s + k] = gf.step(gl[k], al[k], dl[k], wl[k], close, k_acc)

        pos = 0
        for stop in [*inits, n]:
            if stop > pos:
                head = min(stop, pos + (-(base + pos)) % gs)
                full = head + (stop - head) // gs * gs
                python(pos, head)
                if full > head:
                    up[:, head:full] = gf.run(gyro[:, head:full], acc[:, head:full], dt[head:full], w[head:full], k_acc)
                python(full, stop)
            if stop < n:
                up[:, stop] = gf.init(*acc[:, stop].tolist())
            pos = stop + 1
        return up

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

    def _finish_motion_block(self, rest_updated: bool, st: _BlockStats) -> None:
        """Close the current bias block for the motion estimate (residual relative to the rest estimate)."""
        p = self.params
        g0 = self._g1_last
        self._g1_last = np.array(st.g_end)
        if rest_updated:
            self._b_mot = np.zeros(3)
            return
        if g0 is None or st.has_init or st.t_sum < 0.5 * p.bias_block_s:
            return
        # plain Python floats: this runs once per block and numpy's per-call overhead would dominate
        x0, y0, z0 = g0.tolist()
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
        new = np.array((b0 + gain * step[0], b1 + gain * step[1], b2 + gain * step[2]))
        self._b_mot = self._clip(self._b_rest + new) - self._b_rest
