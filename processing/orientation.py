"""Streaming attitude (gravity direction) from gyroscope and accelerometer, with gyro-bias estimation.

The estimator returns, for every sample, the **up vector**: a unit vector in the *sensor* frame pointing away
from the Earth (the direction of the accelerometer's specific force when the sensor is still). Roll and pitch
follow from it; heading is not estimated. Downstream code (mounting calibration, tilt) rotates it into the
pelvis frame.

How it works (the scheme of Laidig & Seel, "VQF", Information Fusion 2023, written here in vectorised numpy):

1. **Strapdown.** The bias-corrected gyro is integrated sample by sample into the orientation ``R_k`` of the
   sensor relative to a reference frame fixed at the last (re-)initialisation: one unit quaternion per sample,
   chained by a prefix product (:func:`processing._quat.scan`). In that frame gravity is nearly constant.
2. **Gravity low-pass in the almost-inertial frame.** The accelerometer is rotated into the reference frame,
   ``R_k a_k``, and low-passed there by a second-order Butterworth filter (cut-off ``√2 / (2π tau_acc_s)``);
   the first ``tau_acc_s`` after an initialisation are a running mean. Linear accelerations integrate to a
   bounded velocity, so in this frame they average out whatever their magnitude; no sample is weighted by
   ``|a|`` (which let fast motion through in one phase and not the other).
3. ``up_k = R_kᵀ ĝ_k / |ĝ_k|``.

**Gyro bias** is constant over bias blocks of ``bias_block_s`` (aligned to the time since the first sample, so
independent of the caller's chunking) and set at each block's start from what earlier blocks showed:

* **at rest** (gyro and accelerometer steady for ``rest_min_s``): a scalar Kalman filter on the mean gyro of
  the rest samples (variance ``bias_initial_sd_rps²`` at power-on, growing by ``bias_walk_rps_per_sqrt_s²``
  per second), so the first second of rest after power-on already gives the bias;
* **in motion**: a first pass integrates with the rest estimate only; over each block the low-passed gravity
  of that pass drifts by ``(ΔÃ e) × g`` (``e`` the residual bias, ``Ã`` the same low-pass applied to
  ``Σ R dt``), which reveals the components of ``e`` perpendicular to gravity. These block equations are
  accumulated with a forgetting time ``motion_bias_tau_s`` and fused with the rest estimate by their
  information (inverse variances). The second pass integrates with the fused bias; only it produces ``up``.

**Accelerometer calibration** (:mod:`processing.accel_calibration`; off by default, see
``OrientationParams.acc_bias_prior_sd_mps2``): at rest ``|a|`` should be ``g``; what it is not is removed before
step 2. Live: a sensitivity error along the first rest's vertical ``u0`` and, once the
rests span 10°, the bias across ``u0`` (both set per bias block from the rests before it); the output is turned
so that the ``u0`` posture keeps the raw accelerometer's direction (see :func:`_anchored`). ``offline=True``:
one fit over all the recording's rests.

Gaps (a step in ``t`` longer than ``gap_periods`` nominal periods or ``gap_s``) re-initialise the attitude from
the accelerometer and keep the bias. Results do not depend on chunking (to ~1e-12): one call over a
recording equals any sequence of calls over its pieces, down to one sample at a time (the live path: chunks of
up to ``_FAST_STEPS`` samples go through a plain-float per-sample step with the same numbers, since numpy's
per-call cost would be ~100x the arithmetic).

:func:`estimate_up` is the stable entry point for whole recordings; with ``offline=True`` it uses hindsight:
the rest bias is interpolated between rests, the motion equations are weighted both ways in time, and the
gravity low-pass runs forwards and backwards (zero phase, no lag).

>>> import numpy as np
>>> n = 200
>>> t = np.arange(n) / 100.0
>>> acc = np.tile([0.0, 9.80665 * np.sin(0.3), 9.80665 * np.cos(0.3)], (n, 1))
>>> up = estimate_up(t, np.zeros((n, 3)), acc)
>>> np.round(up[-1], 6) + 0.0
array([0.      , 0.29552 , 0.955336])
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import NDArray

from processing import _quat, _turns
from processing.accel_calibration import (
    FULL_FIT_SPREAD_DEG,
    NORM_SD_MPS2,
    PRIOR_SD_MPS2,
    REST_CAP_S,
    AccelCalibration,
    RestStatistics,
    fit_rest_calibration,
)
from processing.samples import STANDARD_GRAVITY, FloatArray, Samples
from processing.stage import SnapshotState

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

#: Internal processing block, samples (bounds the temporaries, ~20 MB; results do not depend on it). Larger
#: blocks spread the fixed cost of a chunk (a few hundred numpy calls) over more samples.
_CHUNK = 65536
#: The offline path keeps the rotation matrices of segments up to this many samples (72 bytes each) rather
#: than integrating the gyro a second time.
_KEEP_ROTATIONS = 1 << 18
#: Pieces up to this many samples are low-passed in full and then picked from (live chunks: fewer calls).
_SMALL_PIECE = 64
#: Chunks up to this many samples go sample by sample through the plain-float step (the live path).
_FAST_STEPS = 10
#: Consecutive sample intervals (index-aligned) whose median (of every 8th) is the nominal period for the next.
_DT_BLOCK = 1024
#: Smallest cumulative decay factor (e^-500) handled in one pass of the linear recursion before re-basing.
_MIN_PROD = math.exp(-500.0)
#: Longest piece of a linear recursion solved with one cumulative product, samples.
_PRODUCT_PIECE = 8192
#: ``OrientationParams.acc_bias_prior_sd_mps2`` that turns the accelerometer calibration on (50 mg per axis).
ACCEL_CALIBRATION_ON = PRIOR_SD_MPS2
#: Below this norm (m/s²) an accelerometer vector carries no direction (an all-zero sample).
_TINY_ACC = 1e-6


#: Size (bytes) of the block allocated and freed once before the first large chunk (see :func:`_keep_heap`).
_HEAP_BLOCK = 30 << 20
_heap_kept = False


def _keep_heap() -> None:
    """Let the C allocator keep the chunk temporaries' memory between chunks (once per process).

    A chunk of ``_CHUNK`` samples needs about 20 MB of short-lived numpy arrays. glibc's ``malloc`` returns
    free memory at the top of its heap to the system once it exceeds twice the largest block it has unmapped so
    far (about 5 MB here), so every chunk mapped fresh pages again: ~55 000 page faults per million samples,
    a quarter of the batch time. Freeing one 30 MB block (never touched, so it costs no memory) raises that
    limit to 60 MB, and the size from which an array gets its own mapping (and its own page faults) to 30 MB:
    glibc adjusts these only for freed blocks up to 32 MB, so the block stays below. Elsewhere (other
    allocators) this is a harmless allocation.
    """
    global _heap_kept
    if not _heap_kept:
        _heap_kept = True
        np.empty(_HEAP_BLOCK, dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class OrientationParams:
    """Parameters of :class:`OrientationEstimator` (all SI; validated on construction).

    tau_acc_s: time constant of the gravity low-pass in the gyro-integrated frame, s (Butterworth cut-off
        ``√2 / (2π tau)``). Longer averages motion better but lets gyro errors act longer.
    tau_acc_offline_s: the same for the zero-phase (forward-backward) low-pass of the offline path, s.
    gravity_mps2: magnitude of gravity, m/s².
    gap_s: a step in ``t`` longer than this is a gap, s.
    gap_periods: a step longer than this many nominal periods is a gap.
    rate_hz: nominal sample rate, Hz; None estimates the period from the previous 1024 intervals (median).
    bias_block_s: the bias is constant over blocks of this length and updated at their boundaries, s.
    bias_max_rps: bound on the bias estimate's norm, rad/s.
    bias_initial_sd_rps: standard deviation of the power-on bias per axis, rad/s.
    bias_walk_rps_per_sqrt_s: random walk of the bias, rad/s/√s (how fast old rest estimates lose weight).
    rest_gyro_noise_rps: standard deviation of one second's mean gyro at rest, rad/s.
    rest_gyro_rps: at rest, the gyro stays within this of its low-pass, rad/s.
    rest_acc_mps2: at rest, the accelerometer stays within this of its low-pass, m/s².
    rest_filter_tau_s: time constant of the rest-detection low-passes, s.
    rest_min_s: stillness must last this long to count as rest, s.
    rest_step_sigmas: a block's rest mean this many standard deviations from the estimate is a step of the
        bias (temperature, a knock): the estimate forgets its past.
    motion_bias_tau_s: forgetting time of the bias equations from motion, s.
    turn_memory: how many walking turns the turn compensation (:mod:`processing._turns`) remembers (the weight
        of old turns decays by ``exp(-1 / turn_memory)`` at each new one); 0 switches it off. Walking turns press
        the accelerometer sideways (``ω × v``, 2-3 m/s² in a sharp turn), which the gravity low-pass would read
        as a tilt of several degrees; the compensation learns ``v`` from the turns and removes it.
    rest_hold_s: for this long after a rest ends, the output's gravity low-pass is fed the rest's own gravity
        instead of the accelerometer, s: setting off from rest (the first steps of a walk) changes the body's
        velocity by about 1 m/s within a second, which a low-pass of the accelerometer would take for a tilted
        gravity (a 2-3° dip that lasts the low-pass's settling time); meanwhile the gyro, its bias just learnt
        at rest, carries the vertical alone. 0 switches it off.
    motion_drift_sd_rad: standard deviation of one block's measured gravity drift, rad (smaller trusts motion
        more).
    initial_bias_rps: bias at start and after :meth:`OrientationEstimator.reset`, rad/s, sensor frame.
    latency_s: the sensor's output delay, s (its internal filters' group delay, or a known offset to a
        reference clock): ``up`` is predicted that far ahead with the bias-corrected gyro,
        ``up - latency_s (ω × up)``. 0 (the default) reports the vertical at the sample's own time.
    acc_bias_prior_sd_mps2: accelerometer bias per axis before any rest, m/s² (the prior of the fit from rests,
        :mod:`processing.accel_calibration`); ``ACCEL_CALIBRATION_ON`` (0.49 m/s², 50 mg, the default) turns the
        accelerometer calibration on, 0 switches it off. On by default since cheap MEMS accelerometers are
        20-80 mg off: on the simulator's cheap sensor (a bias fixed in the sensor frame) it cuts the static tilt
        error by about a third live and a half with hindsight; on BROAD's calibrated IMU it costs +0.006° and on
        HAPT it changes nothing that matters (see bench_tilt/bench_broad --no-accel-calibration).
    acc_norm_sd_mps2: standard deviation of one rest's norm equation ``|a - b| = g``, m/s² (scale, cross-axis
        and local-gravity errors).
    acc_reference_deg: the live path estimates the bias along the vertical of the first rest (the reference
        posture) from the rests within this angle of it, degrees.
    """

    tau_acc_s: float = 3.0
    tau_acc_offline_s: float = 3.0
    gravity_mps2: float = STANDARD_GRAVITY
    gap_s: float = 0.5
    gap_periods: float = 3.0
    rate_hz: float | None = None
    bias_block_s: float = 1.0
    bias_max_rps: float = math.radians(10.0)
    bias_initial_sd_rps: float = math.radians(2.0)
    bias_walk_rps_per_sqrt_s: float = math.radians(0.01)
    rest_gyro_noise_rps: float = math.radians(0.1)
    rest_gyro_rps: float = math.radians(2.0)
    rest_acc_mps2: float = 0.5
    rest_filter_tau_s: float = 0.5
    rest_min_s: float = 1.5
    rest_step_sigmas: float = 3.0
    motion_bias_tau_s: float = 20.0
    rest_hold_s: float = 0.5
    turn_memory: float = 600.0
    motion_drift_sd_rad: float = 0.0015
    initial_bias_rps: tuple[float, float, float] = (0.0, 0.0, 0.0)
    latency_s: float = 0.0
    acc_bias_prior_sd_mps2: float = ACCEL_CALIBRATION_ON
    acc_norm_sd_mps2: float = NORM_SD_MPS2
    acc_reference_deg: float = 10.0

    def __post_init__(self) -> None:
        positive = (
            "tau_acc_s",
            "tau_acc_offline_s",
            "gravity_mps2",
            "gap_s",
            "bias_block_s",
            "bias_max_rps",
            "bias_initial_sd_rps",
            "bias_walk_rps_per_sqrt_s",
            "rest_gyro_noise_rps",
            "rest_gyro_rps",
            "rest_acc_mps2",
            "rest_filter_tau_s",
            "motion_bias_tau_s",
            "motion_drift_sd_rad",
            "rest_step_sigmas",
            "acc_norm_sd_mps2",
            "acc_reference_deg",
        )
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"OrientationParams.{name} must be a finite number > 0, got {value!r}")
        if not (math.isfinite(self.gap_periods) and self.gap_periods > 1):
            raise ValueError(f"OrientationParams.gap_periods must be > 1, got {self.gap_periods!r}")
        for name in ("rest_min_s", "rest_hold_s", "turn_memory"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                raise ValueError(f"OrientationParams.{name} must be a finite number >= 0, got {value!r}")
        if self.rate_hz is not None and not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise ValueError(f"OrientationParams.rate_hz must be None or > 0, got {self.rate_hz!r}")
        if not (math.isfinite(self.latency_s) and 0.0 <= self.latency_s <= 0.1):
            raise ValueError(f"OrientationParams.latency_s must be in [0, 0.1] s, got {self.latency_s!r}")
        if not (math.isfinite(self.acc_bias_prior_sd_mps2) and self.acc_bias_prior_sd_mps2 >= 0):
            raise ValueError(
                f"OrientationParams.acc_bias_prior_sd_mps2 must be >= 0 (0: off), got {self.acc_bias_prior_sd_mps2!r}"
            )
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
    acc_gain: (n,) float: the accelerometer's relative sensitivity error along the reference vertical (the
        first rest's), removed at each sample (see :meth:`OrientationEstimator._accel_gain`).
    acc_across: (n, 3) float, m/s², sensor frame: the accelerometer bias across that vertical, removed at each
        sample (see :meth:`OrientationEstimator._accel_across`).
    """

    t: FloatArray
    up: FloatArray
    bias: FloatArray
    rest: BoolArray
    reinit: BoolArray
    acc_gain: FloatArray
    acc_across: FloatArray

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @staticmethod
    def concat(parts: Sequence[OrientationResult]) -> OrientationResult:
        """Join consecutive results (e.g. from a stream of chunks)."""
        if not parts:
            return OrientationResult(
                np.empty(0),
                np.empty((0, 3)),
                np.empty((0, 3)),
                np.empty(0, bool),
                np.empty(0, bool),
                np.empty(0),
                np.empty((0, 3)),
            )
        return OrientationResult(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(OrientationResult))
        )


