"""Unit guessing on the first stretch of a recording: acc in g or m/s², gyro in deg/s or rad/s."""

from __future__ import annotations

import math
import warnings

import numpy as np

from processing.errors import RecordingError, RecordingWarning
from processing.samples import STANDARD_GRAVITY
from sensor.recording.base import _RAD_PER_DEG, UNIT_PREFIX_S, FloatArray


def _decide_accel_unit(acc: FloatArray, requested: str, name: str) -> float:
    """Scale that turns the file's acc into m/s²."""
    if requested == "m/s2":
        return 1.0
    if requested == "g":
        return STANDARD_GRAVITY
    if requested != "auto":
        raise RecordingError(f"accel_unit={requested!r} is not one of auto, m/s2, g", hint="--accel-unit m/s2")
    with np.errstate(over="ignore"):  # absurd values decide nothing (they are dropped as rows later)
        med = float(np.median(np.linalg.norm(acc, axis=1)))
    if 5.0 <= med <= 20.0:
        return 1.0
    if 0.5 <= med <= 2.0:
        warnings.warn(
            f"{name}: accelerometer looks like it is in g (median |a| = {med:.2f}), not m/s²; converted to "
            f"m/s² (pass --accel-unit m/s2 to keep the values as they are)",
            RecordingWarning,
            stacklevel=3,
        )
        return STANDARD_GRAVITY
    raise RecordingError(
        f"{name}: cannot tell the accelerometer unit (median |a| over the first {UNIT_PREFIX_S:g} s is "
        f"{med:.3g}; expected about 9.8 m/s² or 1 g)",
        hint="pass --accel-unit m/s2 or --accel-unit g (accel_unit=...)",
    )


def _gyro_ratio(t: FloatArray, acc: FloatArray, gyro: FloatArray) -> tuple[float, float] | None:
    """Gyro angular speed / angular speed of the (low-passed) gravity direction, and the swept angle (rad).

    In rad/s the ratio is about 1 (or more: rotation about gravity is invisible to the accelerometer); in deg/s
    about 57 times larger. None when there are too few samples.
    """
    n = t.size
    if n < 10:
        return None
    dt = float(np.median(np.diff(t)))
    if not dt > 0:  # repeated timestamps (dropped later as duplicates): no time base to compare with
        return None
    win = max(1, round(0.25 / dt))
    if win > n:
        return None
    if n < 4 * win:
        return None
    c = np.cumsum(np.vstack([np.zeros((1, 3)), acc]), axis=0)
    low = (c[win:] - c[:-win]) / win
    u = low / np.maximum(np.linalg.norm(low, axis=1, keepdims=True), 1e-9)
    du = np.linalg.norm(np.diff(u, axis=0), axis=1)  # ~ angle per step
    centre = np.arange(du.size) + win // 2
    g = gyro[np.minimum(centre, n - 1)]
    uu = u[:-1]
    perp = g - np.sum(g * uu, axis=1, keepdims=True) * uu
    gyro_angle = np.linalg.norm(perp, axis=1) * np.diff(t[win - 1 :])[: du.size]
    swept = float(du.sum())
    if swept <= 0:
        return None
    # smooth the gyro over the same window so both see the same band
    return float(gyro_angle.sum() / swept), swept


def _decide_gyro_unit(t: FloatArray, acc_si: FloatArray, gyro: FloatArray, requested: str, name: str) -> float:
    """Scale that turns the file's gyro into rad/s."""
    if requested == "rad/s":
        return 1.0
    if requested == "deg/s":
        return _RAD_PER_DEG
    if requested != "auto":
        raise RecordingError(f"gyro_unit={requested!r} is not one of auto, rad/s, deg/s", hint="--gyro-unit rad/s")
    mag = np.linalg.norm(gyro, axis=1)
    p99 = float(np.percentile(mag, 99)) if mag.size else 0.0
    ratio = _gyro_ratio(t, acc_si, gyro)
    by_ratio: str | None = None
    if ratio is not None and ratio[1] >= 0.5:  # at least ~30° of tilting to compare
        by_ratio = "deg/s" if ratio[0] > math.sqrt(1 / _RAD_PER_DEG) * 1.0 else "rad/s"
    by_magnitude = "deg/s" if p99 > 20.0 else ("rad/s" if p99 < 5.0 else None)
    decided = by_ratio or by_magnitude
    if by_ratio and by_magnitude and by_ratio != by_magnitude:
        decided = None
    if decided is None:
        detail = f"99th percentile |w| = {p99:.3g}" + (f", gyro/tilt ratio {ratio[0]:.3g}" if ratio else "")
        raise RecordingError(
            f"{name}: cannot tell whether the gyroscope is in rad/s or deg/s ({detail})",
            hint="pass --gyro-unit rad/s or --gyro-unit deg/s (gyro_unit=...)",
        )
    if decided == "deg/s":
        why = f"gyro/tilt ratio {ratio[0]:.0f}" if by_ratio and ratio else f"99th percentile |w| = {p99:.3g}"
        warnings.warn(
            f"{name}: gyroscope looks like it is in deg/s ({why}), not rad/s; converted to rad/s "
            f"(pass --gyro-unit rad/s to keep the values as they are)",
            RecordingWarning,
            stacklevel=3,
        )
        return _RAD_PER_DEG
    return 1.0
