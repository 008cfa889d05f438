"""The seeded simulated wearer: :func:`simulate` / :func:`simulate_chunks` turn a scenario and a sensor model
into samples with per-sample ground truth (the frames, signs and timing are described in :mod:`sensor.simulate`).
"""

from __future__ import annotations

import gzip
import io
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import numpy as np
from numpy.typing import NDArray

from processing.samples import STANDARD_GRAVITY, Samples
from sensor.files import open_private
from sensor.simulate.kinematics import FloatArray, body_rates, pelvis_matrix, rotate_t
from sensor.simulate.plan import Plan, compile_plan
from sensor.simulate.scenarios import ACTIVITIES, Segment

Vector3 = tuple[float, float, float]
_BLOCK = 8192  # samples per random-number block; fixed so that chunking cannot change any draw


@dataclass(frozen=True, slots=True)
class SensorModel:
    """The simulated IMU and how it is worn. Defaults are a cheap consumer MEMS IMU at 100 Hz, as worn for
    hours: a power-on gyro bias up to ±3 °/s per axis, a random walk of 0.15 °/s/√h, a thermal drift of about
    0.3 °/s over the first hours, an accelerometer bias of 20–50 mg per axis, 1 % scale and 0.2 % cross-axis
    errors.

    rate_hz: nominal sample rate, Hz (1..2000; 25..400 is realistic). Gait harmonics above 0.4 x rate
        are left out (the sensor's anti-aliasing filter).
    mounting_deg: sensor->pelvis rotation as intrinsic z-y'-x'' angles in degrees
        (``Rz(a) @ Ry(b) @ Rx(c)``), or ``"random"``: a random point around the belt (front, side or back),
        the sensor lying flat on it facing in or out, rotated randomly in the belt plane, with the belt
        surface sloped ±15°.
    lever_arm_m: sensor position in the pelvis frame relative to the pelvis origin, m. ``None``: (0, 0, 0)
        for explicit angles, the belt point for ``"random"``.
    acc_noise: accelerometer white noise, m/s² standard deviation per sample and axis.
    gyro_noise: gyroscope white noise, rad/s standard deviation per sample and axis.
    acc_bias: constant accelerometer bias, m/s²: a 3-tuple, or a float = standard deviation of a per-axis
        bias drawn from the seed.
    gyro_bias: constant gyroscope bias, rad/s; 3-tuple or standard deviation as for ``acc_bias``.
    gyro_bias_walk: gyroscope bias random walk, rad/s/√s (added to ``gyro_bias``).
    acc_scale: accelerometer scale error (0.01 = 1 %); 3-tuple or standard deviation as for ``acc_bias``.
    gyro_power_on_max: power-on gyro bias, drawn per axis uniformly in ±this, rad/s (added to ``gyro_bias``).
    gyro_thermal_max: thermal gyro drift reached after warm-up, drawn per axis uniformly in ±this, rad/s; it
        grows as ``1 - exp(-t / gyro_thermal_tau_s)``.
    gyro_thermal_tau_s: warm-up time constant of the thermal drift, s.
    acc_bias_range: accelerometer bias magnitude per axis, drawn uniformly in [lo, hi] with a random sign, m/s²
        (added to ``acc_bias``).
    acc_cross_axis: accelerometer cross-axis sensitivity, standard deviation of each off-diagonal entry of the
        sensitivity matrix (0.002 = 0.2 %).
    jitter_s: standard deviation of the sample-instant jitter, s (truncated at ±0.45 periods).
    drop_rate: expected fraction of samples lost, in runs (0 <= drop_rate < 0.5).
    drop_run_s: mean duration of a run of lost samples, s (at least one sample).
    """

    rate_hz: float = 100.0
    mounting_deg: Vector3 | Literal["random"] = (0.0, 0.0, 0.0)
    lever_arm_m: Vector3 | None = None
    acc_noise: float = 0.02
    gyro_noise: float = 0.005
    acc_bias: float | Vector3 = 0.0
    gyro_bias: float | Vector3 = 0.0
    gyro_bias_walk: float = math.radians(0.15) / 60.0
    acc_scale: float | Vector3 = 0.01
    gyro_power_on_max: float = math.radians(3.0)
    gyro_thermal_max: float = math.radians(0.3)
    gyro_thermal_tau_s: float = 3600.0
    acc_bias_range: tuple[float, float] = (0.020 * STANDARD_GRAVITY, 0.050 * STANDARD_GRAVITY)
    acc_cross_axis: float = 0.002
    jitter_s: float = 0.0
    drop_rate: float = 0.0
    drop_run_s: float = 0.1

    def __post_init__(self) -> None:
        if not (1.0 <= self.rate_hz <= 2000.0):
            raise ValueError(f"SensorModel rate_hz={self.rate_hz!r} is outside [1, 2000]")
        if isinstance(self.mounting_deg, str):
            if self.mounting_deg != "random":
                raise ValueError(f"SensorModel mounting_deg={self.mounting_deg!r}: give 3 angles or 'random'")
        else:
            _vector("mounting_deg", self.mounting_deg)
        if self.lever_arm_m is not None:
            v = _vector("lever_arm_m", self.lever_arm_m)
            if np.abs(v).max() > 1.0:
                raise ValueError(f"SensorModel lever_arm_m={self.lever_arm_m!r}: more than 1 m from the pelvis")
        for name in (
            "acc_noise",
            "gyro_noise",
            "gyro_bias_walk",
            "jitter_s",
            "drop_rate",
            "gyro_power_on_max",
            "gyro_thermal_max",
            "acc_cross_axis",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"SensorModel {name}={value!r} must be finite and >= 0")
        for name in ("acc_bias", "gyro_bias", "acc_scale"):
            value = getattr(self, name)
            if isinstance(value, tuple):
                _vector(name, value)
            elif not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"SensorModel {name}={value!r}: a 3-tuple, or a standard deviation >= 0")
        lo, hi = self.acc_bias_range
        if not (math.isfinite(lo) and math.isfinite(hi) and 0.0 <= lo <= hi):
            raise ValueError(f"SensorModel acc_bias_range={self.acc_bias_range!r} must be 0 <= lo <= hi")
        if not (math.isfinite(self.gyro_thermal_tau_s) and self.gyro_thermal_tau_s > 0.0):
            raise ValueError(f"SensorModel gyro_thermal_tau_s={self.gyro_thermal_tau_s!r} must be > 0")
        if self.drop_rate >= 0.5:
            raise ValueError(f"SensorModel drop_rate={self.drop_rate!r} must be < 0.5")
        if not (self.drop_run_s > 0.0):
            raise ValueError(f"SensorModel drop_run_s={self.drop_run_s!r} must be > 0")

    @staticmethod
    def ideal(rate_hz: float = 100.0, mounting_deg: Vector3 | Literal["random"] = (0.0, 0.0, 0.0)) -> SensorModel:
        """A perfect sensor: no noise, bias, drift, scale error, jitter or loss, no lever arm."""
        return SensorModel(
            rate_hz=rate_hz,
            mounting_deg=mounting_deg,
            lever_arm_m=(0.0, 0.0, 0.0),
            acc_noise=0.0,
            gyro_noise=0.0,
            acc_bias=0.0,
            gyro_bias=0.0,
            gyro_bias_walk=0.0,
            acc_scale=0.0,
            gyro_power_on_max=0.0,
            gyro_thermal_max=0.0,
            acc_bias_range=(0.0, 0.0),
            acc_cross_axis=0.0,
        )