# -- building blocks ------------------------------------------------------------------------------------------


def _linrec(c: FloatArray, u: FloatArray, y0: FloatArray) -> FloatArray:
    """Solve ``y_k = c_k y_{k-1} + u_k`` for (m,) ``c`` in [0, 1], (ch, m) ``u`` and (ch,) ``y0``.

    Closed form ``y_k = P_k (y0 + Σ_{i<=k} u_i / P_i)`` with ``P = cumprod(c)``, re-based (iteratively)
    whenever ``P`` falls below ``e^-500`` so that nothing underflows.
    """
    ch, m = u.shape
    out = np.empty((ch, m))
    y = y0
    for start, stop, prod in _rebased_products(np.maximum(c, _MIN_PROD)):
        seg = out[:, start:stop]
        np.divide(u[:, start:stop], prod, out=seg)
        np.cumsum(seg, axis=1, out=seg)
        seg += y[:, None]
        seg *= prod
        y = seg[:, -1]
    return out


def _rebased_products(c: FloatArray) -> Iterator[tuple[int, int, FloatArray]]:
    """Pieces ``(start, stop, cumprod(c[start:stop]))`` covering ``c`` (m,), each cut where the running product
    would fall below ``e^-500``, so that dividing by it never overflows, and at most ``_PRODUCT_PIECE`` long (so
    that a cut does not cost a product over the whole remainder)."""
    m = int(c.shape[0])
    start = 0
    while start < m:
        prod = np.cumprod(c[start : start + _PRODUCT_PIECE], dtype=np.float64)
        if prod[-1] < _MIN_PROD:
            stop = start + max(1, int(np.searchsorted(-prod, -_MIN_PROD, side="right")))
            prod = prod[: stop - start]
        else:
            stop = start + prod.shape[0]
        yield start, stop, prod
        start = stop


def _smooth_first_order(xs: Sequence[FloatArray], gain: FloatArray, y0: FloatArray) -> FloatArray:
    """First-order low-pass ``y_k = y_{k-1} + gain_k (x_k - y_{k-1})`` of the rows of the arrays ``xs`` (each
    (ch_i, m)) stacked, from ``y0``; gains in (0, 1]. Returns (Σ ch_i, m).

    :func:`_linrec` with ``c = 1 - gain`` and ``u = gain x``, written so that the per-sample weights
    ``gain / Π c`` are formed once for all channels (no stacked copy of the input, no division per channel), and
    the carried state is added to the first sample's term before the cumulative sum.
    """
    out = np.empty((y0.shape[0], gain.shape[0]))
    y = y0
    for start, stop, prod in _rebased_products(np.maximum(1.0 - gain, _MIN_PROD)):
        w = gain[start:stop] / prod
        row = 0
        for x in xs:
            np.multiply(x[:, start:stop], w, out=out[row : row + x.shape[0], start:stop])
            row += x.shape[0]
        seg = out[:, start:stop]
        seg[:, 0] += y  # the state enters with the first sample: one column, not a pass over the piece
        np.cumsum(seg, axis=1, out=seg)
        seg *= prod
        y = seg[:, -1]
    return out


def _unit_or(v: FloatArray, fallback: FloatArray) -> FloatArray:
    """Columns of (3, n) ``v`` normalised; a column of (almost) zero norm becomes ``fallback`` (3,)."""
    out = v.copy()
    _normalise_or(out, fallback)
    return out


def _normalise_or(v: FloatArray, fallback: FloatArray) -> None:
    """:func:`_unit_or` in place on (3, n) ``v``."""
    norm = np.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    ok = norm > _TINY_ACC
    if ok.all():
        v /= norm
        return
    v /= np.where(ok, norm, 1.0)
    v[:, ~ok] = fallback[:, None]


@dataclass(slots=True)
class _Lowpass:
    """State of the gravity low-pass of a ``ch``-channel signal: a running mean over the first ``n_start``
    samples after an initialisation, then a second-order Butterworth filter started in steady state."""

    ch: int
    count: int = 0
    total: FloatArray = field(default_factory=lambda: np.zeros(0))
    zi: NDArray[np.complex128] = field(default_factory=lambda: np.zeros(0, dtype=np.complex128))

    def __post_init__(self) -> None:
        self.init()

    def init(self) -> None:
        self.count = 0
        self.total = np.zeros(self.ch)
        self.zi = np.zeros(self.ch, dtype=np.complex128)


@dataclass(frozen=True, slots=True)
class _Butter:
    """The second-order Butterworth low-pass (bilinear transform, pre-warped; cut-off ``√2 / (2π tau)``) at one
    sample period, as its partial fractions: ``y_k = c x_k + 2 Re(s_k)``, ``s_k = p s_{k-1} + r x_k`` with the
    complex pole ``p``. A complex first-order recursion is a cumulative sum (vectorised, any chunk size), which
    is why it is written this way (and why no scipy.signal: importing it costs a second per start).

    >>> bw = _Butter.design(3.0, 0.01)
    >>> y, s = _iir(np.ones((1, 5)), bw.steady(np.ones(1)), bw)
    >>> np.round(y, 12) + 0.0
    array([[1., 1., 1., 1., 1.]])
    """

    c: float
    p: complex
    r: complex
    n_start: int  # samples of running mean after an initialisation
    span: int  # samples per block of the cumulative sums (|p|^span >= e^-20, so nothing loses precision)
    powers: NDArray[np.complex128]  # p^1 .. p^span
    powers_re2: FloatArray  # 2 Re(p^k)
    powers_im2: FloatArray  # 2 Im(p^k)
    r_over_powers: NDArray[np.complex128]  # r p^-1 .. r p^-span
    r_over_powers_re: FloatArray
    r_over_powers_im: FloatArray

    @staticmethod
    def design(tau_s: float, dt_s: float) -> _Butter:
        fc_hz = math.sqrt(2.0) / (2.0 * math.pi * tau_s)
        k = math.tan(math.pi * min(0.99, 2.0 * fc_hz * dt_s) / 2.0)
        norm = 1.0 / (1.0 + math.sqrt(2.0) * k + k * k)
        b0 = k * k * norm
        b1, b2 = 2.0 * b0, b0
        a1 = 2.0 * (k * k - 1.0) * norm
        a2 = (1.0 - math.sqrt(2.0) * k + k * k) * norm
        pole = (-a1 + complex(a1 * a1 - 4.0 * a2) ** 0.5) / 2.0
        residue = (b0 + b1 / pole + b2 / pole**2) / (1.0 - pole.conjugate() / pole)
        span = max(1, min(1 << 20, int(20.0 / max(1e-12, -math.log(abs(pole))))))
        ks = np.arange(1, span + 1, dtype=np.float64)
        angle = ks * math.atan2(pole.imag, pole.real)
        # p^k from modulus and argument: ~10x faster than complex powers, same to ~1e-12
        powers = np.exp(ks * math.log(abs(pole))) * (np.cos(angle) + 1j * np.sin(angle))
        return _Butter(
            b2 / a2,
            pole,
            residue,
            max(1, round(tau_s / dt_s)),
            span,
            powers,
            2.0 * powers.real,
            2.0 * powers.imag,
            residue / powers,
            np.ascontiguousarray((residue / powers).real),
            np.ascontiguousarray((residue / powers).imag),
        )

    def steady(self, level: FloatArray) -> NDArray[np.complex128]:
        """State for a constant input ``level`` (ch,) held forever."""
        return np.asarray(level * (self.r / (1.0 - self.p)), dtype=np.complex128)


def _iir(
    x: FloatArray, s0: NDArray[np.complex128], bw: _Butter, out: FloatArray | None = None
) -> tuple[FloatArray, NDArray[np.complex128]]:
    """Filter (ch, n) ``x`` from the state ``s0`` (ch,); returns the output (written into ``out`` (ch, n) if
    given, which may be ``x`` itself) and the final state."""
    ch, n = x.shape
    if n == 1:  # one live sample: s = p s + r x, y = c x + 2 Re(s)
        s = s0 * bw.p + bw.r * x[:, 0]
        y1 = (bw.c * x[:, 0] + 2.0 * s.real)[:, None]
        if out is None:
            return y1, s
        out[:] = y1
        return out, s
    y = np.empty((ch, n)) if out is None else out
    s = s0.copy()
    width = min(n, bw.span)
    z_buf = np.empty((ch, width), dtype=np.complex128)
    cx_buf = np.empty((ch, width))
    tmp_buf = np.empty((ch, width))
    for lo in range(0, n, bw.span):
        hi = min(n, lo + bw.span)
        m = hi - lo
        z, cx, tmp, xs, ys = z_buf[:, :m], cx_buf[:, :m], tmp_buf[:, :m], x[:, lo:hi], y[:, lo:hi]
        np.multiply(xs, bw.r_over_powers[:m], out=z)  # r x_i p^-i
        np.multiply(xs, bw.c, out=cx)  # before ys is written: it may be xs
        np.cumsum(z, axis=1, out=z)
        z += s[:, None]  # s_k = p^k (s_0 + Σ_{i<=k} r x_i p^-i)
        s = z[:, -1] * bw.powers[m - 1]
        # y = c x + 2 Re(p^k z)
        np.multiply(z.real, bw.powers_re2[:m], out=ys)
        np.multiply(z.imag, bw.powers_im2[:m], out=tmp)
        ys -= tmp
        ys += cx
    return y, s


def _lowpass(x: FloatArray, st: _Lowpass, bw: _Butter | None, out: FloatArray | None = None) -> FloatArray:
    """Low-pass (ch, n) ``x`` continuing the state ``st`` (updated); a running mean while ``bw`` is unknown (no
    sample period seen yet). The output is written into ``out`` (ch, n) if given, which may be ``x`` itself."""
    n = x.shape[1]
    y = np.empty_like(x) if out is None else out
    k = 0
    n_start = bw.n_start if bw is not None else st.count + n + 1
    if st.count < n_start:
        k = min(n, n_start - st.count)
        csum = np.cumsum(x[:, :k], axis=1)
        csum += st.total[:, None]
        y[:, :k] = csum / np.arange(st.count + 1, st.count + k + 1)
        st.total = csum[:, -1].copy()
        st.count += k
        if bw is not None and st.count == bw.n_start:
            st.zi = bw.steady(y[:, k - 1])
    if k < n and bw is not None:
        _, st.zi = _iir(x[:, k:], st.zi, bw, out=y[:, k:])
        st.count += n - k
    return y


def _wanted_in_span(at: IntArray, lo: int, hi: int) -> tuple[int, int, IntArray, IntArray, IntArray]:
    """For the span ``lo:hi`` of a recursion evaluated only at the sorted indices ``at``: the slice ``a0:a1`` of
    ``at`` inside the span, the wanted positions ``pos`` (into the span), the segment ends ``marks`` (the wanted
    positions and the span's last sample, which carries the state on) and the segment starts ``cuts``."""
    a0, a1 = (int(v) for v in np.searchsorted(at, (lo, hi)))
    pos = at[a0:a1] - lo
    marks = pos if pos.shape[0] and pos[-1] == hi - lo - 1 else np.append(pos, hi - lo - 1)
    cuts = np.concatenate(([0], marks[:-1] + 1))
    return a0, a1, pos, marks, cuts


def _iir_at(
    x: FloatArray, s0: NDArray[np.complex128], bw: _Butter, at: IntArray
) -> tuple[FloatArray, NDArray[np.complex128]]:
    """:func:`_iir`'s output only at the sorted sample indices ``at`` (ch, len(at)), and the final state.

    The same recursion, but the cumulative sum is taken only between the wanted samples (segment sums, then a
    short cumulative sum), and the output is formed only there: about a third of the work of :func:`_iir`."""
    ch, n = x.shape
    out = np.empty((ch, at.shape[0]))
    s = s0.copy()
    for lo in range(0, n, bw.span):
        hi = min(n, lo + bw.span)
        m = hi - lo
        a0, a1, pos, marks, cuts = _wanted_in_span(at, lo, hi)
        xs = x[:, lo:hi]
        seg = np.empty((ch, marks.shape[0]), dtype=np.complex128)
        seg.real = np.add.reduceat(xs * bw.r_over_powers_re[:m], cuts, axis=1)
        seg.imag = np.add.reduceat(xs * bw.r_over_powers_im[:m], cuts, axis=1)
        np.cumsum(seg, axis=1, out=seg)
        seg += s[:, None]
        wanted = seg[:, : pos.shape[0]] * bw.powers[pos]
        out[:, a0:a1] = bw.c * x[:, lo + pos] + 2.0 * wanted.real
        s = seg[:, -1] * bw.powers[m - 1]
    return out, s


