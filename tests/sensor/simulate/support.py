"""Helpers shared by the simulator tests: the tour scenario, a noiseless sensor, settled samples."""

from __future__ import annotations

import numpy as np

from processing.samples import STANDARD_GRAVITY
from sensor.simulate import (
    Segment,
    SensorModel,
    Truth,
    parse_scenario,
)

G = STANDARD_GRAVITY
# Everything the wearer does, transitions included.
TOUR = parse_scenario(
    "stand 6, walk 20, stand 8 tilt=14, sit 12, lie 12, lie 10 side=left, lie 8 side=right, sit 8, walk 10, stand 8"
)


#: The realistic error model's parts that default to non-zero, switched off.
NO_ERRORS: dict[str, object] = dict(
    acc_scale=0.0, gyro_power_on_max=0.0, gyro_thermal_max=0.0, acc_bias_range=(0.0, 0.0), acc_cross_axis=0.0
)


def noiseless(rate_hz: float = 100.0, **kwargs: object) -> SensorModel:
    """A perfect sensor, except for what kwargs ask (e.g. a random mounting with its lever arm)."""
    base: dict[str, object] = dict(
        rate_hz=rate_hz, acc_noise=0.0, gyro_noise=0.0, acc_bias=0.0, gyro_bias=0.0, gyro_bias_walk=0.0, **NO_ERRORS
    )
    base.update(kwargs)
    return SensorModel(**base)  # type: ignore[arg-type]


def settled(segments: list[Segment], truth: Truth, after_s: float = 3.5, before_s: float = 0.5) -> np.ndarray:
    """Mask of samples well inside their segment: after its transition, before the next one."""
    ends = np.cumsum([s.duration_s for s in segments])
    k = np.searchsorted(ends, truth.t, side="right")
    start = np.concatenate(([0.0], ends))[k]
    return (truth.t >= start + after_s) & (truth.t < ends[np.minimum(k, len(ends) - 1)] - before_s)
