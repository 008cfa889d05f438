"""Sensor-to-pelvis mounting calibration and pelvic angles.

The sensor is clipped to the belt in any orientation. A :class:`Calibration` holds the rotation from the
sensor frame to the pelvis frame of the wearer's *neutral standing*: rows are the pelvis axes x (anterior),
y (left), z (superior) written in sensor coordinates, so ``pelvis_vector = rotation @ sensor_vector``.

- The vertical (z) comes from neutral standing (guided) or from walking (automatic: the mean gravity direction
  while walking is the upright reference, as in Vähä-Ypyä et al. 2018).
- The anterior axis (x) comes from walking: the horizontal acceleration of the pelvis is largest along the
  direction of travel (its anteroposterior oscillation), and its sign follows from the posterior rotation of
  the pelvis when sitting down, or else from the covariance of anteroposterior and vertical acceleration while
  walking (forward deceleration coincides with the vertical push after heel strike).

Angles (see :func:`pelvic_angles`): with ``u`` the up vector in pelvis coordinates,
tilt = asin(-u_x) (anterior positive: the superior axis tips toward anterior), and
obliquity = atan2(u_y, u_z) (positive when the left iliac crest rises: rotation about +x).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from processing.features import EpochFeatures
from processing.samples import FloatArray

BoolArray = NDArray[np.bool_]

#: |acc| standard deviation within an epoch above which it may be walking, m/s².
WALKING_ACC_STD = 0.9
#: Minimum walking epochs (about 2 steps each) to trust a forward axis.
MIN_WALKING_EPOCHS = 5


@dataclass(frozen=True)
class Calibration:
    """rotation: (3, 3) sensor -> pelvis (rows: pelvis x, y, z in sensor coordinates).

    method: "guided", "auto" or "stored"; sign_check: how the anterior sign was decided
    ("sitting", "walking" or "assumed").
    """

    rotation: FloatArray
    method: str
    sign_check: str

    def __post_init__(self) -> None:
        r = np.asarray(self.rotation, dtype=np.float64)
        if r.shape != (3, 3) or not np.allclose(r @ r.T, np.eye(3), atol=1e-6):
            raise ValueError("calibration rotation must be a 3x3 orthonormal matrix")
        if np.linalg.det(r) < 0:
            raise ValueError("calibration rotation must be right-handed")

    def to_dict(self) -> dict[str, Any]:
        return {
            "rotation": [[float(v) for v in row] for row in self.rotation],
            "method": self.method,
            "sign_check": self.sign_check,
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Calibration:
        return Calibration(
            rotation=np.array(data["rotation"], dtype=np.float64),
            method=str(data.get("method", "stored")),
            sign_check=str(data.get("sign_check", "stored")),
        )


def pelvic_angles(up: FloatArray, calibration: Calibration) -> tuple[FloatArray, FloatArray]:
    """Pelvic tilt and obliquity in degrees from ``up`` (n, 3) unit vectors in the sensor frame.

    Returns tilt_deg (n,), anterior positive, and obliquity_deg (n,), left side up positive, both relative
    to neutral standing: the angles of the pelvis-to-world rotation ``Rz(yaw) @ Ry(tilt) @ Rx(obliquity)``.

    >>> cal = Calibration(np.eye(3), "guided", "assumed")
    >>> tilt, obl = pelvic_angles(np.array([[-np.sin(0.2), 0.0, np.cos(0.2)]]), cal)
    >>> round(float(tilt[0]), 3), round(float(obl[0]), 3)
    (11.459, 0.0)
    """
    u = up @ calibration.rotation.T
    tilt = np.degrees(np.arcsin(np.clip(-u[:, 0], -1.0, 1.0)))
    obliquity = np.degrees(np.arctan2(u[:, 1], u[:, 2]))
    return tilt, obliquity


def _unit(v: FloatArray) -> FloatArray:
    out: FloatArray = v / np.linalg.norm(v)
    return out


def walking_mask(features: EpochFeatures) -> BoolArray:
    """Epochs that look like walking for calibration purposes: complete, moving, roughly upright."""
    mask: BoolArray = (features.coverage > 0.8) & (features.acc_norm_std > WALKING_ACC_STD)
    return mask


def neutral_vertical(features: EpochFeatures, start_s: float, end_s: float) -> FloatArray | None:
    """Mean gravity direction over the epochs wholly inside ``[start_s, end_s)`` (recording seconds)."""
    inside = (features.t >= start_s) & (features.t + 1.0 <= end_s) & (features.count > 0)
    if not inside.any():
        return None
    weights = features.count[inside].astype(np.float64)
    return _unit((features.up[inside] * weights[:, None]).sum(axis=0))


def forward_axis(features: EpochFeatures, vertical: FloatArray, walking: BoolArray) -> tuple[FloatArray, str] | None:
    """Anterior axis (unit, sensor frame, perpendicular to ``vertical``) from walking epochs, with its sign check.

    The horizontal acceleration covariance summed over walking epochs has its principal axis along the
    direction of travel. The sign: first from sitting (the up vector moves toward +anterior when the pelvis
    tilts posteriorly), else from the walking AP-vertical covariance (negative at heel strike).
    """
    if int(walking.sum()) < MIN_WALKING_EPOCHS:
        return None
    p = np.eye(3) - np.outer(vertical, vertical)
    cov = features.acc_cov[walking].sum(axis=0)
    horizontal = p @ cov @ p
    eigval, eigvec = np.linalg.eigh(horizontal)
    axis = _unit(p @ eigvec[:, 2])
    if eigval[2] < 1.2 * eigval[1]:
        # Anteroposterior and mediolateral sway too alike to tell apart.
        return None
    sign_check = "walking"
    sign = -np.sign(axis @ cov @ vertical)
    sitting = sitting_like(features, vertical)
    if int(sitting.sum()) >= 10:
        shift = (features.up[sitting] - vertical).mean(axis=0)
        if abs(shift @ axis) > 0.1:
            sign = np.sign(shift @ axis)
            sign_check = "sitting"
    if sign == 0:
        sign, sign_check = 1.0, "assumed"
    return sign * axis, sign_check


def sitting_like(features: EpochFeatures, vertical: FloatArray) -> BoolArray:
    """Still epochs whose gravity direction is 12–35° from neutral vertical: sitting-like postures."""
    cos = np.clip(features.up @ vertical, -1.0, 1.0)
    angle = np.degrees(np.arccos(cos))
    still = (features.acc_norm_std < 0.3) & (features.coverage > 0.8)
    mask: BoolArray = still & (angle > 12.0) & (angle < 35.0)
    return mask


def from_axes(vertical: FloatArray, forward: FloatArray, method: str, sign_check: str) -> Calibration:
    z = _unit(vertical)
    x = _unit(forward - (forward @ z) * z)
    y = np.cross(z, x)
    return Calibration(np.vstack([x, y, z]), method, sign_check)


def calibrate(features: EpochFeatures, *, neutral: tuple[float, float] | None = None) -> Calibration | None:
    """Calibrate from epoch features: guided when ``neutral`` (start_s, end_s) is given, else automatic.

    Returns None when there is not enough walking to find the anterior axis.
    """
    walking = walking_mask(features)
    if neutral is not None:
        vertical = neutral_vertical(features, *neutral)
        if vertical is None:
            return None
        method = "guided"
    else:
        if int(walking.sum()) < MIN_WALKING_EPOCHS:
            return None
        weights = features.count[walking].astype(np.float64)
        vertical = _unit((features.up[walking] * weights[:, None]).sum(axis=0))
        method = "auto"
    found = forward_axis(features, vertical, walking)
    if found is None:
        return None
    forward, sign_check = found
    return from_axes(vertical, forward, method, sign_check)
