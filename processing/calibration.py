"""Sensor-to-pelvis mounting calibration and pelvic angles.

The sensor is clipped to the belt in any orientation. A :class:`Calibration` holds the rotation from the
sensor frame to the pelvis frame of the wearer's *neutral standing*: rows are the pelvis axes x (anterior),
y (left), z (superior) written in sensor coordinates, so ``pelvis_vector = rotation @ sensor_vector``.

How the axes are found (all from 1 s :class:`~processing.features.EpochFeatures`):

- **Vertical (z).** Guided: the mean gravity direction over the still epochs of a neutral-standing window.
  Automatic: the mean gravity direction while walking, the upright reference of Vähä-Ypyä et al. (2018). When
  a calibration already knows where the walking vertical sits relative to neutral (``walking_up``), an
  automatic re-calibration applies that offset, so it keeps the guided neutral.
- **Anterior axis (x).** The horizontal acceleration of the pelvis while walking is largest along the
  direction of travel: the principal axis of the summed horizontal acceleration covariance of walking
  epochs. When that axis is ambiguous (anteroposterior and mediolateral variance alike) or disagrees with the
  sitting direction below, the horizontal direction of the sitting shift is used instead.
- **Sign of x.** The pelvis rotates *posteriorly* when sitting down: in still, reclined epochs (12–60° from
  vertical, i.e. sitting or lying on the back) the up vector moves toward +anterior. This decides the sign
  whenever there are at least 10 such epochs (``sign_check="sitting"``). Without sitting, the sign comes from
  walking: forward deceleration coincides with the vertical push after heel strike, so the anteroposterior/
  vertical acceleration covariance is negative (``sign_check="walking"``). On the HAPT development set (41
  real waist recordings) the walking cue alone agrees with the sitting cue in 39 of 40 recordings that
  contain sitting.

Angles (see :func:`pelvic_angles`): with ``u`` the up vector in pelvis coordinates,
tilt = asin(-u_x) (anterior positive: the superior axis tips toward anterior), and
obliquity = atan2(u_y, u_z) (positive when the left iliac crest rises: rotation about +x).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from processing.errors import HipsenseError
from processing.features import EpochFeatures
from processing.samples import STANDARD_GRAVITY, FloatArray

BoolArray = NDArray[np.bool_]

#: |acc| standard deviation within an epoch above which it may be walking, m/s².
WALKING_ACC_STD = 0.9
#: Minimum walking epochs (about 2 steps each, so >= 10 steps) to trust a forward axis.
MIN_WALKING_EPOCHS = 5
#: |acc| standard deviation below which an epoch is still, m/s².
STILL_ACC_STD = 0.3
#: Gyro RMS (about the epoch's mean) below which an epoch is still, rad/s.
STILL_GYRO_RMS = 0.25
#: Minimum still epochs in a neutral window.
MIN_NEUTRAL_EPOCHS = 3
#: Minimum reclined still epochs for the sitting sign check.
MIN_SITTING_EPOCHS = 10
#: Walking PCA: largest / second horizontal eigenvalue below which the anterior axis is ambiguous.
MIN_AP_RATIO = 1.2
#: |cos| between the walking axis and the sitting direction below which the walking axis is not trusted.
MIN_AXIS_AGREEMENT = 0.7


class CalibrationError(HipsenseError):
    """The data cannot give a calibration (no standing in the window, too few steps, ...)."""


@dataclass(frozen=True)
class Calibration:
    """rotation: (3, 3) sensor -> pelvis (rows: pelvis x, y, z in sensor coordinates), right-handed.

    method: "guided", "auto" or "stored". sign_check: how the anterior sign was decided ("sitting",
    "walking", "assumed" or "stored"). axis_from: where the anterior axis came from ("walking" or
    "sitting"). walking_up: (3,) or None, the mean up vector while walking in this pelvis frame (a guided
    calibration measures it; walking is usually a few degrees anterior of neutral standing).
    """

    rotation: FloatArray
    method: str
    sign_check: str
    axis_from: str = "walking"
    walking_up: tuple[float, float, float] | None = None

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
            "axis_from": self.axis_from,
            "walking_up": None if self.walking_up is None else [float(v) for v in self.walking_up],
        }

    @staticmethod
    def from_dict(data: dict[str, Any]) -> Calibration:
        up = data.get("walking_up")
        return Calibration(
            rotation=np.array(data["rotation"], dtype=np.float64),
            method=str(data.get("method", "stored")),
            sign_check=str(data.get("sign_check", "stored")),
            axis_from=str(data.get("axis_from", "walking")),
            walking_up=None if up is None else (float(up[0]), float(up[1]), float(up[2])),
        )

    def walking_tilt_deg(self) -> float | None:
        """Where the pelvis sits while walking, relative to neutral standing, degrees, anterior positive (the
        tilt of :attr:`walking_up` as :func:`pelvic_angles` measures it); None when walking was not measured."""
        if self.walking_up is None:
            return None
        return math.degrees(math.asin(max(-1.0, min(1.0, -float(self.walking_up[0])))))

    def angles_deg(self) -> tuple[float, float, float]:
        """The rotation as intrinsic z-y'-x'' angles (a, b, c) in degrees: ``rotation = Rz(a) @ Ry(b) @ Rx(c)``
        (the simulator's ``mounting_deg`` convention)."""
        r = self.rotation
        a = math.degrees(math.atan2(r[1, 0], r[0, 0]))
        b = math.degrees(math.asin(max(-1.0, min(1.0, -r[2, 0]))))
        c = math.degrees(math.atan2(r[2, 1], r[2, 2]))
        return a, b, c


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


def _weighted_mean_up(features: EpochFeatures, mask: BoolArray) -> FloatArray:
    weights = features.count[mask].astype(np.float64)
    return _unit((features.up[mask] * weights[:, None]).sum(axis=0))


def walking_mask(features: EpochFeatures) -> BoolArray:
    """Epochs that look like walking for calibration purposes: complete and moving."""
    mask: BoolArray = (features.coverage > 0.8) & (features.acc_norm_std > WALKING_ACC_STD)
    return mask


def still_mask(features: EpochFeatures) -> BoolArray:
    """Complete epochs with a steady accelerometer and little rotation."""
    gyro_rms = np.sqrt(np.trace(features.gyro_cov, axis1=1, axis2=2))
    mask: BoolArray = (features.coverage > 0.8) & (features.acc_norm_std < STILL_ACC_STD) & (gyro_rms < STILL_GYRO_RMS)
    return mask


def _window(features: EpochFeatures, window: tuple[float, float]) -> BoolArray:
    inside: BoolArray = (features.t >= window[0] - 1e-9) & (features.t + 1.0 <= window[1] + 1e-9)
    return inside


def neutral_vertical(features: EpochFeatures, start_s: float, end_s: float) -> FloatArray | None:
    """Mean gravity direction over the still epochs wholly inside ``[start_s, end_s)`` (recording seconds).

    At rest the vertical is the accelerometer's direction alone: the mean accelerometer of those epochs, not
    the orientation filter's output, which in the first seconds after power-on still carries the unknown gyro
    bias (a neutral taken then would offset the whole recording). None when fewer than
    :data:`MIN_NEUTRAL_EPOCHS` still epochs are inside.
    """
    inside = _window(features, (start_s, end_s)) & still_mask(features) & (features.count > 0)
    if int(inside.sum()) < MIN_NEUTRAL_EPOCHS:
        return None
    weights = features.count[inside].astype(np.float64)
    return _unit((features.acc_mean[inside] * weights[:, None]).sum(axis=0))


def sitting_like(features: EpochFeatures, vertical: FloatArray) -> BoolArray:
    """Still epochs whose gravity direction is 12–60° from ``vertical``: sitting or reclined postures."""
    angle = np.degrees(np.arccos(np.clip(features.up @ vertical, -1.0, 1.0)))
    mask: BoolArray = still_mask(features) & (angle > 12.0) & (angle < 60.0)
    return mask


def sitting_direction(features: EpochFeatures, vertical: FloatArray) -> FloatArray | None:
    """Horizontal (perpendicular to ``vertical``) mean shift of the up vector in sitting-like epochs.

    The pelvis rotates posteriorly when sitting, so this points toward +anterior. None when there are fewer
    than :data:`MIN_SITTING_EPOCHS` sitting-like epochs or the shift is small (< 0.1, about 6°).
    """
    sitting = sitting_like(features, vertical)
    if int(sitting.sum()) < MIN_SITTING_EPOCHS:
        return None
    p = np.eye(3) - np.outer(vertical, vertical)
    shift: FloatArray = p @ (features.up[sitting] - vertical).mean(axis=0)
    if float(np.linalg.norm(shift)) < 0.1:
        return None
    return shift


@dataclass(frozen=True)
class ForwardAxis:
    """axis: (3,) unit, sensor frame, anterior; sign_check, axis_from: see :class:`Calibration`.
    ap_ratio: walking PCA eigenvalue ratio (NaN without walking)."""

    axis: FloatArray
    sign_check: str
    axis_from: str
    ap_ratio: float


def walking_axis(features: EpochFeatures, vertical: FloatArray, walking: BoolArray) -> tuple[FloatArray, float, float]:
    """Principal horizontal walking axis (unit, unsigned), its eigenvalue ratio and the walking sign cue.

    The sign cue is ``-axis @ cov @ vertical`` (positive when ``axis`` points anterior).
    """
    p = np.eye(3) - np.outer(vertical, vertical)
    cov = features.acc_cov[walking].sum(axis=0)
    eigval, eigvec = np.linalg.eigh(p @ cov @ p)
    axis = _unit(p @ eigvec[:, 2])
    ratio = float(eigval[2] / max(eigval[1], 1e-12))
    return axis, ratio, float(-(axis @ cov @ vertical))


def forward_axis(
    features: EpochFeatures, vertical: FloatArray, walking: BoolArray, *, sitting_from: EpochFeatures | None = None
) -> ForwardAxis | None:
    """Anterior axis (unit, sensor frame, perpendicular to ``vertical``) with how it was found.

    ``walking`` selects the walking epochs of ``features``; the sitting check looks at ``sitting_from``
    (default: ``features``). None when neither walking nor sitting gives an axis.
    """
    shift = sitting_direction(sitting_from if sitting_from is not None else features, vertical)
    n_walking = int(walking.sum())
    if n_walking >= MIN_WALKING_EPOCHS:
        axis, ratio, cue = walking_axis(features, vertical, walking)
        if shift is not None:
            agreement = float(axis @ shift) / float(np.linalg.norm(shift))
            if ratio >= MIN_AP_RATIO and abs(agreement) >= MIN_AXIS_AGREEMENT:
                return ForwardAxis(math.copysign(1.0, agreement) * axis, "sitting", "walking", ratio)
            return ForwardAxis(_unit(shift), "sitting", "sitting", ratio)
        if ratio < MIN_AP_RATIO:
            return None  # anteroposterior and mediolateral sway too alike, and no sitting to tell
        if cue == 0.0:
            return ForwardAxis(axis, "assumed", "walking", ratio)
        return ForwardAxis(math.copysign(1.0, cue) * axis, "walking", "walking", ratio)
    if shift is not None:
        return ForwardAxis(_unit(shift), "sitting", "sitting", math.nan)
    return None


def from_axes(
    vertical: FloatArray,
    forward: FloatArray,
    method: str,
    sign_check: str,
    *,
    axis_from: str = "walking",
    walking_up: FloatArray | None = None,
) -> Calibration:
    """A calibration from the vertical and anterior directions (sensor frame); ``walking_up`` is the mean
    walking up vector in the sensor frame (stored in pelvis coordinates)."""
    z = _unit(vertical)
    x = _unit(forward - (forward @ z) * z)
    y = np.cross(z, x)
    rotation = np.vstack([x, y, z])
    walk = None
    if walking_up is not None:
        w = rotation @ _unit(walking_up)
        walk = (float(w[0]), float(w[1]), float(w[2]))
    return Calibration(rotation, method, sign_check, axis_from, walk)


def _rotation_between(a: FloatArray, b: FloatArray) -> FloatArray:
    """The smallest rotation taking unit vector ``a`` to unit vector ``b`` (Rodrigues)."""
    v = np.cross(a, b)
    c = float(a @ b)
    s = float(np.linalg.norm(v))
    if s < 1e-12:
        return np.eye(3)
    k = v / s
    kx = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    out: FloatArray = np.eye(3) + s * kx + (1.0 - c) * (kx @ kx)
    return out


def calibrate_guided(
    features: EpochFeatures, neutral: tuple[float, float], *, walk: tuple[float, float] | None = None
) -> Calibration:
    """Guided calibration: neutral standing in ``neutral`` (start_s, end_s), walking in ``walk`` (or anywhere).

    The sitting sign check looks at the whole of ``features``. Raises :class:`CalibrationError`.
    """
    vertical = neutral_vertical(features, *neutral)
    where = f"{neutral[0]:g}:{neutral[1]:g} s"
    if vertical is None:
        inside = int(_window(features, neutral).sum())
        raise CalibrationError(
            f"no neutral standing found in {where}: {inside} epochs inside, fewer than {MIN_NEUTRAL_EPOCHS} of "
            "them still",
            hint="give a window in which the wearer stood still and upright for at least 3 s",
        )
    walking = walking_mask(features)
    if walk is not None:
        walking &= _window(features, walk)
    n_walking = int(walking.sum())
    if n_walking < MIN_WALKING_EPOCHS and sitting_direction(features, vertical) is None:
        span = "in the walking window" if walk is not None else "in the recording"
        raise CalibrationError(
            f"too few steps {span}: {n_walking} s of walking found, at least {MIN_WALKING_EPOCHS} s "
            "(about 10 steps) are needed for the forward direction",
            hint="give a window (--walk START:END) with at least 10 steps of straight walking",
        )
    walking_up = _weighted_mean_up(features, walking) if n_walking >= MIN_WALKING_EPOCHS else None
    if walking_up is not None:
        off = math.degrees(math.acos(min(1.0, float(walking_up @ vertical))))
        if off > 30.0:
            raise CalibrationError(
                f"the standing in {where} is {off:.0f}° from the walking vertical: it does not look like "
                "neutral standing on the same mounting",
                hint="check the --neutral window (stand upright, still) and that the sensor was not moved",
            )
    found = forward_axis(features, vertical, walking)
    if found is None:
        raise CalibrationError(
            "the walking does not show a clear forward direction (sideways and forward sway alike) and there "
            "is no sitting to tell front from back",
            hint="walk straight ahead for 10 or more steps, or include some sitting in the recording",
        )
    return from_axes(vertical, found.axis, "guided", found.sign_check, axis_from=found.axis_from, walking_up=walking_up)


def calibrate_auto(
    features: EpochFeatures,
    *,
    walking_up: tuple[float, float, float] | None = None,
    neutral_up: FloatArray | None = None,
) -> Calibration:
    """Automatic calibration from walking bouts (vertical and forward) and sitting (sign).

    ``walking_up``: the walking up vector in the neutral pelvis frame known from an earlier guided
    calibration; the result is then rotated so that neutral standing stays the reference.
    ``neutral_up``: (3,) the standing vertical in the sensor frame read from sit-downs and stand-ups (a
    self-calibration); it becomes the vertical instead of the walking one (people do not all stand the way
    they walk), and the walking up vector is kept in ``walking_up``. Ignored when ``walking_up`` is given.
    Raises :class:`CalibrationError`.
    """
    walking = walking_mask(features)
    n_walking = int(walking.sum())
    if n_walking < MIN_WALKING_EPOCHS:
        raise CalibrationError(
            f"too few steps: {n_walking} s of walking found, at least {MIN_WALKING_EPOCHS} s (about 10 steps) "
            "are needed to calibrate automatically",
            hint="walk for a while, or calibrate on a neutral standing window",
        )
    vertical = _weighted_mean_up(features, walking)
    found = forward_axis(features, vertical, walking)
    if found is None:
        raise CalibrationError(
            "the walking does not show a clear forward direction and there is no sitting to tell front from back",
            hint="walk straight ahead for 10 or more steps",
        )
    if walking_up is None and neutral_up is not None:
        off = math.degrees(math.acos(min(1.0, float(_unit(neutral_up) @ vertical))))
        if off <= 30.0:
            return from_axes(
                _unit(neutral_up), found.axis, "auto", found.sign_check, axis_from=found.axis_from, walking_up=vertical
            )
    cal = from_axes(vertical, found.axis, "auto", found.sign_check, axis_from=found.axis_from)
    if walking_up is None:
        return cal
    # The auto frame has the walking vertical as z; rotate it so that walking sits where it did (neutral stays).
    offset = _rotation_between(np.array([0.0, 0.0, 1.0]), _unit(np.asarray(walking_up, dtype=np.float64)))
    return Calibration(offset @ cal.rotation, "auto", cal.sign_check, cal.axis_from, walking_up)


def upright_only(vertical: FloatArray, sign_check: str) -> Calibration:
    """A calibration that knows the standing vertical (sensor frame) but not the anterior axis: it tells
    upright from lying and sitting down from standing up, not the tilt. ``method`` is ``"upright"``;
    ``sign_check`` says where the vertical came from (``"posture"``: sit-downs and stand-ups, ``"assumed"``:
    the first rest taken as standing). The x axis is an arbitrary horizontal."""
    z = _unit(np.asarray(vertical, dtype=np.float64))
    helper = np.array([1.0, 0.0, 0.0]) if abs(float(z[0])) < 0.9 else np.array([0.0, 1.0, 0.0])
    return from_axes(z, helper, "upright", sign_check, axis_from="none")


def calibrate(
    features: EpochFeatures,
    *,
    neutral: tuple[float, float] | None = None,
    walk: tuple[float, float] | None = None,
) -> Calibration | None:
    """Calibrate from epoch features: guided when ``neutral`` (start_s, end_s) is given, else automatic.

    Returns None when the data cannot give a calibration (see :func:`calibrate_guided` for the reasons).
    """
    try:
        if neutral is not None:
            return calibrate_guided(features, neutral, walk=walk)
        return calibrate_auto(features)
    except CalibrationError:
        return None


# ---------------------------------------------------------------------------------------------------------
# Steps and words


#: Steps of straight walking a guided walking window needs.
MIN_WALK_STEPS = 10


def count_steps(acc: FloatArray, rate_hz: float, vertical: FloatArray) -> int:
    """Steps in ``acc`` (n, 3) m/s², sensor frame: peaks of the vertical acceleration (low-passed at 5 Hz)
    above 1 m/s², at least 0.3 s apart."""
    from scipy.signal import butter, find_peaks, sosfiltfilt

    if acc.shape[0] < int(rate_hz):
        return 0
    a = acc @ _unit(vertical) - STANDARD_GRAVITY
    sos = butter(2, min(5.0, 0.45 * rate_hz), fs=rate_hz, output="sos")
    peaks, _ = find_peaks(sosfiltfilt(sos, a), height=1.0, distance=max(1, int(0.3 * rate_hz)))
    return int(peaks.size)


_DIRECTIONS = ("forward", "backward", "left", "right", "up", "down")
_PELVIS_DIRS = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0, 0, -1]], dtype=np.float64)
_BELT_PLACES = {"forward": "the front", "backward": "the back", "left": "the left side", "right": "the right side"}


