"""Activity per 1 s epoch: sitting, standing, walking, lying or unknown.

This is the first, angle-and-motion rule. Codes index :data:`ACTIVITIES`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from processing.calibration import Calibration
from processing.features import EpochFeatures
from processing.samples import FloatArray

Int8Array = NDArray[np.int8]

ACTIVITIES = ("unknown", "sitting", "standing", "walking", "lying")
UNKNOWN, SITTING, STANDING, WALKING, LYING = range(5)


@dataclass(frozen=True)
class ActivityParams:
    """walking_acc_std: |acc| std within an epoch above which it is walking, m/s².
    sitting_tilt_deg: tilt below which a still upright posture is sitting, degrees (posterior negative).
    lying_deg: inclination of the pelvis' superior axis from vertical above which it is lying, degrees.
    min_coverage: fraction of an epoch's samples that must be present; below it the epoch is a gap.
    """

    walking_acc_std: float = 0.9
    sitting_tilt_deg: float = -9.0
    lying_deg: float = 50.0
    min_coverage: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.min_coverage <= 1.0:
            raise ValueError("min_coverage must be in (0, 1]")
        if not 0.0 < self.lying_deg < 90.0:
            raise ValueError("lying_deg must be in (0, 90) degrees")


def classify(
    features: EpochFeatures,
    tilt_deg: FloatArray,
    calibration: Calibration | None,
    params: ActivityParams,
) -> Int8Array:
    """Activity codes (m,) for epochs with the given tilt (m,) degrees; unknown when uncalibrated or a gap."""
    out = np.full(len(features), UNKNOWN, dtype=np.int8)
    if calibration is None:
        return out
    present = features.coverage >= params.min_coverage
    z = calibration.rotation[2]
    inclination = np.degrees(np.arccos(np.clip(features.up @ z, -1.0, 1.0)))
    lying = present & (inclination > params.lying_deg)
    walking = present & ~lying & (features.acc_norm_std > params.walking_acc_std)
    upright = present & ~lying & ~walking
    out[upright] = STANDING
    out[upright & (tilt_deg < params.sitting_tilt_deg)] = SITTING
    out[walking] = WALKING
    out[lying] = LYING
    return out