def _vector(name: str, value: Sequence[float]) -> FloatArray:
    v = np.asarray(value, dtype=float)
    if v.shape != (3,) or not np.all(np.isfinite(v)):
        raise ValueError(f"SensorModel {name}={value!r} must be 3 finite numbers")
    return v


@dataclass(frozen=True, slots=True)
class RealizedSensor:
    """The sensor parameters actually used for one seed.

    mounting: (3, 3) sensor->pelvis rotation. lever_arm_m: (3,) m, pelvis frame.
    acc_bias: (3,) m/s². gyro_bias: (3,) rad/s (power-on, before the random walk and thermal drift).
    acc_scale: (3,) (0 = exact). gyro_thermal: (3,) rad/s, thermal drift after warm-up. acc_cross: (3, 3)
    off-diagonal sensitivity (zero diagonal): the accelerometer reads ``f (I + diag(acc_scale) + acc_cross)ᵀ``.
    """

    mounting: FloatArray
    lever_arm_m: FloatArray
    acc_bias: FloatArray
    gyro_bias: FloatArray
    acc_scale: FloatArray
    gyro_thermal: FloatArray = field(default_factory=lambda: np.zeros(3))
    acc_cross: FloatArray = field(default_factory=lambda: np.zeros((3, 3)))


def realize_sensor(sensor: SensorModel, seed: int) -> RealizedSensor:
    """Draw the mounting, lever arm, biases and scale errors that ``simulate(..., seed=seed)`` uses."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5E5,)))
    if isinstance(sensor.mounting_deg, str):
        around = rng.uniform(-math.pi, math.pi)  # 0 = front of the belt, +pi/2 = left side
        slope = math.radians(rng.uniform(-15.0, 15.0))
        spin = rng.uniform(0.0, 2.0 * math.pi)
        facing = 1.0 if rng.random() < 0.5 else -1.0
        outward = np.array([math.cos(around), math.sin(around), 0.0])
        normal = math.cos(slope) * outward + math.sin(slope) * np.array([0.0, 0.0, 1.0])
        along = np.array([-math.sin(around), math.cos(around), 0.0])
        upward = np.cross(normal, along)
        z = facing * normal
        x = math.cos(spin) * along + math.sin(spin) * upward
        mounting = np.column_stack([x, np.cross(z, x), z])
        belt = np.array([0.13 * math.cos(around), 0.16 * math.sin(around), 0.08])
    else:
        a, b, c = np.radians(sensor.mounting_deg)
        mounting = pelvis_matrix(np.array([a]), np.array([b]), np.array([c]))[0]
        belt = np.zeros(3)
    lever = belt if sensor.lever_arm_m is None else np.asarray(sensor.lever_arm_m, dtype=float)

    def draw(value: float | Vector3) -> FloatArray:
        normal = rng.standard_normal(3)  # always drawn, so one option does not shift the others
        return np.asarray(value, dtype=float) if isinstance(value, tuple) else value * normal

    acc_bias, gyro_bias, acc_scale = draw(sensor.acc_bias), draw(sensor.gyro_bias), draw(sensor.acc_scale)
    # drawn after the older options, so that adding these did not shift them
    u_gyro, u_thermal, u_acc, sign = rng.uniform(-1.0, 1.0, (4, 3))
    lo, hi = sensor.acc_bias_range
    cross = sensor.acc_cross_axis * rng.standard_normal((3, 3))
    np.fill_diagonal(cross, 0.0)
    return RealizedSensor(
        mounting,
        lever,
        acc_bias + np.where(sign < 0, -1.0, 1.0) * (lo + (hi - lo) * np.abs(u_acc)),
        gyro_bias + sensor.gyro_power_on_max * u_gyro,
        acc_scale,
        sensor.gyro_thermal_max * u_thermal,
        cross,
    )


# ---------------------------------------------------------------------------------------------------------
# Truth


@dataclass(frozen=True, slots=True)
class Truth:
    """Ground truth at each sample of the matching :class:`Samples`.

    t: (n,) s, the sample instants. tilt_deg: (n,) degrees, anterior positive, 0 = neutral standing.
    obliquity_deg: (n,) degrees, left side up positive. heading_deg: (n,) degrees in (-180, 180], yaw of the
    pelvis about world z. activity: (n,) str from :data:`ACTIVITIES`. transition: (n,) bool.
    mounting: (3, 3) sensor->pelvis rotation used for these samples.
    """

    t: FloatArray
    tilt_deg: FloatArray
    obliquity_deg: FloatArray
    heading_deg: FloatArray
    activity: NDArray[np.str_]
    transition: NDArray[np.bool_]
    mounting: FloatArray = field(default_factory=lambda: np.eye(3))

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def slice(self, start: int, stop: int | None = None) -> Truth:
        s = np.s_[start:stop]
        return Truth(
            self.t[s],
            self.tilt_deg[s],
            self.obliquity_deg[s],
            self.heading_deg[s],
            self.activity[s],
            self.transition[s],
            self.mounting,
        )

    @staticmethod
    def concat(parts: Sequence[Truth]) -> Truth:
        if not parts:
            raise ValueError("Truth.concat needs at least one part")
        return Truth(
            np.concatenate([p.t for p in parts]),
            np.concatenate([p.tilt_deg for p in parts]),
            np.concatenate([p.obliquity_deg for p in parts]),
            np.concatenate([p.heading_deg for p in parts]),
            np.concatenate([p.activity for p in parts]),
            np.concatenate([p.transition for p in parts]),
            parts[0].mounting,
        )

    def pelvis_to_world(self) -> FloatArray:
        """(n, 3, 3) pelvis->world rotations."""
        return pelvis_matrix(np.radians(self.heading_deg), np.radians(self.tilt_deg), np.radians(self.obliquity_deg))

    def sensor_to_world(self) -> FloatArray:
        """(n, 3, 3) sensor->world rotations (the true sensor orientation)."""
        return self.pelvis_to_world() @ self.mounting


# ---------------------------------------------------------------------------------------------------------
# Simulation


def simulate(segments: Sequence[Segment], sensor: SensorModel | None = None, *, seed: int = 0) -> tuple[Samples, Truth]:
    """Simulate the whole scenario at once; the concatenation of :func:`simulate_chunks`."""
    parts = list(simulate_chunks(segments, sensor, seed=seed))
    if not parts:  # cannot happen (sample 0 is always kept), but keep the types honest
        raise ValueError("the scenario produced no samples")
    return Samples.concat([p[0] for p in parts]), Truth.concat([p[1] for p in parts])


def simulate_chunks(
    segments: Sequence[Segment], sensor: SensorModel | None = None, *, seed: int = 0, chunk_s: float = 600.0
) -> Iterator[tuple[Samples, Truth]]:
    """Yield ``(Samples, Truth)`` for consecutive stretches of about ``chunk_s`` seconds (by sample index).

    Memory is bounded by the chunk (and an internal block of 8192 samples), whatever the scenario length.
    Chunks whose samples were all dropped are skipped. The concatenation does not depend on ``chunk_s``.
    """
    sensor = SensorModel() if sensor is None else sensor
    if not (chunk_s > 0.0):
        raise ValueError(f"chunk_s must be > 0, got {chunk_s!r}")
    stream = _Stream(segments, sensor, seed)
    per_chunk = max(1, round(chunk_s * sensor.rate_hz))
    for start in range(0, stream.n, per_chunk):
        samples, truth = stream.take(start, min(start + per_chunk, stream.n))
        if len(samples):
            yield samples, truth


@dataclass(slots=True)
class _Block:
    index: int
    samples: Samples
    truth: Truth
    keep: NDArray[np.bool_]


class _Stream:
    """Generates fixed blocks of samples in order, carrying the random-walk and drop state across them."""

    def __init__(self, segments: Sequence[Segment], sensor: SensorModel, seed: int) -> None:
        self.sensor = sensor
        self.seed = seed
        self.plan: Plan = compile_plan(segments, seed, max_hz=0.4 * sensor.rate_hz)
        self.real = realize_sensor(sensor, seed)
        self.n = math.ceil(self.plan.duration_s * sensor.rate_hz - 1e-9)
        self.walk = np.zeros(3)  # gyro bias random walk at the end of the last block
        self.drop_left = 0  # samples of a drop run still to remove at the start of the next block
        self.last: _Block | None = None
        mean_run = max(1.0, sensor.drop_run_s * sensor.rate_hz)
        self.p_run = 1.0 / mean_run
        self.p_start = sensor.drop_rate / (mean_run * (1.0 - sensor.drop_rate))

    def take(self, start: int, stop: int) -> tuple[Samples, Truth]:
        samples, truths = [], []
        for b in range(start // _BLOCK, (stop - 1) // _BLOCK + 1):
            block = self._block(b)
            lo = max(start - b * _BLOCK, 0)
            hi = min(stop - b * _BLOCK, _BLOCK)
            keep = np.flatnonzero(block.keep[lo:hi]) + lo
            samples.append(Samples(block.samples.t[keep], block.samples.acc[keep], block.samples.gyro[keep]))
            truths.append(_take(block.truth, keep))
        return Samples.concat(samples), Truth.concat(truths)

    def _block(self, b: int) -> _Block:
        if self.last is not None and self.last.index == b:
            return self.last
        expected = 0 if self.last is None else self.last.index + 1
        assert b == expected, "simulator blocks must be generated in order"
        self.last = self._generate(b)
        return self.last

    def _generate(self, b: int) -> _Block:
        sensor, real = self.sensor, self.real
        rate = sensor.rate_hz
        rng = np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(0xB10C, b)))
        z_jitter = rng.standard_normal(_BLOCK)
        z_acc = rng.standard_normal((_BLOCK, 3))
        z_gyro = rng.standard_normal((_BLOCK, 3))
        z_walk = rng.standard_normal((_BLOCK, 3))
        u_drop = rng.random(_BLOCK)
        starts = np.flatnonzero(u_drop < self.p_start)
        runs = rng.geometric(self.p_run, size=starts.size) if starts.size else np.zeros(0, dtype=np.int64)

        idx = np.arange(b * _BLOCK, min((b + 1) * _BLOCK, self.n))
        m = idx.size
        limit = 0.45 / rate
        t = idx / rate + np.clip(sensor.jitter_s * z_jitter[:m], -limit, limit)
        keep = self._keep(m, starts, runs)
        if b == 0:
            t[0] = 0.0
            keep[0] = True

        motion = self.plan.evaluate(t)
        rot = pelvis_matrix(motion.yaw.v, motion.tilt.v, motion.obl.v)
        omega, alpha = body_rates(motion.yaw, motion.tilt, motion.obl)
        specific = motion.acc_world.copy()
        specific[:, 2] += STANDARD_GRAVITY
        f_pelvis = rotate_t(rot, specific)
        r = real.lever_arm_m
        if np.any(r):
            f_pelvis += np.cross(alpha, r) + np.cross(omega, np.cross(omega, r))
        f_sensor = f_pelvis @ real.mounting
        acc = f_sensor * (1.0 + real.acc_scale) + f_sensor @ real.acc_cross.T
        acc += real.acc_bias + sensor.acc_noise * z_acc[:m]
        walk = self.walk + np.cumsum(sensor.gyro_bias_walk * math.sqrt(1.0 / rate) * z_walk[:m], axis=0)
        if m:
            self.walk = walk[-1].copy()
        thermal = -np.expm1(-t / sensor.gyro_thermal_tau_s)[:, None] * real.gyro_thermal
        gyro = omega @ real.mounting + real.gyro_bias + thermal + walk + sensor.gyro_noise * z_gyro[:m]

        heading = np.degrees(motion.yaw.v)
        heading = 180.0 - np.mod(180.0 - heading, 360.0)  # wrap to (-180, 180]
        truth = Truth(
            t=t,
            tilt_deg=np.degrees(motion.tilt.v),
            obliquity_deg=np.degrees(motion.obl.v),
            heading_deg=heading,
            activity=np.asarray(ACTIVITIES)[motion.activity],
            transition=motion.transition,
            mounting=real.mounting,
        )
        return _Block(b, Samples(t, acc, gyro), truth, keep)

    def _keep(self, m: int, starts: NDArray[np.int64], runs: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Which of the block's m samples survive; drop runs may continue into the next block."""
        keep = np.ones(m, dtype=bool)
        pos = min(self.drop_left, m)
        keep[:pos] = False
        end = self.drop_left  # first index (in this block) not inside a run
        for s, length in zip(starts, runs, strict=True):
            if s >= m:
                break
            if s < end:
                continue
            end = int(s + length)
            keep[s : min(end, m)] = False
        self.drop_left = max(0, end - m)
        return keep