def _lowpass_at(x: FloatArray, st: _Lowpass, bw: _Butter | None, at: IntArray) -> FloatArray:
    """:func:`_lowpass` of (ch, n) ``x``, returned only at the sorted sample indices ``at`` (ch, len(at)); the
    state ``st`` is carried exactly as by :func:`_lowpass`."""
    n = x.shape[1]
    if n <= _SMALL_PIECE:  # a few live samples: fewer numpy calls the plain way
        return _lowpass(x, st, bw)[:, at]
    n_start = bw.n_start if bw is not None else st.count + n + 1
    parts = []
    k = 0
    if st.count < n_start:  # the running mean after an initialisation: short, computed in full
        k = min(n, n_start - st.count)
        parts.append(_lowpass(x[:, :k], st, bw)[:, at[at < k]])
    if k < n and bw is not None:
        y, st.zi = _iir_at(x[:, k:], st.zi, bw, at[at >= k] - k)
        st.count += n - k
        parts.append(y)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def _iir_integral_at(
    rate: FloatArray, dt: FloatArray, total0: FloatArray, s0: NDArray[np.complex128], bw: _Butter, at: IntArray
) -> tuple[FloatArray, FloatArray, NDArray[np.complex128]]:
    """:func:`_iir_at` of the running integral ``A_k = total0 + Σ_{i<=k} rate_i dt_i`` of (ch, n) ``rate``,
    without forming ``A`` (a cumulative sum is the slowest numpy pass here): returns the output at the sorted
    indices ``at`` (ch, len(at)), ``A`` at the last sample (ch,) and the final state.

    With ``v_k = p v_{k-1} + r a_k`` (the section of :class:`_Butter` driven by the increments ``a = rate dt``),
    the state driven by ``A`` is ``s_k = (r A_k - p v_k) / (1 - p)`` (partial fractions of the pole at 1), so
    ``y_k = c A_k + 2 Re(s_k)`` needs only segment sums of ``a``, ``a Re(r p^-i)`` and ``a Im(r p^-i)``."""
    ch, n = rate.shape
    out = np.empty((ch, at.shape[0]))
    k_lo = 1.0 / (1.0 - bw.p)
    v = (bw.r * total0 - (1.0 - bw.p) * s0) / bw.p
    total = total0
    weights = np.empty((3, min(n, bw.span)))
    for lo in range(0, n, bw.span):
        hi = min(n, lo + bw.span)
        m = hi - lo
        a0, a1, pos, marks, cuts = _wanted_in_span(at, lo, hi)
        w = weights[:, :m]
        w[0] = dt[lo:hi]
        np.multiply(w[0], bw.r_over_powers_re[:m], out=w[1])
        np.multiply(w[0], bw.r_over_powers_im[:m], out=w[2])
        sums = np.add.reduceat(rate[:, None, lo:hi] * w, cuts, axis=2)  # (ch, 3, segments)
        big_a = np.cumsum(sums[:, 0], axis=1)
        big_a += total[:, None]
        seg = np.empty((ch, marks.shape[0]), dtype=np.complex128)
        seg.real = sums[:, 1]
        seg.imag = sums[:, 2]
        np.cumsum(seg, axis=1, out=seg)
        seg += v[:, None]
        seg *= bw.powers[marks]  # v at the marks
        state = (bw.r * big_a - bw.p * seg) * k_lo
        npos = pos.shape[0]
        out[:, a0:a1] = bw.c * big_a[:, :npos] + 2.0 * state[:, :npos].real
        v = seg[:, -1]
        total = big_a[:, -1]
    s_end = (bw.r * total - bw.p * v) * k_lo
    return out, total.copy(), np.asarray(s_end, dtype=np.complex128)


def _lowpass_integral_at(
    rate: FloatArray, dt: FloatArray, total0: FloatArray, st: _Lowpass, bw: _Butter | None, at: IntArray
) -> tuple[FloatArray, FloatArray]:
    """:func:`_lowpass_at` of the running integral ``total0 + Σ rate dt`` of (ch, n) ``rate`` (s weights
    ``dt`` (n,)), at the sorted indices ``at``; returns it (ch, len(at)) and the integral at the last sample."""
    n = dt.shape[0]
    n_start = bw.n_start if bw is not None else st.count + n + 1
    k = min(n, n_start - st.count) if st.count < n_start else 0
    if bw is None or n <= _SMALL_PIECE or k == n:  # short or all running mean: form the integral
        x = rate * dt
        np.cumsum(x, axis=1, out=x)
        x += total0[:, None]
        return _lowpass_at(x, st, bw, at), x[:, -1].copy()
    parts = []
    total = total0
    if k:  # the running mean after an initialisation: short, computed in full
        x = rate[:, :k] * dt[:k]
        np.cumsum(x, axis=1, out=x)
        x += total0[:, None]
        total = x[:, -1].copy()
        parts.append(_lowpass(x, st, bw)[:, at[at < k]])
    y, total, st.zi = _iir_integral_at(rate[:, k:], dt[k:], total, st.zi, bw, at[at >= k] - k)
    st.count += n - k
    parts.append(y)
    return (parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)), total


def _snap(st: _Lowpass, bw: _Butter | None, level: FloatArray) -> None:
    """Restart the low-pass ``st`` in steady state at ``level`` (ch,): its output is ``level`` until the input
    moves away."""
    if bw is None:
        st.count, st.total = 1, level.copy()
        return
    st.count = bw.n_start
    st.total = level * bw.n_start
    st.zi = bw.steady(level)


def _zero_phase(x: FloatArray, bw: _Butter) -> FloatArray:
    """Forward-backward (zero-phase) low-pass of (ch, n) ``x``, each way started in steady state."""
    fwd, _ = _iir(x, bw.steady(x[:, 0]), bw)
    back = np.ascontiguousarray(fwd[:, ::-1])
    out, _ = _iir(back, bw.steady(back[:, 0]), bw)
    return np.ascontiguousarray(out[:, ::-1])


def _strapdown(
    gyro: FloatArray, dt: FloatArray, bias: FloatArray, q: complex, p: complex
) -> tuple[FloatArray, complex, complex]:
    """Rotation matrices (9, n) of the sensor in the reference frame after each sample, starting from the unit
    quaternion ``(q, p)`` (Cayley–Dickson pair) and integrating ``(gyro - bias) dt`` sample by sample; and the
    last quaternion, renormalised."""
    rotvec = gyro - bias
    rotvec *= dt
    qa, qb = _quat.from_rotvec(rotvec)
    a0, b0 = complex(qa[0]), complex(qb[0])
    qa[0] = q * a0 - p * b0.conjugate()
    qb[0] = q * b0 + p * a0.conjugate()
    pa, pb = _quat.scan(qa, qb)
    qe, pe = complex(pa[-1]), complex(pb[-1])
    norm = math.sqrt(abs(qe) ** 2 + abs(pe) ** 2)
    return _quat.to_matrix(pa, pb), qe / norm, pe / norm


def _ahead(up: FloatArray, omega: FloatArray, latency_s: float) -> FloatArray:
    """Unit up vectors (3, n) predicted ``latency_s`` ahead with the rates ``omega`` (3, n), rad/s: in the
    sensor frame a fixed vertical turns as ``d up / dt = -ω × up``."""
    if latency_s == 0.0:
        return up
    out = up - latency_s * _cross(omega, up)
    out /= np.sqrt(out[0] * out[0] + out[1] * out[1] + out[2] * out[2])
    return out


def _carried(at_rest: FloatArray, rest: BoolArray, before: FloatArray, at: IntArray | None = None) -> FloatArray:
    """Running values (ch, m) known at the rest samples of ``rest`` (n,), carried to the samples ``at`` (all by
    default): each takes the value at the last rest sample at or before it, or ``before`` (ch,) if none."""
    pos = np.cumsum(rest) - 1
    if at is not None:
        pos = pos[at]
    if at_rest.shape[1] == 0:
        return np.repeat(before[:, None], pos.shape[0], axis=1)
    out: FloatArray = at_rest[:, np.maximum(pos, 0)]
    out[:, pos < 0] = before[:, None]
    return out


def _hold_after_rest(
    x: FloatArray, r: FloatArray, acc_rest: FloatArray, rest: BoolArray, t: FloatArray, f: _Pass, hold_s: float
) -> None:
    """Replace in place the low-pass input ``x`` (3, n), the accelerometer in the pass's reference frame, by the
    last rest's (``acc_rest`` rotated by ``r`` (9, n) at the last rest sample) on the moving samples less than
    ``hold_s`` after it; carry the last rest sample in ``f`` (``t`` (n,) s, ``rest`` (n,))."""
    if hold_s <= 0.0:
        return
    n = t.shape[0]
    edges = np.flatnonzero(rest[1:] != rest[:-1])
    ends = edges[rest[edges]]  # last samples of the rests that end inside the chunk
    if not rest[0] and t[0] - f.t_rest < hold_s:  # a rest that ended before the chunk
        stop = int(np.searchsorted(t, f.t_rest + hold_s, side="left"))
        stop = min(stop, int(edges[0]) + 1) if edges.size else stop
        x[:, :stop] = f.rest_ref[:, None]
    for end in ends.tolist():
        stop = int(np.searchsorted(t, t[end] + hold_s, side="left"))
        nxt = np.searchsorted(edges, end, side="right")
        if nxt < edges.shape[0]:
            stop = min(stop, int(edges[nxt]) + 1)  # up to the next rest
        ref = _quat.rotate(r[:, end : end + 1], acc_rest[:, end : end + 1])
        x[:, end + 1 : stop] = ref
    last = n - 1 if rest[-1] else int(ends[-1]) if ends.size else -1  # the chunk's last rest sample
    if last >= 0:
        f.t_rest = float(t[last])
        f.rest_ref = _quat.rotate(r[:, last : last + 1], acc_rest[:, last : last + 1])[:, 0]


def _anchored(up: FloatArray, across: FloatArray, u0: FloatArray | None, gravity: float) -> FloatArray:
    """Up vectors (3, n) turned by the rotation that takes the corrected vertical of the reference posture,
    ``g u0 - b⊥`` (``b⊥`` = ``across``, (3, n), perpendicular to ``u0``), to its raw direction ``u0``: that
    posture's output stays the accelerometer's raw direction (a neutral calibration read from the raw
    accelerometer there stays valid) and every angle between postures is the corrected one."""
    if u0 is None or not across.any():
        return up
    v = gravity * u0[:, None] - across
    v /= np.sqrt(np.einsum("ij,ij->j", v, v))
    # Rodrigues for the rotation v -> u0: x' = c x + k × x + k (k·x) / (1 + c), k = v × u0, c = v·u0
    k = _cross(v, np.broadcast_to(u0[:, None], v.shape))
    c = u0 @ v
    kx = np.einsum("ij,ij->j", k, up)
    out: FloatArray = c * up + _cross(k, up) + k * (kx / (1.0 + c))
    return out


def _cross(x: FloatArray, y: FloatArray) -> FloatArray:
    """``x × y`` for (3, n) arrays."""
    return np.stack((x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0]))


