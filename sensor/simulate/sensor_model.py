"""The simulated IMU: :class:`SensorModel` (its errors and how it is worn) and :func:`realize_sensor` (the
mounting, lever arm, biases and scale errors drawn for one seed). Frames and signs: :mod:`sensor.simulate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from processing.samples import STANDARD_GRAVITY
from sensor.simulate.kinematics import FloatArray, pelvis_matrix

Vector3 = tuple[float, float, float]


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