def _take(truth: Truth, idx: NDArray[np.intp]) -> Truth:
    return Truth(
        truth.t[idx],
        truth.tilt_deg[idx],
        truth.obliquity_deg[idx],
        truth.heading_deg[idx],
        truth.activity[idx],
        truth.transition[idx],
        truth.mounting,
    )


# ---------------------------------------------------------------------------------------------------------
# Epochs


@dataclass(frozen=True, slots=True)
class EpochTruth:
    """Truth per 1 s epoch ``k = floor(t - t0)``; epochs without any sample (inside a gap) are absent.

    t: (m,) s, epoch start ``t0 + k``. activity: (m,) str, the most frequent (ties: first in
    :data:`ACTIVITIES`). tilt_deg, obliquity_deg: (m,) degrees, means over the epoch's samples.
    transition: (m,) bool, any sample in a transition. n_samples: (m,) int.
    """

    t: FloatArray
    activity: NDArray[np.str_]
    tilt_deg: FloatArray
    obliquity_deg: FloatArray
    transition: NDArray[np.bool_]
    n_samples: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @staticmethod
    def concat(parts: Sequence[EpochTruth]) -> EpochTruth:
        return EpochTruth(
            np.concatenate([np.empty(0)] + [p.t for p in parts]),
            np.concatenate([np.empty(0, dtype="<U8")] + [p.activity for p in parts]),
            np.concatenate([np.empty(0)] + [p.tilt_deg for p in parts]),
            np.concatenate([np.empty(0)] + [p.obliquity_deg for p in parts]),
            np.concatenate([np.empty(0, dtype=bool)] + [p.transition for p in parts]),
            np.concatenate([np.empty(0, dtype=np.int64)] + [p.n_samples for p in parts]),
        )


