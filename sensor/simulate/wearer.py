"""The seeded simulated wearer: :func:`simulate` / :func:`simulate_chunks` turn a scenario and a sensor model
into samples with per-sample ground truth (the frames, signs and timing are described in :mod:`sensor.simulate`).
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from processing.samples import STANDARD_GRAVITY, Samples
from sensor.simulate.kinematics import body_rates, pelvis_matrix, rotate_t
from sensor.simulate.plan import Plan, compile_plan
from sensor.simulate.scenarios import ACTIVITIES, Segment
from sensor.simulate.sensor_model import SensorModel, realize_sensor
from sensor.simulate.truth import Truth

_BLOCK = 8192  # samples per random-number block; fixed so that chunking cannot change any draw


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
