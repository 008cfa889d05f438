"""The posture check-up's measures (``hipsense assess``): pelvic-tilt range of motion, sitting, standing up.

The wearer stands in neutral, tips the pelvis fully forward, then fully back, sits, and stands up
(:data:`PHASES`). From the check-up's epoch features and the phases' windows, :func:`measure` calibrates on
its own neutral standing (so it holds whatever the sensor's mounting that day) and gives the furthest anterior
and posterior tilt, the tilt while sitting, the time to stand up after the prompt and, with a stored
calibration, where today's neutral lies relative to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from processing.calibration import Calibration, CalibrationError, calibrate_guided, pelvic_angles
from processing.features import EpochFeatures
from processing.samples import FloatArray

BoolArray = NDArray[np.bool_]

#: The check-up's phases: (name, seconds, what the wearer is asked to do).
PHASES: tuple[tuple[str, float, str], ...] = (
    ("neutral", 20.0, "Stand still, upright and relaxed, looking ahead"),
    ("anterior", 15.0, "Tip your pelvis fully forward (arch your low back) and hold it"),
    ("posterior", 15.0, "Tuck your pelvis fully back (flatten your low back) and hold it"),
    ("sit", 30.0, "Sit down on a chair and sit relaxed"),
    ("stand", 20.0, "Stand up, and stand still"),
)
#: Seconds at the start of a phase left out (moving into the posture).
SETTLE_S = 3.0
#: Standing up is over when the tilt stays within this of neutral, degrees, for STEADY_EPOCHS epochs.
STAND_TOLERANCE_DEG = 5.0
STEADY_EPOCHS = 3


@dataclass(frozen=True)
class Measures:
    """What a check-up measures, degrees of pelvic tilt (anterior positive) and seconds.

    neutral_deg: today's neutral standing from the stored calibration's neutral (None without one);
    anterior_max_deg, posterior_max_deg: the furthest tilt forward and back from the check-up's own neutral;
    sitting_deg: the median tilt while sitting (None if not measured); sit_to_stand_s: seconds from the prompt
    to standing steadily near neutral (None if not seen).
    """

    neutral_deg: float | None
    anterior_max_deg: float
    posterior_max_deg: float
    sitting_deg: float | None
    sit_to_stand_s: float | None

    @property
    def range_deg(self) -> float:
        return self.anterior_max_deg - self.posterior_max_deg


def timeline(at: float = 0.0) -> dict[str, tuple[float, float]]:
    """The phases' windows on the fixed timeline starting at ``at`` s.

    >>> timeline()["sit"]
    (50.0, 80.0)
    """
    windows = {}
    t = at
    for name, seconds, _ in PHASES:
        windows[name] = (t, t + seconds)
        t += seconds
    return windows


def measure(
    features: EpochFeatures, windows: dict[str, tuple[float, float]], *, stored: Calibration | None = None
) -> Measures:
    """The check-up's measures from its epoch features and phase windows (s). Raises CalibrationError."""
    n0, n1 = windows["neutral"]
    neutral = (n0 + min(2.0, (n1 - n0) / 4), n1 - min(2.0, (n1 - n0) / 4))
    cal = calibrate_guided(features, neutral)
    tilt, _ = pelvic_angles(features.up, cal)
    usable = (features.coverage >= 0.5) & np.isfinite(tilt)

    def phase(name: str, settle: float = SETTLE_S) -> FloatArray:
        lo, hi = windows[name]
        inside = usable & (features.t >= lo + min(settle, (hi - lo) / 2)) & (features.t + 1.0 <= hi)
        return tilt[inside]

    anterior, posterior = phase("anterior"), phase("posterior")
    for name, values in (("anterior", anterior), ("posterior", posterior)):
        if values.size == 0:
            lo, hi = windows[name]
            raise CalibrationError(
                f"no usable epochs in the {name} phase ({lo:g}:{hi:g} s)",
                hint="check the phase windows (--at, or --anterior/--posterior START:END) against the recording",
            )
    sitting = phase("sit")
    neutral_deg = None
    if stored is not None:
        ref, _ = pelvic_angles(features.up, stored)
        inside = usable & (features.t >= neutral[0]) & (features.t + 1.0 <= neutral[1])
        neutral_deg = float(np.median(ref[inside])) if inside.any() else None
    return Measures(
        neutral_deg=neutral_deg,
        anterior_max_deg=float(np.max(anterior)),
        posterior_max_deg=float(np.min(posterior)),
        sitting_deg=float(np.median(sitting)) if sitting.size else None,
        sit_to_stand_s=stand_up_s(features.t, tilt, usable, windows["stand"]),
    )


def stand_up_s(t: FloatArray, tilt: FloatArray, usable: BoolArray, window: tuple[float, float]) -> float | None:
    """Seconds from the prompt (the window's start) to the first of :data:`STEADY_EPOCHS` epochs near neutral
    (within :data:`STAND_TOLERANCE_DEG`); None if that never happens in the window.

    t: (m,) epoch starts, s; tilt: (m,) degrees from the check-up's neutral; usable: (m,) bool.

    >>> t = np.arange(10.0)
    >>> tilt = np.array([-20.0, -20.0, -12.0, -4.0, -2.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    >>> stand_up_s(t, tilt, np.ones(10, bool), (1.0, 10.0))
    2.0
    """
    lo, hi = window
    idx = np.flatnonzero((t >= lo) & (t + 1.0 <= hi))
    near = usable[idx] & (np.abs(tilt[idx]) <= STAND_TOLERANCE_DEG)
    for j in range(len(idx) - STEADY_EPOCHS + 1):
        if near[j : j + STEADY_EPOCHS].all():
            return float(t[idx[j]] - lo)
    return None