def epoch_truth(truth: Truth, *, t0: float | None = None) -> EpochTruth:
    """Per-epoch truth of ``truth``; ``t0`` defaults to its first sample's time.

    >>> _, truth = simulate([Segment("sitting", 3.0)], SensorModel.ideal(rate_hz=25))
    >>> epochs = epoch_truth(truth)
    >>> epochs.t.tolist(), epochs.activity.tolist(), epochs.n_samples.tolist()
    ([0.0, 1.0, 2.0], ['sitting', 'sitting', 'sitting'], [25, 25, 25])
    """
    n = len(truth)
    if n == 0:
        return EpochTruth.concat([])
    origin = float(truth.t[0]) if t0 is None else t0
    k = np.floor(truth.t - origin).astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(k)) + 1))
    counts = np.diff(np.concatenate((starts, [n])))
    votes = np.stack([np.add.reduceat((truth.activity == a).astype(np.int64), starts) for a in ACTIVITIES])
    return EpochTruth(
        t=origin + k[starts].astype(float),
        activity=np.asarray(ACTIVITIES)[np.argmax(votes, axis=0)],
        tilt_deg=np.add.reduceat(truth.tilt_deg, starts) / counts,
        obliquity_deg=np.add.reduceat(truth.obliquity_deg, starts) / counts,
        transition=np.logical_or.reduceat(truth.transition, starts),
        n_samples=counts.astype(np.int64),
    )


