"""Non-wear: a sensor on a table or on its charger is not a wearer sitting or lying still.

A worn sensor always moves a little: postural sway, breathing, fidgets. A sensor put down keeps its
orientation to within a fraction of a degree and shows nothing but its own noise. An epoch is *motionless*
when the spread of |acc| and the gyro RMS are at the level of sensor noise; a run of motionless epochs whose
gravity direction stays within ``drift_deg`` of where it started is non-wear once it has lasted more than
``after_s`` (an hour by default, as in the accelerometry literature, e.g. Troiano et al. 2008), or sooner,
after ``implausible_after_s``, when the sensor is upside down relative to the wearer's pelvis, which no worn
posture gives. Non-wear lasts until the sensor moves.

The rule is causal: the first ``after_s`` of a run keep whatever the classifier said; from then on the epochs
are ``unknown``.

>>> det = NonWearDetector(after_s=2.0)
>>> up = (0.0, 0.0, 1.0)
>>> [det.update(present=True, acc_std=0.01, gyro_rms=0.005, up=up, incl_deg=90.0) for _ in range(5)]
[False, False, True, True, True]
>>> det.update(present=True, acc_std=0.5, gyro_rms=0.4, up=up, incl_deg=90.0)
False
"""

from __future__ import annotations

import math

from processing.stage import SnapshotState


class NonWearDetector(SnapshotState):
    """Streaming non-wear detector fed one epoch at a time (see the module docstring).

    acc_std: |acc| standard deviation below which an epoch is motionless, m/s².
    gyro_rms: gyro RMS about the epoch's mean below which it is motionless, rad/s.
    drift_deg: how far the gravity direction may wander over the run, degrees.
    after_s: motionless seconds before the sensor counts as not worn.
    implausible_deg, implausible_after_s: when the pelvis' superior axis is more than ``implausible_deg`` from
    vertical (upside down), the sensor counts as not worn after ``implausible_after_s`` motionless seconds.
    """

    def __init__(
        self,
        *,
        acc_std: float = 0.04,
        gyro_rms: float = 0.02,
        drift_deg: float = 0.5,
        after_s: float = 3600.0,
        implausible_deg: float = 120.0,
        implausible_after_s: float = 60.0,
    ) -> None:
        if not (after_s > 0 and implausible_after_s > 0):
            raise ValueError("after_s and implausible_after_s must be > 0")
        self.acc_std = acc_std
        self.gyro_rms = gyro_rms
        self.cos_drift = math.cos(math.radians(drift_deg))
        self.after_s = after_s
        self.implausible_deg = implausible_deg
        self.implausible_after_s = implausible_after_s
        self.reset()

    def reset(self) -> None:
        """Forget the motionless run."""
        self._anchor: tuple[float, float, float] | None = None
        self._still_s = 0.0
        self._upside_down_s = 0.0

    def update(
        self,
        *,
        present: bool,
        acc_std: float,
        gyro_rms: float,
        up: tuple[float, float, float],
        incl_deg: float,
    ) -> bool:
        """Advance by one epoch; True when the sensor is not worn in it. An absent epoch (gap) keeps the run."""
        if not present:
            return self._still_s > self.after_s or self._upside_down_s > self.implausible_after_s
        motionless = acc_std < self.acc_std and gyro_rms < self.gyro_rms
        if motionless and self._anchor is not None:
            a = self._anchor
            motionless = a[0] * up[0] + a[1] * up[1] + a[2] * up[2] >= self.cos_drift
        if not motionless:
            self._anchor = None
            self._still_s = 0.0
            self._upside_down_s = 0.0
            if acc_std < self.acc_std and gyro_rms < self.gyro_rms:
                self._anchor = up  # turned slowly while motionless: a new run starts here
                self._still_s = 1.0
            return False
        if self._anchor is None:
            self._anchor = up
        self._still_s += 1.0
        self._upside_down_s = self._upside_down_s + 1.0 if incl_deg > self.implausible_deg else 0.0
        return self._still_s > self.after_s or self._upside_down_s > self.implausible_after_s

    def finish(self) -> None:
        """The end of the stream: nothing is held back (each epoch is decided as it comes)."""