def _drift_equations(
    g0: FloatArray, g1: FloatArray, d_atil: FloatArray, b_rest: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Blocks' bias equations ``H b = drift + H b_rest`` as normal-equation terms, (9, m) ``HᵀH`` (row-major)
    and (3, m) ``Hᵀ(...)``.

    ``g0``, ``g1``: (3, m) low-passed gravity of the rest-bias pass at the blocks' starts and ends; ``d_atil``:
    (9, m) the change of the low-passed ``Σ R dt`` over each block. With ``u`` the gravity directions,
    ``H = (I - u1 u1ᵀ) ΔÃ`` and ``drift = u0 × u1``. Blocks whose gravity has no direction give zeros.
    """
    up0 = np.array([0.0, 0.0, 1.0])
    u0, u1 = _unit_or(g0, up0), _unit_or(g1, up0)
    drift = _cross(u0, u1)
    da = d_atil.reshape(3, 3, -1)
    h = da - u1[:, None, :] * np.einsum("km,kjm->jm", u1, da)[None, :, :]
    m = np.einsum("ijm,ilm->jlm", h, h)
    r = np.einsum("ijm,im->jm", h, drift) + np.einsum("jlm,lm->jm", m, b_rest)
    return m.reshape(9, -1), r


def _fuse_many(
    b_rest: FloatArray, var_rest: FloatArray, info_m: FloatArray, info_r: FloatArray, p: OrientationParams
) -> FloatArray:
    """Biases (3, m) from the rest estimates (3, m) with variances (m,) and the motion equations' information
    (9, m) and (3, m): ``(I / var + k M)⁻¹ (b_rest / var + k r)``, ``k = 1 / motion_drift_sd_rad²``; the norm
    is bounded by ``bias_max_rps``."""
    k = 1.0 / (p.motion_drift_sd_rad * p.motion_drift_sd_rad)
    w = 1.0 / var_rest
    a = (k * info_m).T.reshape(-1, 3, 3)
    a[:, [0, 1, 2], [0, 1, 2]] += w[:, None]
    rhs = (w * b_rest + k * info_r).T[:, :, None]
    b = np.asarray(np.linalg.solve(a, rhs)[:, :, 0].T, dtype=np.float64)
    norm = np.sqrt(b[0] * b[0] + b[1] * b[1] + b[2] * b[2])
    b *= np.minimum(1.0, p.bias_max_rps / np.maximum(norm, 1e-300))
    return b


# -- one sample in plain floats (the live path; see OrientationEstimator._step) --------------------------------


@dataclass(frozen=True, slots=True)
class _StepRow:
    """One output row of :meth:`OrientationEstimator._step`: time (s), up (sensor frame), bias (rad/s), rest."""

    t: float
    up: tuple[float, float, float]
    bias: tuple[float, float, float]
    rest: bool
    acc_gain: float
    acc_across: tuple[float, float, float]

    @staticmethod
    def result(rows: Sequence[_StepRow]) -> OrientationResult:
        """The rows as an :class:`OrientationResult` (no row re-initialised)."""
        return OrientationResult(
            np.array([r.t for r in rows]),
            np.array([r.up for r in rows]),
            np.array([r.bias for r in rows]),
            np.array([r.rest for r in rows], dtype=bool),
            np.zeros(len(rows), dtype=bool),
            np.array([r.acc_gain for r in rows]),
            np.array([r.acc_across for r in rows]),
        )


def _strapdown_one(
    gyro: list[float], dt: float, bias: list[float], q: complex, p: complex
) -> tuple[list[float], complex, complex]:
    """:func:`_strapdown` of one sample: the rotation matrix (9 floats, row-major) and the renormalised
    quaternion, with the same operations as :func:`_quat.from_rotvec` and :func:`_quat.to_matrix`."""
    v0, v1, v2 = (gyro[0] - bias[0]) * dt, (gyro[1] - bias[1]) * dt, (gyro[2] - bias[2]) * dt
    h2 = 0.25 * (v0 * v0 + v1 * v1 + v2 * v2)
    if h2 < 0.01:
        cw = (((h2 * (1.0 / 40320.0) - 1.0 / 720.0) * h2 + 1.0 / 24.0) * h2 - 0.5) * h2 + 1.0
        sc = ((h2 * (-1.0 / 10080.0) + 1.0 / 240.0) * h2 - 1.0 / 12.0) * h2 + 0.5
    else:
        half = math.sqrt(h2)
        cw = math.cos(half)
        y = math.pi * (half * (1.0 / math.pi))
        sc = 0.5 * (math.sin(y) / y)
    da, db = complex(cw, sc * v0), complex(sc * v1, sc * v2)
    qa, qb = q * da - p * db.conjugate(), q * db + p * da.conjugate()
    w, x, y, z = qa.real, qa.imag, qb.real, qb.imag
    ww, xx, yy, zz = w * w, x * x, y * y, z * z
    r = [
        ww + xx - yy - zz,
        (x * y - z * w) * 2.0,
        (x * z + y * w) * 2.0,
        (x * y + z * w) * 2.0,
        ww - xx + yy - zz,
        (y * z - x * w) * 2.0,
        (x * z - y * w) * 2.0,
        (y * z + x * w) * 2.0,
        ww - xx - yy + zz,
    ]
    norm = math.sqrt(abs(qa) ** 2 + abs(qb) ** 2)
    return r, qa / norm, qb / norm


def _drift_equation_one(g0: list[float], g1: list[float], d_atil: list[float], b_rest: list[float]) -> list[float]:
    """:func:`_drift_equations` of one block in plain floats: ``HᵀH`` (9, row-major) then ``Hᵀ(...)`` (3)."""
    u0, u1 = [0.0, 0.0, 1.0], [0.0, 0.0, 1.0]
    n0, n1 = math.sqrt(sum(v * v for v in g0)), math.sqrt(sum(v * v for v in g1))
    if n0 > _TINY_ACC:
        u0 = [v / n0 for v in g0]
    if n1 > _TINY_ACC:
        u1 = [v / n1 for v in g1]
    drift = [u0[1] * u1[2] - u0[2] * u1[1], u0[2] * u1[0] - u0[0] * u1[2], u0[0] * u1[1] - u0[1] * u1[0]]
    c = [u1[0] * d_atil[j] + u1[1] * d_atil[3 + j] + u1[2] * d_atil[6 + j] for j in range(3)]
    h = [[d_atil[3 * i + j] - u1[i] * c[j] for j in range(3)] for i in range(3)]
    m = [h[0][j] * h[0][q] + h[1][j] * h[1][q] + h[2][j] * h[2][q] for j in range(3) for q in range(3)]
    r = [
        h[0][j] * drift[0] + h[1][j] * drift[1] + h[2][j] * drift[2]
        + (m[3 * j] * b_rest[0] + m[3 * j + 1] * b_rest[1] + m[3 * j + 2] * b_rest[2])
        for j in range(3)
    ]  # fmt: skip
    return [*m, *r]


def _corrected_one(
    v: list[float], gain: float, across: tuple[float, float, float], u0: FloatArray | None
) -> list[float]:
    """``v - gain (v · u0) u0 - across`` for one vector (the general path's ``_accel_corrected(...) - across``)."""
    if u0 is not None and gain != 0.0:
        r0, r1, r2 = u0.tolist()
        k = gain * (r0 * v[0] + r1 * v[1] + r2 * v[2])
        v = [v[0] - r0 * k, v[1] - r1 * k, v[2] - r2 * k]
    return [v[0] - across[0], v[1] - across[1], v[2] - across[2]]


def _anchored_one(
    up: tuple[float, float, float], across: tuple[float, float, float], u0: list[float], gravity: float
) -> tuple[float, float, float]:
    """:func:`_anchored` of one up vector."""
    v0, v1, v2 = gravity * u0[0] - across[0], gravity * u0[1] - across[1], gravity * u0[2] - across[2]
    n = math.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
    v0, v1, v2 = v0 / n, v1 / n, v2 / n
    k0, k1, k2 = v1 * u0[2] - v2 * u0[1], v2 * u0[0] - v0 * u0[2], v0 * u0[1] - v1 * u0[0]
    c = u0[0] * v0 + u0[1] * v1 + u0[2] * v2
    x0, x1, x2 = up
    kx = k0 * x0 + k1 * x1 + k2 * x2
    f = kx / (1.0 + c)
    return (
        c * x0 + (k1 * x2 - k2 * x1) + k0 * f,
        c * x1 + (k2 * x0 - k0 * x2) + k1 * f,
        c * x2 + (k0 * x1 - k1 * x0) + k2 * f,
    )


def _first_order_one(dt: float, tau_s: float) -> tuple[float, float]:
    """One sample of :func:`_smooth_first_order` in closed form: ``y = (x w + y_prev) c`` with these ``(w, c)``
    for an interval ``dt`` and a time constant ``tau_s`` (s)."""
    gain = -math.expm1(dt * (-1.0 / tau_s))
    c = max(1.0 - gain, _MIN_PROD)
    return gain / c, c


def _rotate_one(r: list[float], v: list[float]) -> list[float]:
    """``R v`` for one row-major matrix (9 floats) and vector (3 floats)."""
    return [r[0] * v[0] + r[1] * v[1] + r[2] * v[2], r[3] * v[0] + r[4] * v[1] + r[5] * v[2],
            r[6] * v[0] + r[7] * v[1] + r[8] * v[2]]  # fmt: skip


def _iir_one(x: list[float], st: _Lowpass, bw: _Butter) -> list[float]:
    """One sample of the Butterworth recursion (:func:`_iir`) on the state ``st`` (updated; past its start)."""
    zi = [z * bw.p + bw.r * v for z, v in zip(st.zi.tolist(), x, strict=True)]
    st.zi = np.array(zi, dtype=np.complex128)
    st.count += 1
    return [bw.c * v + 2.0 * z.real for v, z in zip(x, zi, strict=True)]


# -- the streaming estimator ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pass:
    """One strapdown + gravity low-pass pass: the quaternion of the sensor in the reference frame (Cayley–Dickson
    pair), the low-pass of the accelerometer in that frame and the last up vector."""

    q: complex = 1.0 + 0.0j
    p: complex = 0.0j
    grav: _Lowpass = field(default_factory=lambda: _Lowpass(3))
    up: FloatArray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    # the last rest sample: its time (s) and its accelerometer low-pass in this pass's reference frame (m/s²)
    t_rest: float = -math.inf
    rest_ref: FloatArray = field(default_factory=lambda: np.zeros(3))

    def init(self) -> None:
        self.q, self.p = 1.0 + 0.0j, 0.0j
        self.grav.init()
        self.t_rest = -math.inf


@dataclass(slots=True)
class _DriftPass(_Pass):
    """The first pass (rest bias only), which also low-passes ``Σ R dt`` (``Ã``) for the motion-bias equations."""

    a_cum: FloatArray = field(default_factory=lambda: np.zeros(9))
    a_lp: _Lowpass = field(default_factory=lambda: _Lowpass(9))

    def init(self) -> None:
        _Pass.init(self)
        self.a_cum = np.zeros(9)
        self.a_lp.init()


@dataclass(slots=True)
class _RestBias:
    """Rest estimate of the gyro bias: a Kalman filter on the mean gyro of each block's rest samples."""

    b: FloatArray
    var: float  # per axis, (rad/s)²
    block: int = -1  # the block in progress
    rest_t: float = 0.0  # its rest time so far, s
    rest_sum: FloatArray = field(default_factory=lambda: np.zeros(3))  # Σ gyro dt over its rest samples


@dataclass(slots=True)
class _MotionBias:
    """Motion equations of the gyro bias (information matrix and vector, exponentially forgotten), the block in
    progress (pass-1 gravity and ``Ã`` at its start, its rest bias, whether it saw a re-initialisation) and the
    latest pass-1 values (the end of the block so far)."""

    info_m: FloatArray = field(default_factory=lambda: np.zeros((3, 3)))
    info_r: FloatArray = field(default_factory=lambda: np.zeros(3))
    block: int = -1
    g_start: FloatArray | None = None
    atil_start: FloatArray = field(default_factory=lambda: np.zeros(9))
    b_rest: FloatArray = field(default_factory=lambda: np.zeros(3))
    reinit: bool = False
    rest_t: float = 0.0
    g_now: FloatArray | None = None
    atil_now: FloatArray = field(default_factory=lambda: np.zeros(9))
    b: FloatArray = field(default_factory=lambda: np.zeros(3))  # the fused bias in force


@dataclass(slots=True)
class _AccelGain:
    """Live accelerometer sensitivity error along the reference vertical ``u0`` (the first rest's): running sums
    over the rest samples within ``acc_reference_deg`` of ``u0`` of ``dt cos² (|a| - g)`` and ``dt cos⁴``
    (``cos`` the angle to ``u0``), in s·m/s² and s."""

    u0: FloatArray | None = None
    s1: float = 0.0
    s2: float = 0.0
    # the full-bias equations of all rest samples: Σ w û ûᵀ (9), Σ w û (|a| - g) (3), the widest angle of a
    # rest from u0 (cos), per sample so far; the same at the end of the last finished block
    full: FloatArray = field(default_factory=lambda: np.concatenate((np.zeros(12), [1.0])))
    full_block: FloatArray = field(default_factory=lambda: np.concatenate((np.zeros(12), [1.0])))
    block: int = -1
    across: FloatArray = field(default_factory=lambda: np.zeros(3))  # in force in the block in progress


@dataclass(slots=True)
class FilterState:
    """Everything :class:`OrientationEstimator` carries from one chunk to the next."""

    rest_bias: _RestBias
    t_last: float = math.nan
    t_origin: float = math.nan
    dt_nominal: float = math.inf
    dt_buf: FloatArray = field(default_factory=lambda: np.empty(0))
    butter: _Butter | None = None
    # rest detection: low-passed gyro and accelerometer, time of the last non-still sample
    gyro_lp: FloatArray = field(default_factory=lambda: np.zeros(3))
    acc_lp: FloatArray = field(default_factory=lambda: np.zeros(3))
    t_moving: float = -math.inf
    was_rest: bool = False  # the last sample was at rest
    motion_bias: _MotionBias = field(default_factory=_MotionBias)
    accel: _AccelGain = field(default_factory=_AccelGain)
    drift_pass: _DriftPass = field(default_factory=_DriftPass)
    output_pass: _Pass = field(default_factory=_Pass)
    turns: _turns.TurnState = field(default_factory=_turns.TurnState)


@dataclass(frozen=True, slots=True)
class _Blocks:
    """The bias blocks a chunk touches, as pieces: block index, first sample, length, any re-initialisation."""

    index: list[int]
    starts: IntArray
    lengths: IntArray
    reinit: list[bool]

    def with_reinit(self, flags: BoolArray) -> _Blocks:
        """The same pieces, also marked where any sample has ``flags`` set."""
        extra = np.logical_or.reduceat(flags, self.starts).tolist()
        return _Blocks(self.index, self.starts, self.lengths, [a or b for a, b in zip(self.reinit, extra, strict=True)])


def _segments(init: BoolArray) -> list[tuple[int, int]]:
    """``[lo, hi)`` runs of a chunk, each starting at a re-initialisation (or at the chunk's start)."""
    cuts = np.flatnonzero(init).tolist()
    bounds = [0, *cuts] if not cuts or cuts[0] != 0 else cuts
    return list(itertools.pairwise([*bounds, init.shape[0]]))


def _runs(init: BoolArray, snap: BoolArray) -> list[tuple[int, int, list[tuple[int, int]]]]:
    """The attitude runs of a chunk (``[lo, hi)``, each starting at a re-initialisation or at the chunk's start:
    one strapdown each) with their low-pass pieces (``[lo, hi)`` inside the run, each also starting at a rest
    onset ``snap``, where the gravity low-pass restarts)."""
    pieces = _segments(init | snap)
    out: list[tuple[int, int, list[tuple[int, int]]]] = []
    for lo, hi in pieces:
        if init[lo] or not out:
            out.append((lo, hi, [(lo, hi)]))
        else:
            start, _, inner = out[-1]
            inner.append((lo, hi))
            out[-1] = (start, hi, inner)
    return out


def _rest_needed_s(p: OrientationParams) -> float:
    """Rest time a bias block needs (s) before its mean gyro updates the rest bias."""
    return 0.3 * min(1.0, p.bias_block_s)


def _rest_kalman(
    p: OrientationParams, b: tuple[float, float, float], v: float, rest_t: float, rest_sum: Sequence[float]
) -> tuple[tuple[float, float, float], float]:
    """Close a bias block with its rest samples, in plain floats: the scalar Kalman update of the rest bias
    ``b`` (rad/s) with variance ``v`` (already grown by the random walk) from the mean gyro of ``rest_t``
    seconds of rest (``rest_sum``: their gyro times dt). Too little rest: unchanged. A jump far beyond the
    expected spread (a temperature step, a knock) forgets the old bias."""
    if rest_t < _rest_needed_s(p):
        return b, v
    noise = p.rest_gyro_noise_rps**2 / rest_t
    i0, i1, i2 = rest_sum[0] / rest_t - b[0], rest_sum[1] / rest_t - b[1], rest_sum[2] / rest_t - b[2]
    worst = max(abs(i0), abs(i1), abs(i2))
    if worst * worst > p.rest_step_sigmas**2 * (v + noise):
        v = max(v, worst * worst)
    gain = v / (v + noise)
    return (b[0] + gain * i0, b[1] + gain * i1, b[2] + gain * i2), v * (1.0 - gain)


class OrientationEstimator(SnapshotState):
    """Streaming gravity-direction (roll/pitch) estimator; see the module docstring.

    ``update(samples)`` accepts chunks of any size (1 sample to a whole recording) and returns one
    :class:`OrientationResult` row per input sample; ``reset()`` forgets everything except the parameters.
    The carried state is :attr:`state` (a :class:`FilterState`).
    """

    def __init__(self, params: OrientationParams | None = None) -> None:
        self.params = params if params is not None else OrientationParams()
        self.state = self._initial_state()

    def _initial_state(self) -> FilterState:
        p = self.params
        st = FilterState(_RestBias(np.array(p.initial_bias_rps, dtype=np.float64), p.bias_initial_sd_rps**2))
        st.motion_bias.b = st.rest_bias.b.copy()
        if p.rate_hz is not None:
            st.dt_nominal = 1.0 / p.rate_hz
            st.butter = _Butter.design(p.tau_acc_s, st.dt_nominal)
        return st

    def reset(self) -> None:
        """Forget all state (attitude, bias, rest, timing); the next sample initialises."""
        self.state = self._initial_state()

    def finish(self) -> OrientationResult:
        """The end of the stream: nothing is held back (a result without rows)."""
        return OrientationResult.concat([])

    def update(self, samples: Samples) -> OrientationResult:
        """Process a chunk; rows of the result correspond to ``samples``. Raises ValueError if ``t`` does not
        increase (also across calls) or if values are not finite."""
        n = len(samples)
        if n == 0:
            return OrientationResult.concat([])
        t = np.asarray(samples.t, dtype=np.float64)
        acc = np.asarray(samples.acc, dtype=np.float64)
        gyro = np.asarray(samples.gyro, dtype=np.float64)
        if n <= _FAST_STEPS:
            return self._process_small(t.tolist(), acc.tolist(), gyro.tolist())
        if not (np.isfinite(t).all() and np.isfinite(acc).all() and np.isfinite(gyro).all()):
            raise ValueError("orientation: samples contain NaN or infinite values; drop or repair them first")
        if n > _SMALL_PIECE:
            _keep_heap()
        parts = []
        for s in range(0, n, _CHUNK):
            e = min(n, s + _CHUNK)
            parts.append(self._process(t[s:e], np.ascontiguousarray(acc[s:e].T), np.ascontiguousarray(gyro[s:e].T)))
        return parts[0] if len(parts) == 1 else OrientationResult.concat(parts)

    def _process_small(self, tl: list[float], acc: list[list[float]], gyro: list[list[float]]) -> OrientationResult:
        """A chunk of a few samples (the live case), sample by sample with :meth:`_step` in plain floats while
        it applies, the rest of the chunk with :meth:`_process` from the first sample where it does not. Same
        numbers as one call over the whole recording (results do not depend on chunking)."""
        if not all(math.isfinite(v) for v in itertools.chain(tl, *acc, *gyro)):
            raise ValueError("orientation: samples contain NaN or infinite values; drop or repair them first")
        if not all(a < b for a, b in itertools.pairwise([self.state.t_last, *tl]) if not math.isnan(a)):
            # checked before any sample changes the state, as in _timing
            raise ValueError("orientation: sample times must be strictly increasing (also across chunks)")
        rows: list[_StepRow] = []
        for k, t in enumerate(tl):
            row = self._step(t, acc[k], gyro[k])
            if row is None:
                break
            rows.append(row)
        k = len(rows)
        if k == len(tl):
            return _StepRow.result(rows)
        rest = self._process(np.array(tl[k:]), np.array(acc[k:]).T.copy(), np.array(gyro[k:]).T.copy())
        return OrientationResult.concat([_StepRow.result(rows), rest]) if rows else rest

    def _step(self, t: float, acc: list[float], gyro: list[float]) -> _StepRow | None:
        """One sample through :meth:`_process` in closed form with Python floats (numpy's per-call overhead is
        ~100x the arithmetic for one sample), for the common case only: no re-initialisation or gap, no rest
        onset, inside the bias block in progress or the first sample of a later one (:meth:`_close_block`),
        low-passes past their start. Returns None, changing nothing,
        in every other case (then :meth:`_process` runs). ``tests/processing/test_orientation.py`` checks it
        against the batch path; a change to the passes must be made here too."""
        p, s = self.params, self.state
        bw = s.butter
        rb, mb, f1, f2 = s.rest_bias, s.motion_bias, s.drift_pass, s.output_pass
        if bw is None or math.isnan(s.t_last):
            return None
        # _timing: the interval, no gap, no new nominal period
        dt = t - s.t_last
        if not dt > 0.0 or (p.rate_hz is None and s.dt_buf.shape[0] + 1 >= _DT_BLOCK):
            return None
        if dt > min(p.gap_s, p.gap_periods * s.dt_nominal):
            return None
        # _blocks: inside the block in progress of both bias estimates, or the first sample of a later block
        block = math.floor((t - s.t_origin) * (1.0 / p.bias_block_s))
        if block < rb.block or rb.block != mb.block or mb.block < 0:
            return None
        if min(f1.grav.count, f1.a_lp.count, f2.grav.count) < bw.n_start:
            return None
        # _rest: first-order low-passes (the closed form of _smooth_first_order for one sample), stillness
        a0, a1, a2 = acc
        g0, g1, g2 = gyro
        w, c = _first_order_one(dt, p.rest_filter_tau_s)
        lg0, lg1, lg2 = ((g * w + y) * c for g, y in zip(gyro, s.gyro_lp.tolist(), strict=True))
        la0, la1, la2 = ((a * w + y) * c for a, y in zip(acc, s.acc_lp.tolist(), strict=True))
        dg0, dg1, dg2, da0, da1, da2 = g0 - lg0, g1 - lg1, g2 - lg2, a0 - la0, a1 - la1, a2 - la2
        still = dg0 * dg0 + dg1 * dg1 + dg2 * dg2 < p.rest_gyro_rps**2
        still = still and da0 * da0 + da1 * da1 + da2 * da2 < p.rest_acc_mps2**2
        t_moving = s.t_moving if still else max(t, s.t_moving)
        rest = (t - t_moving) >= p.rest_min_s
        if rest and not s.was_rest:  # a rest onset restarts the gravity low-passes: the general path
            return None
        # -- from here on the state changes --
        s.t_last = t
        if p.rate_hz is None:
            s.dt_buf = np.append(s.dt_buf, dt)
        s.gyro_lp = np.array((lg0, lg1, lg2))
        s.acc_lp = np.array((la0, la1, la2))
        s.t_moving = t_moving
        s.was_rest = rest
        if block != rb.block:  # the sample starts a block: close the one in progress (_rest_bias, _fused_bias)
            self._close_block(block)
        gain, across = 0.0, (0.0, 0.0, 0.0)
        if p.acc_bias_prior_sd_mps2 != 0.0:  # _accel_gain, _accel_across, _accel_corrected
            gain, across = self._step_accel(block, dt, rest, (la0, la1, la2))
            acc = _corrected_one(acc, gain, across, s.accel.u0)
            la0, la1, la2 = _corrected_one([la0, la1, la2], gain, across, s.accel.u0)
        # _rest_bias inside the block: accumulate the rest samples; the bias in force does not change
        rest_dt = dt if rest else 0.0
        if rest:
            rb.rest_t += rest_dt
            rb.rest_sum = rb.rest_sum + np.array((g0 * rest_dt, g1 * rest_dt, g2 * rest_dt))
        # _drift_pass with the rest bias
        cold = f1.a_lp.count < 2 * bw.n_start
        r, f1.q, f1.p = _strapdown_one(gyro, dt, rb.b.tolist(), f1.q, f1.p)
        grav = _iir_one(_rotate_one(r, acc), f1.grav, bw)
        a_cum = [x * dt + y for x, y in zip(r, f1.a_cum.tolist(), strict=True)]
        f1.a_cum = np.array(a_cum)
        atil = _iir_one(a_cum, f1.a_lp, bw)
        # _fused_bias inside the block
        mb.reinit |= cold
        mb.rest_t += 1.0 if rest_dt > 0.0 else 0.0
        mb.g_now = np.array(grav)
        mb.atil_now = np.array(atil)
        b0, b1, b2 = mb.b.tolist()
        acc_out = acc
        if p.turn_memory != 0.0:  # _turn_compensation
            tu = s.turns
            w_step, c_step = _first_order_one(dt, _turns.STEP_LP_TAU_S)
            norm_a = math.sqrt(acc[0] * acc[0] + acc[1] * acc[1] + acc[2] * acc[2])
            tu.step_lp = (norm_a * w_step + tu.step_lp) * c_step
            if block != tu.block:
                _turns.close_block(tu, block, math.exp(-1.0 / p.turn_memory))
            k0, k1, k2 = _turns.add_sample(tu, [g0 - b0, g1 - b1, g2 - b2], acc, tu.step_lp)
            acc_out = [acc[0] - k0, acc[1] - k1, acc[2] - k2]
        # _output_pass with the fused bias
        r, f2.q, f2.p = _strapdown_one(gyro, dt, [b0, b1, b2], f2.q, f2.p)
        x = _rotate_one(r, acc_out)
        if p.rest_hold_s > 0.0:  # _hold_after_rest
            if rest:
                f2.t_rest, f2.rest_ref = t, np.array(_rotate_one(r, [la0, la1, la2]))
            elif t - f2.t_rest < p.rest_hold_s:
                x = f2.rest_ref.tolist()
        e0, e1, e2 = _iir_one(x, f2.grav, bw)
        v0 = r[0] * e0 + r[3] * e1 + r[6] * e2
        v1 = r[1] * e0 + r[4] * e1 + r[7] * e2
        v2 = r[2] * e0 + r[5] * e1 + r[8] * e2
        norm = math.sqrt(v0 * v0 + v1 * v1 + v2 * v2)
        if norm > _TINY_ACC:
            u0, u1, u2 = v0 / norm, v1 / norm, v2 / norm
        else:
            u0, u1, u2 = f2.up.tolist()
        f2.up = np.array((u0, u1, u2))
        if p.latency_s != 0.0:  # _ahead
            o0, o1, o2 = g0 - b0, g1 - b1, g2 - b2
            lat = p.latency_s
            u0, u1, u2 = u0 - lat * (o1 * u2 - o2 * u1), u1 - lat * (o2 * u0 - o0 * u2), u2 - lat * (o0 * u1 - o1 * u0)
            norm = math.sqrt(u0 * u0 + u1 * u1 + u2 * u2)
            u0, u1, u2 = u0 / norm, u1 / norm, u2 / norm
        if across != (0.0, 0.0, 0.0) and s.accel.u0 is not None:  # _anchored
            u0, u1, u2 = _anchored_one((u0, u1, u2), across, s.accel.u0.tolist(), p.gravity_mps2)
        return _StepRow(t, (u0, u1, u2), (b0, b1, b2), rest, gain, across)

    def _step_accel(
        self, block: int, dt: float, rest: bool, la: tuple[float, float, float]
    ) -> tuple[float, tuple[float, float, float]]:
        """:meth:`_accel_gain` and :meth:`_accel_across` for the one sample of :meth:`_step` (``la``: the
        accelerometer's rest low-pass, m/s²): the gain along ``u0`` and the bias across it (m/s²) in force."""
        p, a = self.params, self.state.accel
        if a.u0 is None:  # no rest yet (the first rest onset takes the general path, which sets u0)
            a.block = block
            return 0.0, (0.0, 0.0, 0.0)
        g = p.gravity_mps2
        r0, r1, r2 = a.u0.tolist()
        norm = 0.0
        if rest:  # only rests change the running sums (elsewhere their terms are exactly 0)
            norm = math.sqrt(la[0] * la[0] + la[1] * la[1] + la[2] * la[2])
            cos = (r0 * la[0] + r1 * la[1] + r2 * la[2]) / max(norm, _TINY_ACC)
            w = dt if cos >= math.cos(math.radians(p.acc_reference_deg)) else 0.0
            c2 = cos * cos
            a.s1 = w * c2 * (norm - g) + a.s1
            a.s2 = w * c2 * c2 + a.s2
        gain = a.s1 / (p.acc_norm_sd_mps2**2 * REST_CAP_S / p.acc_bias_prior_sd_mps2**2 + a.s2) / g
        if block != a.block:  # a new block: the bias across u0 from the rests before it
            at = a.full_block
            if at[12] > math.cos(math.radians(FULL_FIT_SPREAD_DEG)):  # the rests do not span enough yet
                b = np.zeros(3)
            else:
                mat = at[:9].reshape(3, 3).copy()
                mat[[0, 1, 2], [0, 1, 2]] += 1.0 / p.acc_bias_prior_sd_mps2**2
                b = np.asarray(np.linalg.solve(mat[None], at[9:12][None, :, None])[0, :, 0], dtype=np.float64)
                b -= a.u0 * (a.u0 @ b)
            a.across = b
            a.block = block
        if rest:
            wr = dt / (p.acc_norm_sd_mps2**2 * REST_CAP_S)
            u = [v / max(norm, _TINY_ACC) for v in la]
            eq = [u[i] * u[j] * wr for i in range(3) for j in range(3)] + [v * (wr * (norm - g)) for v in u]
            full = [x + y for x, y in zip(eq, a.full[:12].tolist(), strict=True)]
            widest = min(r0 * u[0] + r1 * u[1] + r2 * u[2], float(a.full[12]))
            a.full = np.array([*full, widest])
            a.full_block = a.full.copy()
        b0, b1, b2 = a.across.tolist()
        return gain, (b0, b1, b2)

    def _close_block(self, block: int) -> None:
        """:meth:`_step` at the first sample of bias block ``block`` (after the one in progress): close the block
        in progress as :meth:`_rest_bias` (Kalman update with its rest samples) and :meth:`_fused_bias` (its
        motion equation, the forgotten information, the fused bias) do for a chunk of one such sample, and start
        ``block`` with nothing accumulated yet (the step then adds the sample)."""
        p, rb, mb = self.params, self.state.rest_bias, self.state.motion_bias
        cur = rb.block
        # _rest_bias
        walk = p.bias_walk_rps_per_sqrt_s**2 * p.bias_block_s
        b_now = rb.b.tolist()
        (b0, b1, b2), v = _rest_kalman(
            p, (b_now[0], b_now[1], b_now[2]), rb.var + walk * (block - cur), rb.rest_t, rb.rest_sum.tolist()
        )
        rb.b, rb.var, rb.block = np.array([b0, b1, b2]), v, block
        rb.rest_t, rb.rest_sum = 0.0, np.zeros(3)
        # _fused_bias: the closed block's equation (if it has one), the information decayed and updated
        valid = mb.g_start is not None and mb.g_now is not None and not mb.reinit and mb.rest_t == 0.0
        if valid and mb.g_start is not None and mb.g_now is not None:
            u = _drift_equation_one(
                mb.g_start.tolist(), mb.g_now.tolist(), (mb.atil_now - mb.atil_start).tolist(), mb.b_rest.tolist()
            )
        else:
            u = [0.0] * 12
        decay = max(math.exp(-p.bias_block_s / p.motion_bias_tau_s) ** float(block - mb.block), _MIN_PROD)
        old = [*mb.info_m.ravel().tolist(), *mb.info_r.tolist()]
        info = [(x / decay + y) * decay for x, y in zip(u, old, strict=True)]  # _linrec of one step
        # _fuse_many of one block
        k = 1.0 / (p.motion_drift_sd_rad * p.motion_drift_sd_rad)
        w = 1.0 / v
        a = np.array(info[:9]).reshape(3, 3) * k
        a[[0, 1, 2], [0, 1, 2]] += w
        fused = np.linalg.solve(a, np.array([w * b0 + k * info[9], w * b1 + k * info[10], w * b2 + k * info[11]]))
        f0, f1, f2 = fused.tolist()
        norm = math.sqrt(f0 * f0 + f1 * f1 + f2 * f2)
        scale = min(1.0, p.bias_max_rps / max(norm, 1e-300))
        mb.b = np.array([f0 * scale, f1 * scale, f2 * scale])
        mb.info_m, mb.info_r = np.array(info[:9]).reshape(3, 3), np.array(info[9:])
        mb.g_start, mb.atil_start = mb.g_now, mb.atil_now
        mb.block, mb.reinit, mb.rest_t, mb.b_rest = block, False, 0.0, rb.b.copy()

    # -- the named steps of one chunk ----------------------------------------------------------------------

    def _process(self, t: FloatArray, acc: FloatArray, gyro: FloatArray) -> OrientationResult:
        dt, init = self._timing(t)
        rest, acc_rest = self._rest(t, acc, gyro, dt, init)
        gain = self._accel_gain(dt, rest, acc_rest)
        blocks = self._blocks(t, init)
        across_pieces = self._accel_across(dt, rest, acc_rest, blocks)
        across = np.repeat(across_pieces, blocks.lengths, axis=1)
        if self.params.acc_bias_prior_sd_mps2 != 0.0:  # the accelerometer calibration is on
            acc = self._accel_corrected(acc, gain) - across
            # the rest low-pass is read at rest samples only (snaps, holds): corrected there
            at = np.flatnonzero(rest)
            acc_rest[:, at] = self._accel_corrected(acc_rest[:, at], gain[at]) - across[:, at]
        snap = self._rest_onsets(rest)
        b_rest, var_rest, rest_t = self._rest_bias(blocks, gyro, dt, rest)
        ends = blocks.starts + blocks.lengths - 1
        g_end, atil_end, cold = self._drift_pass(
            acc, gyro, dt, init, np.repeat(b_rest, blocks.lengths, axis=1), snap, acc_rest, ends
        )
        turn_blocks = blocks
        blocks = blocks.with_reinit(cold)
        bias_blocks = self._fused_bias(blocks, b_rest, var_rest, rest_t, g_end, atil_end)
        bias_rows = np.repeat(bias_blocks.T, blocks.lengths, axis=0)  # (n, 3) without a transposing copy
        turning = self._turn_compensation(acc, gyro, bias_rows.T, dt, init, turn_blocks)
        if turning is not None:
            acc = acc - turning
        up = self._output_pass(t, rest, acc, gyro, dt, init, bias_rows.T, snap, acc_rest)
        up = _anchored(up, across, self.state.accel.u0, self.params.gravity_mps2)
        rows = np.ascontiguousarray  # (3, n) views of (n, 3) rows come back without a copy
        return OrientationResult(t.copy(), rows(up.T), bias_rows, rest, init, gain, rows(across.T))

    def _timing(self, t: FloatArray) -> tuple[FloatArray, BoolArray]:
        """Sample intervals (0 at re-initialisations) and the re-initialising samples (first, after a gap)."""
        p, s = self.params, self.state
        n = t.shape[0]
        first = math.isnan(s.t_last)
        if first:
            s.t_origin = float(t[0])
        dt = np.empty(n)
        dt[0] = t[0] - s.t_last if not first else 0.0
        np.subtract(t[1:], t[:-1], out=dt[1:])
        if not (dt[1 if first else 0 :] > 0).all():
            raise ValueError("orientation: sample times must be strictly increasing (also across chunks)")
        init = np.ones(n, dtype=bool)  # the first sample ever initialises
        lo = 1 if first else 0
        if n > lo:
            np.greater(dt[lo:], self._gap_limits(dt[lo:]), out=init[lo:])
        dt[init] = 0.0
        s.t_last = float(t[-1])
        if s.butter is None and not init.all():
            s.butter = _Butter.design(p.tau_acc_s, float(dt[np.flatnonzero(~init)[0]]))
        return dt, init

    def _gap_limits(self, dt: FloatArray) -> FloatArray | float:
        """Longest interval that is not a gap (s), for each interval (n,) or for all (a float):
        ``min(gap_s, gap_periods x nominal period)``, the nominal period being the median of the previous
        index-aligned block of intervals (or ``1 / rate_hz``)."""
        p, s = self.params, self.state
        if p.rate_hz is not None:
            return min(p.gap_s, p.gap_periods * s.dt_nominal)
        buf = np.concatenate((s.dt_buf, dt))
        full = buf.shape[0] // _DT_BLOCK
        per_block = np.full(full + 1, s.dt_nominal)
        if full:
            per_block[1:] = np.median(buf[: full * _DT_BLOCK].reshape(full, _DT_BLOCK)[:, ::8], axis=1)
            s.dt_nominal = float(per_block[-1])
        counts = np.full(full + 1, _DT_BLOCK)
        counts[-1] = buf.shape[0] - full * _DT_BLOCK
        counts[0] -= s.dt_buf.shape[0]
        s.dt_buf = buf[full * _DT_BLOCK :].copy()
        return np.repeat(np.minimum(p.gap_s, p.gap_periods * per_block), counts)

    def _rest(
        self, t: FloatArray, acc: FloatArray, gyro: FloatArray, dt: FloatArray, init: BoolArray
    ) -> tuple[BoolArray, FloatArray]:
        """Rest flags (gyro and accelerometer near their low-passes for at least ``rest_min_s``) and the
        accelerometer's low-pass (3, n), the vertical at rest."""
        p, s = self.params, self.state
        gain = -np.expm1(dt * (-1.0 / p.rest_filter_tau_s))
        gain[init] = 1.0  # a re-initialisation restarts the low-passes at the sample
        lp = _smooth_first_order((gyro, acc), gain, np.concatenate((s.gyro_lp, s.acc_lp)))
        s.gyro_lp = lp[:3, -1].copy()
        s.acc_lp = lp[3:, -1].copy()
        dg = gyro - lp[:3]
        da = acc - lp[3:]
        still = np.einsum("ij,ij->j", dg, dg) < p.rest_gyro_rps**2
        still &= np.einsum("ij,ij->j", da, da) < p.rest_acc_mps2**2
        still &= ~init
        moving = np.where(still, -np.inf, t)
        moving[0] = max(moving[0], s.t_moving)
        np.maximum.accumulate(moving, out=moving)
        s.t_moving = float(moving[-1])
        rest: BoolArray = (t - moving) >= p.rest_min_s
        return rest, lp[3:]

    def _accel_gain(self, dt: FloatArray, rest: BoolArray, acc_rest: FloatArray) -> FloatArray:
        """The accelerometer's relative sensitivity error along the reference vertical ``u0`` (the first
        rest's) at each sample (n,): ``β_k / g``, with ``β_k`` the ridge estimate
        (:func:`processing.accel_calibration.fit_rest_gain`, as running sums over time) from the rest samples up
        to and including ``k`` within ``acc_reference_deg`` of ``u0``. Along ``u0`` only: the vertical in the
        reference posture does not turn as the estimate improves, so a neutral calibration taken there stays
        valid; in the postures near it the error of the accelerometer's norm (bias or sensitivity) is removed."""
        p, a = self.params, self.state.accel
        n = dt.shape[0]
        if p.acc_bias_prior_sd_mps2 == 0.0 or (a.u0 is None and not rest.any()):
            return np.zeros(n)
        if a.u0 is None:
            first = int(np.argmax(rest))
            a.u0 = acc_rest[:, first] / max(_TINY_ACC, float(np.linalg.norm(acc_rest[:, first])))
        # the running sums change at rest samples only: computed there, then carried to every sample
        idx = np.flatnonzero(rest)
        ar = acc_rest[:, idx]
        norm = np.sqrt(np.einsum("ij,ij->j", ar, ar))
        cos = (a.u0 @ ar) / np.maximum(norm, _TINY_ACC)
        w = np.where(cos >= math.cos(math.radians(p.acc_reference_deg)), dt[idx], 0.0)
        c2 = cos * cos
        sums = np.cumsum(np.stack((w * c2 * (norm - p.gravity_mps2), w * c2 * c2)), axis=1)
        sums += np.array([[a.s1], [a.s2]])
        s1, s2 = _carried(sums, rest, np.array([a.s1, a.s2]))
        a.s1, a.s2 = float(s1[-1]), float(s2[-1])
        # β = (s1 / (σ² T)) / (1 / σp² + s2 / (σ² T)), the rests' weight as in fit_rest_gain
        beta = s1 / (p.acc_norm_sd_mps2**2 * REST_CAP_S / p.acc_bias_prior_sd_mps2**2 + s2)
        gain: FloatArray = beta / p.gravity_mps2
        return gain

    def _accel_across(self, dt: FloatArray, rest: BoolArray, acc_rest: FloatArray, blocks: _Blocks) -> FloatArray:
        """The accelerometer bias across the reference vertical ``u0`` in each of the chunk's block pieces
        (3, pieces), m/s²: the part perpendicular to
        ``u0`` of the full ridge fit (:func:`processing.accel_calibration.fit_rest_bias`, linearised, as running
        sums over all rest samples), once the rests' verticals span ``FULL_FIT_SPREAD_DEG`` (sitting and
        standing, lying). Constant over each bias block, from the rests before it (chunking-independent).

        Removing it turns the vertical in the reference posture; :func:`_anchored` turns the output back, so
        that posture still reads the raw accelerometer's direction while every angle between postures, and
        the low-pass in the gyro's frame (where a bias across the vertical turns with the wearer and leaves a
        transient after every turn), see the corrected accelerometer."""
        p, a = self.params, self.state.accel
        n = dt.shape[0]
        if p.acc_bias_prior_sd_mps2 == 0.0 or a.u0 is None:
            a.block = int(blocks.index[-1])
            return np.zeros((3, len(blocks.index)))
        u0 = a.u0
        # the running sums change at rest samples only: computed there, read at the blocks' last samples
        idx = np.flatnonzero(rest)
        ar = acc_rest[:, idx]
        m = idx.shape[0]
        norm = np.sqrt(np.einsum("ij,ij->j", ar, ar))
        u = ar / np.maximum(norm, _TINY_ACC)
        w = dt[idx] / (p.acc_norm_sd_mps2**2 * REST_CAP_S)
        eq = np.concatenate(((u[:, None, :] * u[None, :, :]).reshape(9, m) * w, u * (w * (norm - p.gravity_mps2))))
        sums = np.cumsum(eq, axis=1) + a.full[:12, None]
        widest = np.minimum(np.minimum.accumulate(u0 @ u), a.full[12])
        at_rest = np.concatenate((sums, widest[None, :]))
        prev = np.concatenate((blocks.starts[1:] - 1, [n - 1]))
        full = _carried(at_rest, rest, a.full, prev)
        at = np.concatenate((a.full_block[:, None], full[:, :-1]), axis=1)
        m = at.shape[1]
        mat = at[:9].T.reshape(m, 3, 3).copy()
        mat[:, [0, 1, 2], [0, 1, 2]] += 1.0 / p.acc_bias_prior_sd_mps2**2
        b = np.asarray(np.linalg.solve(mat, at[9:12].T[:, :, None])[:, :, 0].T, dtype=np.float64)
        b -= u0[:, None] * (u0 @ b)[None, :]
        b[:, at[12] > math.cos(math.radians(FULL_FIT_SPREAD_DEG))] = 0.0
        if blocks.index[0] == a.block:
            b[:, 0] = a.across
        a.full, a.full_block = full[:, -1].copy(), full[:, -1].copy()
        a.block, a.across = int(blocks.index[-1]), b[:, -1].copy()
        return b

    def _accel_corrected(self, acc: FloatArray, gain: FloatArray) -> FloatArray:
        """``a - gain (a · u0) u0`` for (3, n) ``acc`` and (n,) ``gain``."""
        u0 = self.state.accel.u0
        if u0 is None or not gain.any():
            return acc
        out: FloatArray = acc - u0[:, None] * (gain * (u0 @ acc))[None, :]
        return out

    def _rest_onsets(self, rest: BoolArray) -> BoolArray:
        """Samples where a rest begins: there the gravity low-passes restart from the accelerometer's own
        low-pass (at rest the vertical is known from the accelerometer alone), dropping whatever motion, an
        unknown bias or the start-up left in them."""
        s = self.state
        prev = np.empty_like(rest)
        prev[0] = s.was_rest
        prev[1:] = rest[:-1]
        s.was_rest = bool(rest[-1])
        onset: BoolArray = rest & ~prev
        return onset

    def _blocks(self, t: FloatArray, init: BoolArray) -> _Blocks:
        """Bias blocks touched by the chunk: their indices, first samples and lengths."""
        idx = np.floor((t - self.state.t_origin) * (1.0 / self.params.bias_block_s)).astype(np.int64)
        starts = np.concatenate(([0], np.flatnonzero(idx[1:] != idx[:-1]) + 1))
        lengths = np.diff(np.append(starts, t.shape[0]))
        reinit = np.logical_or.reduceat(init, starts)
        return _Blocks(idx[starts].tolist(), starts, lengths, reinit.tolist())

    def _rest_bias(
        self, blocks: _Blocks, gyro: FloatArray, dt: FloatArray, rest: BoolArray
    ) -> tuple[FloatArray, list[float], list[float]]:
        """Rest bias and its variance in force during each block piece, and the piece's rest time (s); closes
        finished blocks (Kalman update with their rest samples; the variance grows by the random walk)."""
        p, rb = self.params, self.state.rest_bias
        rest_dt = np.where(rest, dt, 0.0)
        rest_t = np.add.reduceat(rest_dt, blocks.starts).tolist()
        rest_sum = np.add.reduceat(gyro * rest_dt, blocks.starts, axis=1).T.tolist()
        # plain Python floats: a loop over the blocks, each a few scalar operations (numpy's per-call cost
        # on 3-vectors would dominate); only the blocks closed with enough rest call the Kalman update
        walk = p.bias_walk_rps_per_sqrt_s**2 * p.bias_block_s
        needed = _rest_needed_s(p)
        b = (float(rb.b[0]), float(rb.b[1]), float(rb.b[2]))
        s0, s1, s2 = (float(v) for v in rb.rest_sum)
        r_t, v, cur = rb.rest_t, rb.var, rb.block
        out: list[tuple[float, float, float]] = []
        var = []
        for blk, rt, (g0, g1, g2) in zip(blocks.index, rest_t, rest_sum, strict=True):
            if blk != cur:
                if cur >= 0:
                    v += walk * (blk - cur)
                    if r_t >= needed:
                        b, v = _rest_kalman(p, b, v, r_t, (s0, s1, s2))
                    r_t, s0, s1, s2 = 0.0, 0.0, 0.0, 0.0
                cur = blk
            out.append(b)
            var.append(v)
            r_t += rt
            s0, s1, s2 = s0 + g0, s1 + g1, s2 + g2
        rb.b, rb.rest_sum = np.array(b), np.array([s0, s1, s2])
        rb.rest_t, rb.var, rb.block = r_t, v, cur
        return np.array(out).T.reshape(3, -1), var, rest_t

    def _drift_pass(
        self,
        acc: FloatArray,
        gyro: FloatArray,
        dt: FloatArray,
        init: BoolArray,
        b_rest: FloatArray,
        snap: BoolArray,
        acc_rest: FloatArray,
        at: IntArray,
    ) -> tuple[FloatArray, FloatArray, BoolArray]:
        """First pass, with the rest bias only: the low-passed gravity (3, len(at)) and ``Ã`` (9, len(at)) at
        the sorted sample indices ``at`` (the block ends: only they enter the motion equations), and the samples
        whose low-passes are still warming up after an initialisation (two start windows: the motion equations
        assume a settled filter, and the start of a recording is often the sensor being put on)."""
        s = self.state
        f = s.drift_pass
        n = dt.shape[0]
        g = np.empty((3, at.shape[0]))
        atil = np.empty((9, at.shape[0]))
        cold = np.zeros(n, dtype=bool)
        warm_after = 2 * s.butter.n_start if s.butter is not None else 1 << 62
        for run_lo, run_hi, pieces in _runs(init, snap):
            if init[run_lo]:
                f.init()
            r_run, f.q, f.p = _strapdown(gyro[:, run_lo:run_hi], dt[run_lo:run_hi], b_rest[:, run_lo:run_hi], f.q, f.p)
            acc_ref = _quat.rotate(r_run, acc[:, run_lo:run_hi])
            for lo, hi in pieces:
                if f.a_lp.count + (hi - lo) <= warm_after:
                    cold[lo:hi] = True
                elif f.a_lp.count < warm_after:
                    cold[lo : lo + warm_after - f.a_lp.count] = True
                r = r_run[:, lo - run_lo : hi - run_lo]
                if snap[lo] and not init[lo]:
                    _snap(f.grav, s.butter, _quat.rotate(r[:, :1], acc_rest[:, lo : lo + 1])[:, 0])
                a0, a1 = (int(v) for v in np.searchsorted(at, (lo, hi)))
                want = at[a0:a1] - lo
                g[:, a0:a1] = _lowpass_at(acc_ref[:, lo - run_lo : hi - run_lo], f.grav, s.butter, want)
                atil[:, a0:a1], f.a_cum = _lowpass_integral_at(r, dt[lo:hi], f.a_cum, f.a_lp, s.butter, want)
        return g, atil, cold

    def _fused_bias(
        self,
        blocks: _Blocks,
        b_rest: FloatArray,
        var_rest: list[float],
        rest_t: list[float],
        g_end: FloatArray,
        a_end: FloatArray,
    ) -> FloatArray:
        """Bias in force during each block piece (3, pieces): the rest estimate fused with the motion equations
        of the blocks finished before it (blocks with rest or a re-initialisation give no equation).

        Vectorised over the pieces: each piece but the first starts a block and closes the one before; the
        equations of the closed blocks, the exponentially forgotten information (a linear recursion) and the
        3x3 solves are array operations."""
        p, mb = self.params, self.state.motion_bias
        if len(blocks.index) == 1 and blocks.index[0] == mb.block:
            # the chunk lies inside the block in progress (the live case): nothing closes
            mb.reinit |= blocks.reinit[0]
            mb.rest_t += 1.0 if rest_t[0] > 0.0 else 0.0
            mb.g_now = g_end[:, 0].copy()
            mb.atil_now = a_end[:, 0].copy()
            return mb.b[:, None].copy()
        idx = np.array(blocks.index, dtype=np.int64)
        npc = idx.shape[0]
        new = np.ones(npc, dtype=bool)
        new[0] = idx[0] != mb.block
        reinit = np.array(blocks.reinit, dtype=bool)
        rested = np.array(rest_t) > 0.0
        # the value at the start of each piece's block (None: unknown, the first block after a reset)
        start0 = mb.g_start if not new[0] else mb.g_now
        start_a0 = mb.atil_start if not new[0] else mb.atil_now
        if not new[0]:
            reinit[0] |= mb.reinit
            rested[0] |= mb.rest_t > 0.0
        known = np.ones(npc, dtype=bool)
        known[0] = start0 is not None
        start_g = np.concatenate(((start0 if start0 is not None else np.zeros(3))[:, None], g_end[:, :-1]), axis=1)
        start_a = np.concatenate((start_a0[:, None], a_end[:, :-1]), axis=1)
        # the block each piece closes: the previous piece's, or for the first piece the carried block
        closes = new.copy()
        closes[0] &= mb.block >= 0
        c_start_g = np.concatenate(
            ((mb.g_start if mb.g_start is not None else np.zeros(3))[:, None], start_g[:, :-1]), axis=1
        )
        c_start_a = np.concatenate((mb.atil_start[:, None], start_a[:, :-1]), axis=1)
        c_end_g = np.concatenate(((mb.g_now if mb.g_now is not None else np.zeros(3))[:, None], g_end[:, :-1]), axis=1)
        c_end_a = np.concatenate((mb.atil_now[:, None], a_end[:, :-1]), axis=1)
        c_b_rest = np.concatenate((mb.b_rest[:, None], b_rest[:, :-1]), axis=1)
        c_ok = np.concatenate(
            ([mb.g_start is not None and mb.g_now is not None and not mb.reinit and mb.rest_t == 0.0],
             known[:-1] & ~reinit[:-1] & ~rested[:-1])
        )  # fmt: skip
        valid = closes & c_ok
        m, r = _drift_equations(c_start_g, c_end_g, c_end_a - c_start_a, c_b_rest)
        m[:, ~valid] = 0.0
        r[:, ~valid] = 0.0
        # information: decays over the blocks that passed, gains each closed block's equation
        prev = np.concatenate(([mb.block], idx[:-1]))
        forget = math.exp(-p.bias_block_s / p.motion_bias_tau_s)
        decay = np.where(closes, forget ** (idx - prev).astype(np.float64), 1.0)
        info = _linrec(decay, np.concatenate((m, r)), np.concatenate((mb.info_m.ravel(), mb.info_r)))
        out = _fuse_many(b_rest, np.array(var_rest), info[:9], info[9:], p)
        if not new[0]:
            out[:, 0] = mb.b
        # carry the block in progress
        mb.info_m = info[:9, -1].reshape(3, 3).copy()
        mb.info_r = info[9:, -1].copy()
        last = npc - 1
        mb.g_start = start_g[:, last].copy() if known[last] else None
        mb.atil_start = start_a[:, last].copy()
        mb.block = int(idx[-1])
        mb.reinit = bool(reinit[last])
        mb.rest_t = 1.0 if rested[last] else 0.0
        mb.b_rest = b_rest[:, last].copy()
        mb.g_now = g_end[:, last].copy()
        mb.atil_now = a_end[:, last].copy()
        mb.b = out[:, last].copy()
        return out

    def _turn_compensation(
        self, acc: FloatArray, gyro: FloatArray, bias: FloatArray, dt: FloatArray, init: BoolArray, blocks: _Blocks
    ) -> FloatArray | None:
        """The centripetal acceleration of walking turns (3, n), m/s², to remove from ``acc`` before the output
        pass (:mod:`processing._turns`); None when there is none (``turn_memory`` 0, nothing learnt, no walking)."""
        p, st = self.params, self.state.turns
        if p.turn_memory == 0.0:
            return None
        gain = -np.expm1(dt * (-1.0 / _turns.STEP_LP_TAU_S))
        gain[init] = 1.0
        norm = np.sqrt(np.einsum("ij,ij->j", acc, acc))
        step = _smooth_first_order((norm[None, :],), gain, np.array([st.step_lp]))[0]
        st.step_lp = float(step[-1])
        forget = math.exp(-1.0 / p.turn_memory)
        return _turns.compensation(st, gyro - bias, acc, step, blocks.index, blocks.starts, blocks.reinit, forget)

    def _output_pass(
        self,
        t: FloatArray,
        rest: BoolArray,
        acc: FloatArray,
        gyro: FloatArray,
        dt: FloatArray,
        init: BoolArray,
        bias: FloatArray,
        snap: BoolArray,
        acc_rest: FloatArray,
    ) -> FloatArray:
        """Second pass, with the fused bias: the up vector (3, n) (a view of the (n, 3) rows of the result)."""
        s = self.state
        f = s.output_pass
        up = np.empty((dt.shape[0], 3)).T
        for run_lo, run_hi, pieces in _runs(init, snap):
            if init[run_lo]:
                f.init()
            r, f.q, f.p = _strapdown(gyro[:, run_lo:run_hi], dt[run_lo:run_hi], bias[:, run_lo:run_hi], f.q, f.p)
            g = _quat.rotate(r, acc[:, run_lo:run_hi])
            _hold_after_rest(
                g, r, acc_rest[:, run_lo:run_hi], rest[run_lo:run_hi], t[run_lo:run_hi], f, self.params.rest_hold_s
            )
            for lo, hi in pieces:
                if snap[lo] and not init[lo]:
                    _snap(f.grav, s.butter, _quat.rotate(r[:, lo - run_lo :][:, :1], acc_rest[:, lo : lo + 1])[:, 0])
                piece = g[:, lo - run_lo : hi - run_lo]
                _lowpass(piece, f.grav, s.butter, out=piece)
            _quat.rotate_inverse(r, g, out=up[:, run_lo:run_hi])
            for lo, hi in pieces:
                _normalise_or(up[:, lo:hi], f.up)
                f.up = up[:, hi - 1].copy()
            if self.params.latency_s != 0.0:
                up[:, run_lo:run_hi] = _ahead(
                    up[:, run_lo:run_hi], gyro[:, run_lo:run_hi] - bias[:, run_lo:run_hi], self.params.latency_s
                )
        return up


def estimate_up(
    t: FloatArray, gyr: FloatArray, acc: FloatArray, *, offline: bool = False, params: OrientationParams | None = None
) -> FloatArray:
    """Unit up vector (N, 3) in the sensor frame for every sample of a whole recording.

    t: (N,) s, strictly increasing; gyr: (N, 3) rad/s; acc: (N, 3) m/s² (specific force), sensor frame.
    ``offline=False`` gives exactly what the streaming :class:`OrientationEstimator` gives (causal, the live
    path); ``offline=True`` uses hindsight (see the module docstring) for analysing stored recordings.
    """
    samples = Samples(
        np.asarray(t, dtype=np.float64), np.asarray(acc, dtype=np.float64), np.asarray(gyr, dtype=np.float64)
    )
    est = OrientationEstimator(params)
    if not offline:
        return est.update(samples).up
    fit = rest_accel_calibration(samples, est.params)
    return hindsight_up(Samples(samples.t, fit.apply(samples.acc), samples.gyro), est.params)


def hindsight_up(samples: Samples, params: OrientationParams | None = None) -> FloatArray:
    """The hindsight up vectors (N, 3) of :func:`estimate_up` (``offline=True``) for samples whose accelerometer
    is already calibrated (no bias fit here; :class:`processing.gravity.HindsightUp` fits it over more than one
    window)."""
    return _smooth(OrientationEstimator(params), samples)


def rest_rows(samples: Samples, params: OrientationParams) -> BoolArray:
    """The samples (n,) the estimator's rest detection calls rest (gyro and accelerometer steady for
    ``rest_min_s``), from a fresh estimator."""
    est = OrientationEstimator(params)
    n = len(samples)
    rest = np.empty(n, dtype=bool)
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        t = samples.t[lo:hi]
        dt, init = est._timing(t)
        acc = np.ascontiguousarray(samples.acc[lo:hi].T)
        gyro = np.ascontiguousarray(samples.gyro[lo:hi].T)
        rest[lo:hi], _ = est._rest(t, acc, gyro, dt, init)
    return rest


def rest_accel_calibration(samples: Samples, params: OrientationParams) -> AccelCalibration:
    """Accelerometer correction fitted over the rests of a whole recording (:func:`fit_rest_calibration`)."""
    rest = rest_rows(samples, params)
    return fit_rest_calibration_with(RestStatistics.from_mask(samples.t, samples.acc, rest), params)


def fit_rest_calibration_with(stats: RestStatistics, params: OrientationParams) -> AccelCalibration:
    """:func:`fit_rest_calibration` with the prior and noise of ``params``."""
    return fit_rest_calibration(
        stats,
        params.gravity_mps2,
        prior_sd_mps2=params.acc_bias_prior_sd_mps2,
        norm_sd_mps2=params.acc_norm_sd_mps2,
    )


def _smooth(est: OrientationEstimator, samples: Samples) -> FloatArray:
    """The offline (hindsight) path of :func:`estimate_up` over a whole recording; returns up (N, 3).

    Same steps as the streaming estimator, with three changes: the rest bias of every block is interpolated
    between the rests before and after it; each block's motion equations are weighted both ways in time; the
    gravity low-pass is zero-phase (Butterworth forwards and backwards, ``tau_acc_offline_s``).
    Memory is a few arrays of the recording's length (this path is for stored recordings).
    """
    _keep_heap()
    p = est.params
    n = len(samples)
    t = samples.t
    acc = np.array(samples.acc.T, dtype=np.float64, order="C")  # its own copy: the turn compensation edits it
    gyro = np.ascontiguousarray(samples.gyro.T)
    if not (np.isfinite(t).all() and np.isfinite(acc).all() and np.isfinite(gyro).all()):
        raise ValueError("orientation: samples contain NaN or infinite values; drop or repair them first")
    pieces = [(s, min(n, s + _CHUNK)) for s in range(0, n, _CHUNK)]
    dt = np.empty(n)
    init = np.empty(n, dtype=bool)
    rest = np.empty(n, dtype=bool)
    snap = np.empty(n, dtype=bool)
    cold = np.empty(n, dtype=bool)
    acc_rest = np.empty((3, n))
    for lo, hi in pieces:
        dt[lo:hi], init[lo:hi] = est._timing(t[lo:hi])
        rest[lo:hi], acc_rest[:, lo:hi] = est._rest(t[lo:hi], acc[:, lo:hi], gyro[:, lo:hi], dt[lo:hi], init[lo:hi])
        snap[lo:hi] = est._rest_onsets(rest[lo:hi])
    blocks = est._blocks(t, init)
    b_rest, var_rest, rest_t = _hindsight_rest_bias(p, blocks, t, gyro, dt, rest)
    b_rest_s = np.repeat(b_rest, blocks.lengths, axis=1)
    ends = blocks.starts + blocks.lengths - 1
    g_end = np.empty((3, len(blocks.index)))
    atil_end = np.empty((9, len(blocks.index)))
    for lo, hi in pieces:
        sel = (ends >= lo) & (ends < hi)
        g_end[:, sel], atil_end[:, sel], cold[lo:hi] = est._drift_pass(
            acc[:, lo:hi],
            gyro[:, lo:hi],
            dt[lo:hi],
            init[lo:hi],
            b_rest_s[:, lo:hi],
            snap[lo:hi],
            acc_rest[:, lo:hi],
            ends[sel] - lo,
        )
    blocks = blocks.with_reinit(cold)
    bias = _two_sided_bias(p, blocks, b_rest, var_rest, rest_t, g_end, atil_end)
    bias = np.repeat(bias, blocks.lengths, axis=1)
    # the walking turns' centripetal acceleration, learnt causally as on the live path
    for lo, hi in pieces:
        turning = est._turn_compensation(
            acc[:, lo:hi], gyro[:, lo:hi], bias[:, lo:hi], dt[lo:hi], init[lo:hi], est._blocks(t[lo:hi], init[lo:hi])
        )
        if turning is not None:
            acc[:, lo:hi] -= turning  # acc is this function's own contiguous copy
    # output pass: gravity in the reference frame of each segment, zero-phase low-passed, rotated back
    up = np.empty((3, n))
    dt_nom = float(np.median(dt[~init])) if (~init).any() else 1.0
    bw = _Butter.design(p.tau_acc_offline_s, dt_nom)
    fallback = np.array([0.0, 0.0, 1.0])
    for lo, hi in _segments(init):
        aref = np.empty((3, hi - lo))
        rest_ref = np.empty((3, hi - lo))  # the accelerometer's rest low-pass in the reference frame, at rests
        pieces = [(s, min(hi, s + _CHUNK)) for s in range(lo, hi, _CHUNK)]
        keep = hi - lo <= _KEEP_ROTATIONS  # a bounded window: keep the rotations instead of integrating twice
        quats, rots = [], []
        q, qp = 1.0 + 0.0j, 0.0j
        for a, b in pieces:
            quats.append((q, qp))
            r, q, qp = _strapdown(gyro[:, a:b], dt[a:b], bias[:, a:b], q, qp)
            aref[:, a - lo : b - lo] = _quat.rotate(r, acc[:, a:b])
            at = np.flatnonzero(rest[a:b])
            rest_ref[:, a - lo + at] = _quat.rotate(r[:, at], acc_rest[:, a + at])
            if keep:
                rots.append(r)
        _hold_around_rests(aref, rest_ref, rest[lo:hi], t[lo:hi], p.rest_min_s + p.rest_hold_s, p.rest_hold_s)
        g = _zero_phase(aref, bw)
        for i, ((a, b), (q0, p0)) in enumerate(zip(pieces, quats, strict=True)):
            r = rots[i] if keep else _strapdown(gyro[:, a:b], dt[a:b], bias[:, a:b], q0, p0)[0]
            u = _unit_or(_quat.rotate_inverse(r, g[:, a - lo : b - lo]), fallback)
            up[:, a:b] = _ahead(u, gyro[:, a:b] - bias[:, a:b], p.latency_s)
            fallback = u[:, -1].copy()
    return up.T.copy()


def _hold_around_rests(
    x: FloatArray, rest_ref: FloatArray, rest: BoolArray, t: FloatArray, before_s: float, after_s: float
) -> None:
    """The hindsight form of :func:`_hold_after_rest`: in the low-pass input ``x`` (3, n), the moving samples
    less than ``after_s`` after a rest take that rest's last ``rest_ref`` (3, n) and those less than
    ``before_s`` before one (the stop that led to it, and the stillness before the rest is confirmed) its
    first; times ``t`` (n,) s."""
    if after_s <= 0.0 or not rest.any():
        return
    edges = np.flatnonzero(np.diff(rest.astype(np.int8)))
    onsets = np.concatenate(([0] if rest[0] else [], edges[~rest[edges]] + 1)).astype(np.int64)
    ends = np.concatenate((edges[rest[edges]], [rest.shape[0] - 1] if rest[-1] else [])).astype(np.int64)
    for on in onsets.tolist():
        first = int(np.searchsorted(t, t[on] - before_s, side="right"))
        span = slice(first, on)
        x[:, span] = np.where(rest[span], x[:, span], rest_ref[:, on : on + 1])
    for end in ends.tolist():
        stop = int(np.searchsorted(t, t[end] + after_s, side="left"))
        span = slice(end + 1, stop)
        x[:, span] = np.where(rest[span], x[:, span], rest_ref[:, end : end + 1])


def _hindsight_rest_bias(
    p: OrientationParams, blocks: _Blocks, t: FloatArray, gyro: FloatArray, dt: FloatArray, rest: BoolArray
) -> tuple[FloatArray, list[float], list[float]]:
    """Rest bias of every block (3, blocks), interpolated in time between the blocks with rest before and after,
    and its variance (measurement noise plus the random walk over the distance to the nearest rest)."""
    rest_dt = np.where(rest, dt, 0.0)
    rest_t = np.add.reduceat(rest_dt, blocks.starts)
    rest_sum = np.add.reduceat(gyro * rest_dt, blocks.starts, axis=1)
    tb = t[blocks.starts]
    has = rest_t >= _rest_needed_s(p)
    nb = len(blocks.index)
    if not has.any():
        b0 = np.repeat(np.array(p.initial_bias_rps)[:, None], nb, axis=1)
        return b0, [p.bias_initial_sd_rps**2] * nb, rest_t.tolist()
    mean = rest_sum[:, has] / rest_t[has]
    b = np.stack([np.interp(tb, tb[has], mean[i]) for i in range(3)])
    th = tb[has]
    k = np.clip(np.searchsorted(th, tb), 1, max(1, th.shape[0] - 1))
    dist = np.minimum(np.abs(tb - th[k - 1]), np.abs(tb - th[np.minimum(k, th.shape[0] - 1)]))
    var = p.rest_gyro_noise_rps**2 / float(np.median(rest_t[has])) + p.bias_walk_rps_per_sqrt_s**2 * dist
    return b, var.tolist(), rest_t.tolist()


def _two_sided_bias(
    p: OrientationParams,
    blocks: _Blocks,
    b_rest: FloatArray,
    var_rest: list[float],
    rest_t: list[float],
    g_end: FloatArray,
    atil_end: FloatArray,
) -> FloatArray:
    """Bias per block (3, blocks): rest estimate fused with the motion equations of all blocks, weighted by
    ``exp(-|Δt| / motion_bias_tau_s)`` both ways in time (a forward and a backward linear recursion)."""
    nb = len(blocks.index)
    idx = np.array(blocks.index, dtype=np.float64)
    valid = np.zeros(nb, dtype=bool)
    valid[1:] = (
        ~np.array(blocks.reinit[1:], dtype=bool) & (np.array(rest_t[1:], dtype=np.float64) == 0.0) & (np.diff(idx) == 1)
    )
    m = np.zeros((9, nb))
    r = np.zeros((3, nb))
    if nb > 1:
        m[:, 1:], r[:, 1:] = _drift_equations(
            g_end[:, :-1], g_end[:, 1:], atil_end[:, 1:] - atil_end[:, :-1], b_rest[:, 1:]
        )
    m[:, ~valid] = 0.0
    r[:, ~valid] = 0.0
    forget = math.exp(-p.bias_block_s / p.motion_bias_tau_s)
    eq = np.concatenate((m, r))
    decay = np.concatenate(([1.0], forget ** np.diff(idx)))
    fwd = _linrec(decay, eq, np.zeros(12))
    bwd = _linrec(decay[::-1].copy(), eq[:, ::-1].copy(), np.zeros(12))[:, ::-1]
    both = fwd + bwd - eq
    return _fuse_many(b_rest, np.array(var_rest), both[:9], both[9:], p)