class EpochTruthBuilder:
    """Epoch truth from a stream of :class:`Truth` chunks (the same result as on their concatenation).

    ``update(chunk)`` returns the epochs completed so far (the last, possibly unfinished epoch is held
    back); ``finish()`` returns the held-back epoch.
    """

    def __init__(self, *, t0: float | None = None) -> None:
        self._t0 = t0
        self._pending: Truth | None = None

    def update(self, truth: Truth) -> EpochTruth:
        if len(truth) == 0:
            return EpochTruth.concat([])
        if self._t0 is None:
            self._t0 = float(truth.t[0])
        joined = truth if self._pending is None else Truth.concat([self._pending, truth])
        k = np.floor(joined.t - self._t0)  # the same floor as epoch_truth
        split = int(np.searchsorted(k, k[-1], side="left"))
        self._pending = joined.slice(split)
        return epoch_truth(joined.slice(0, split), t0=self._t0)

    def finish(self) -> EpochTruth:
        pending, self._pending = self._pending, None
        if pending is None or self._t0 is None:
            return EpochTruth.concat([])
        return epoch_truth(pending, t0=self._t0)


def write_truth_csv(path: str | Path, epochs: EpochTruth | Iterable[EpochTruth]) -> None:
    """Write epoch truth as CSV (``.csv`` or ``.csv.gz``): ``t,activity,tilt_deg,obliquity_deg,transition``.

    ``t`` is the epoch start in s, angles in degrees with 3 decimals, ``transition`` is 0 or 1. ``epochs``
    may be an iterable of parts (e.g. from :class:`EpochTruthBuilder`), written in order.
    """
    path = Path(path)
    parts = [epochs] if isinstance(epochs, EpochTruth) else epochs
    file = open_private(path, "wb")  # health data: owner-only
    raw: IO[bytes] = gzip.GzipFile(fileobj=file, mode="wb") if path.name.endswith(".gz") else file  # type: ignore[assignment]
    with file, raw, io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as out:
        out.write("t,activity,tilt_deg,obliquity_deg,transition\n")
        for part in parts:
            for t, a, tilt, obl, tr in zip(
                part.t.tolist(),
                part.activity.tolist(),
                part.tilt_deg.tolist(),
                part.obliquity_deg.tolist(),
                part.transition.tolist(),
                strict=True,
            ):
                out.write(f"{_num(t)},{a},{tilt:.3f},{obl:.3f},{int(tr)}\n")


def _num(t: float) -> str:
    text = f"{t:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