def _nearest(v: FloatArray) -> tuple[str, float]:
    cos = _PELVIS_DIRS @ v
    i = int(np.argmax(cos))
    return _DIRECTIONS[i], math.degrees(math.acos(min(1.0, float(cos[i]))))


def describe_mounting(calibration: Calibration) -> str:
    """Where the sensor sits on the belt, in words, from the direction its axes point on the body.

    The place assumes the sensor's +z face points away from the body (as for most devices, display or logo
    out): a sensor whose +z points forward is on the front of the belt.
    """
    r = calibration.rotation  # columns: sensor axes in pelvis coordinates
    parts = []
    for j, name in enumerate("xyz"):
        direction, off = _nearest(r[:, j])
        parts.append(f"+{name} points {direction}" + (f" ({off:.0f}° off)" if off >= 10.0 else ""))
    face = r[:, 2]
    horizontal = math.hypot(face[0], face[1])
    if horizontal < 0.5:
        place = "lying flat (its +z face points " + ("up" if face[2] > 0 else "down") + "), not on a belt side"
    else:
        around = math.degrees(math.atan2(face[1], face[0]))  # 0 front, +90 left
        direction, _ = _nearest(np.array([face[0], face[1], 0.0]) / horizontal)
        place = f"on {_BELT_PLACES[direction]} of the belt ({around:+.0f}° around it from the front, left positive)"
    return f"sensor {place}; {', '.join(parts)}"
