"""Mounting over time: calibrate, detect a moved or re-clipped sensor, re-calibrate (streaming, per epoch).

:class:`MountingTracker` turns 1 s epoch features into pelvic tilt and obliquity with a calibration flag. It
starts from a known (stored or guided) calibration, or calibrates itself once there is enough walking. While
calibrated, it watches for evidence that the sensor now sits differently on the body:

- **walking vertical**: the mean up vector over the last walking epochs (inside bouts), in the pelvis frame,
  is far from where walking sat at calibration (``Calibration.walking_up``, else vertical): more than
  ``quick_vertical_deg`` (40°) over the last ``quick_epochs`` (10), or more than ``max_vertical_deg`` (20°)
  over the last ``vertical_epochs`` (25), or ``anterior_vertical_deg`` (28°) when the drift is toward anterior
  tilt. The long window spans several bouts; stairs and slopes lean the walking pelvis forward: on the real
  HAPT recordings climbing stairs moves the 25-epoch walking vertical by up to 23°, toward anterior;
- **forward direction** (a sensor turned around the belt keeps its vertical but not its forward axis): two
  independent cues must both be more than ``max_forward_deg`` (45°) off the calibrated axes.
  *Turning*: while walking, a turn at yaw rate w accelerates the pelvis toward the inside of the turn,
  ``a = w z x v``, so ``sign(w) * a_horizontal`` points to +y (left) whatever the gait; the mean of these unit
  votes over the last ``turn_epochs`` walking epochs with |w| >= ``turn_rate`` must be coherent (resultant
  >= ``turn_coherence``). *Sitting*: in still, reclined epochs (12–60° from vertical: sitting, anterior or
  posterior tilt) the up vector moves along the anteroposterior axis; the axial mean over the last
  ``sit_epochs`` of them must be clear (>= ``sit_shift``, about 12°). The sitting cue alone is enough when it
  is more than ``sit_alone_deg`` (65°) off over the last ``sit_alone_epochs`` (30) reclined epochs (at most
  40° on HAPT, 39° on the simulated days; a sensor turned by 90° gives about 85°). The principal axis of the walking
  acceleration is not used here: lateral sway is as large as the forward one in many gaits (it made the
  false re-clips of the simulated days). The check waits while an automatic calibration awaits its
  sitting sign check. When both cues disagree with a calibration that neither ever confirmed (no agreeing
  turning estimate, no sitting estimate within ``agree_sit_deg``), the axis was wrong from the start, not
  moved: a walking principal axis can be 45° off (HAPT user 8 after a guided calibration). The anterior axis
  is then taken from the turns, keeping the vertical, as a refinement of the same mounting (no re-clip);
- **impossible posture**: ``implausible_epochs`` still epochs in a row that no wearer holds upright: obliquity
  beyond ``max_obliquity_deg`` while not lying, or the pelvis more than 120° from upright.

A re-clip done while connected shows up as a rotation the gyro measured, one done during a gap as a step in
the up vector; both end in one of the inconsistencies above once the wearer walks or settles. On detection
the tracker drops the calibration (epochs are uncalibrated from then on), reports a :class:`ReclipEvent`
with the estimated onset (just after the last walking epoch that was still consistent: the epochs between
onset and detection were output as calibrated, which a batch consumer may correct), and re-calibrates
automatically from the walking that follows, keeping the neutral-standing offset of the old calibration.

Chunk invariant: the result does not depend on how the epochs are split into ``update`` calls.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from processing.calibration import (
    MIN_AXIS_AGREEMENT,
    MIN_SITTING_EPOCHS,
    Calibration,
    CalibrationError,
    calibrate_auto,
    calibrate_guided,
    from_axes,
    pelvic_angles,
    still_mask,
    upright_only,
    walking_mask,
)
from processing.features import EpochFeatures
from processing.samples import STANDARD_GRAVITY, FloatArray
from processing.stage import SnapshotState
from processing.transitions import Transition, TransitionDetector, WalkSitRule, sit_stand_rests, stand_sit

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

_COS_10 = math.cos(math.radians(10.0))
_COS_3 = math.cos(math.radians(3.0))
#: Sit-downs straight from walking that count for the anterior sign: both integrations must show the drop (a
#: wrong sign lasts all day, a missed sit-down only delays the confirmation)
_SIGN_WALK_SIT = WalkSitRule(drop_m=0.2, min_turn_deg=4.0, confirm_m=0.1)


@dataclass(frozen=True)
class ReclipParams:
    """Detection and re-calibration parameters (angles in degrees, counts in 1 s epochs).

    bout_epochs: a walking epoch counts for the walking-vertical check from the ``bout_epochs``-th epoch of a
    run on. vertical_epochs, max_vertical_deg (anterior_vertical_deg for a drift toward anterior tilt),
    quick_epochs, quick_vertical_deg: walking-vertical check.
    max_forward_deg, turn_epochs, turn_rate (rad/s), turn_coherence (0..1), sit_epochs, sit_shift (sine of
    the shift), sit_alone_epochs, sit_alone_deg: forward-direction check. agree_sit_deg: a sitting estimate
    this close to the calibrated axis confirms it (as does any agreeing turning estimate); when both cues
    disagree with a calibration that neither ever confirmed, its anterior axis is corrected from the turns
    (the same mounting) instead of reporting a re-clip. implausible_epochs,
    max_obliquity_deg: impossible-posture check.
    calibrate_walking_epochs: walking epochs gathered before an automatic (re-)calibration is tried, and
    again after each further ``retry_walking_epochs`` while it fails. window_epochs: most epochs kept for it.
    posture_drop_m, posture_max_turn_deg, posture_min_shift_deg: self-calibration from postures before any
    walking: a movement between two rests that lowered (raised) the pelvis by ``posture_drop_m`` (m) or more
    and turned it by less than ``posture_max_turn_deg`` is a sit-down (stand-up), whatever the mounting; the
    rest on the standing side of it gives the standing vertical, and once the sitting rests lean back by
    ``posture_min_shift_deg`` on average, the direction they lean gives the anterior axis (full calibration).
    assume_standing: until the first sit-down or stand-up, the latest still rest is taken as standing
    (upright only: the activity is followed, the tilt stays unknown) until it has been held for 5 s of
    rest; people clip the sensor on standing, and the first sit-down or stand-up corrects it. Not after a
    detected re-clip (the wearer may be sitting).
    """

    vertical_epochs: int = 25
    max_vertical_deg: float = 20.0
    anterior_vertical_deg: float = 28.0
    quick_epochs: int = 10
    quick_vertical_deg: float = 40.0
    bout_epochs: int = 5
    max_forward_deg: float = 45.0
    turn_epochs: int = 4
    turn_rate: float = 0.5
    turn_coherence: float = 0.6
    sit_epochs: int = 10
    sit_shift: float = 0.2
    sit_alone_epochs: int = 30
    sit_alone_deg: float = 65.0
    agree_sit_deg: float = 30.0
    implausible_epochs: int = 30
    max_obliquity_deg: float = 30.0
    calibrate_walking_epochs: int = 20
    retry_walking_epochs: int = 10
    window_epochs: int = 3600
    posture_drop_m: float = 0.15
    posture_max_turn_deg: float = 60.0
    posture_min_shift_deg: float = 6.0
    assume_standing: bool = True

    def __post_init__(self) -> None:
        counts = ["vertical", "quick", "bout", "turn", "sit", "sit_alone", "implausible", "calibrate_walking"]
        for name in (f"{c}_epochs" for c in counts):
            if getattr(self, name) < 1:
                raise ValueError(f"ReclipParams {name} must be >= 1")
        if self.retry_walking_epochs < 1 or self.window_epochs < self.calibrate_walking_epochs:
            raise ValueError("ReclipParams retry_walking_epochs must be >= 1 and window_epochs large enough")
        if not (self.turn_rate > 0.0 and 0.0 < self.turn_coherence <= 1.0 and 0.0 < self.sit_shift < 1.0):
            raise ValueError("ReclipParams turn_rate must be > 0, turn_coherence in (0, 1], sit_shift in (0, 1)")
        angles = (
            "max_vertical_deg", "anterior_vertical_deg", "quick_vertical_deg", "max_forward_deg", "sit_alone_deg",
            "agree_sit_deg",
        )  # fmt: skip
        for name in (*angles, "max_obliquity_deg"):
            if not 0.0 < getattr(self, name) < 180.0:
                raise ValueError(f"ReclipParams {name} must be in (0, 180) degrees")


@dataclass(frozen=True)
class ReclipEvent:
    """The sensor was moved: detected at ``t_detected`` (epoch start, s) by ``reason`` ("walking vertical",
    "forward direction" or "posture"); ``t_onset``: first epoch start, s, that may already be wrong."""

    t_detected: float
    t_onset: float
    reason: str
    angle_deg: float


@dataclass(frozen=True)
class CalibrationEvent:
    """A calibration was found at epoch start ``t`` (s) and applies from that epoch on."""

    t: float
    calibration: Calibration


@dataclass(frozen=True)
class MountingOutput:
    """Per epoch: tilt_deg, obliquity_deg (m,) degrees (NaN where uncalibrated); calibrated (m,) bool;
    calibration_index (m,) int, index into ``calibrations`` (-1 when not even the vertical is known), so a
    stage that needs the rotation per epoch can look it up; an uncalibrated epoch with an index >= 0 has an
    *upright-only* calibration (method ``"upright"``: the standing vertical, no anterior axis, no tilt);
    events in time order."""

    tilt_deg: FloatArray
    obliquity_deg: FloatArray
    calibrated: BoolArray
    calibration_index: IntArray
    calibrations: list[Calibration]
    events: list[ReclipEvent | CalibrationEvent] = field(default_factory=list)
    #: per calibration, the mounting it belongs to (two calibrations with the same id are refinements of one
    #: mounting; a detected re-clip starts a new id)
    mounting_ids: list[int] = field(default_factory=list)
    #: per calibration: found in this stream with an anterior sign from walking only, not yet confirmed by a
    #: sit-down or stand-up (the tilt may be mirrored: it should not decide postures)
    unconfirmed: list[bool] = field(default_factory=list)


def _angle_deg(a: FloatArray, b: FloatArray) -> FloatArray:
    """Angles (n,) between rows of ``a`` (n, 3) and unit vector ``b`` (3,) (rows need not be unit)."""
    cos = (a @ b) / np.maximum(np.linalg.norm(a, axis=1), 1e-12)
    out: FloatArray = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return out


def _rolling_sum(prev: FloatArray, new: FloatArray, n: int) -> tuple[FloatArray, IntArray]:
    """Sums over the last ``n`` rows at each row of ``new``, with ``prev`` (the rows before) as history.

    Returns sums (len(new), ...) and how many rows each sum covers. Each sum adds its own window's rows in order
    (zeros before the stream's first row), so the result does not depend on how the stream was cut into chunks,
    to the last bit (a difference of cumulative sums would).
    """
    rows = new.shape[0]
    joined = np.concatenate([np.zeros((n - 1, *new.shape[1:])), prev, new])
    first = prev.shape[0]  # the window of new row j is joined[first + j : first + j + n]
    sums: FloatArray = joined[first : first + rows].copy()
    for k in range(1, n):
        sums += joined[first + k : first + k + rows]
    end = np.arange(len(prev) + 1, len(prev) + rows + 1)
    start = np.maximum(end - n, 0)
    return sums, (end - start).astype(np.int64)


class MountingTracker(SnapshotState):
    """Streaming calibration state over epoch features: ``update(features) -> MountingOutput``.

    calibration: a known calibration to start with (stored or guided), or None to calibrate itself.
    neutral: (start_s, end_s) of neutral standing for a first, guided calibration (used when ``calibration``
    is None); the tracker waits until the window has passed and there is walking.
    """

    def __init__(
        self,
        *,
        calibration: Calibration | None = None,
        neutral: tuple[float, float] | None = None,
        params: ReclipParams | None = None,
    ) -> None:
        self.params = params or ReclipParams()
        self.initial = calibration
        self.neutral = neutral
        self.reset()

    def reset(self) -> None:
        self.calibration: Calibration | None = self.initial
        self.calibrations: list[Calibration] = [] if self.initial is None else [self.initial]
        #: per calibration, the mounting it belongs to (counts the re-clips detected before it)
        self.mounting_ids: list[int] = [0] * len(self.calibrations)
        #: per calibration: its anterior sign came from walking in this stream and is not confirmed yet
        self.unconfirmed: list[bool] = [False] * len(self.calibrations)
        self._mounting = 0
        self._walking_up_hint = None if self.initial is None else self.initial.walking_up
        self._guided_done = self.initial is not None
        self._reset_checks(t=-math.inf)
        self._moved = False  # a re-clip was detected: the first rest after it is not assumed to be standing
        self._pending: list[EpochFeatures] = []
        self._pending_len = 0
        self._pending_walking = 0
        self._next_try = self.params.calibrate_walking_epochs
        self._first_t: float | None = None
        self._provisional: list[EpochFeatures] = []
        self._provisional_sitting = 0
        self._reset_posture()

    def _reset_posture(self) -> None:
        """Self-calibration from postures (before any walking): see :class:`ReclipParams`."""
        self._upright: Calibration | None = None  # upright-only calibration in force
        self._upright_index = -1
        self._posture_det = TransitionDetector(max_epochs=8)
        self._stand_sum = np.zeros(3)  # standing verticals read at sit-downs and stand-ups (sensor frame)
        self._shift_sum = np.zeros(3)  # sitting minus standing up vectors
        self._posture_n = 0
        self._last_up: FloatArray | None = None
        self._quiet_run = 0
        self._walk_run_u = 0
        self._held = 0  # rest epochs seen on the assumed vertical (after 5 it is kept until a transition)
        self._settling = False  # the assumed vertical was taken from a rest that moved by more than 3°

    def _reset_checks(self, t: float) -> None:
        self._walk_up = np.empty((0, 3))  # last walking up vectors, sensor frame
        self._turn_votes = np.empty((0, 2))  # last turn votes for +y, pelvis frame
        self._sit_votes = np.empty((0, 2))  # last reclined horizontal up vectors, doubled angle, pelvis frame
        self._turn_off = (False, 0.0)  # latest clear turn estimate: off by more than max_forward_deg, angle
        self._sit_off = (False, 0.0)
        self._sit_alone_off = (False, 0.0)
        self._implausible_run = 0
        self._walk_run = 0
        self._last_ok_t = t
        self._turn_ok_t = t
        self._agreed = False  # a clear turning (sitting) estimate has agreed with this calibration (closely)
        self._sit_ok_t = t

    # -- public ---------------------------------------------------------------------------------------

    def finish(self) -> MountingOutput:
        """The end of the stream: nothing is held back (an output without epochs)."""
        return self.update(EpochFeatures.concat([]))

    def update(self, features: EpochFeatures) -> MountingOutput:
        m = len(features)
        tilt = np.full(m, np.nan)
        obliquity = np.full(m, np.nan)
        index = np.full(m, -1, dtype=np.int64)
        calibrated = np.zeros(m, dtype=bool)
        events: list[ReclipEvent | CalibrationEvent] = []
        if self._first_t is None and m:
            self._first_t = float(features.t[0])
        i = 0
        while i < m:
            if self.calibration is None:
                i = self._feed_uncalibrated(features, i, events, index)
                continue
            j, event, turned = self._check(features, i)
            refine = self._refine_index(features, i, j)
            if refine is not None:
                j, event, turned = refine + 1, None, None
            part = features.select(slice(i, j))
            tilt[i:j], obliquity[i:j] = pelvic_angles(part.up, self.calibration)
            index[i:j] = len(self.calibrations) - 1
            if refine is not None:
                self._refine(features.t[refine], events)
            calibrated[i:j] = True
            if turned is not None:  # the same mounting, its anterior axis corrected from the turns
                self.calibration = turned
                self._add(turned)
                events.append(CalibrationEvent(float(features.t[j]), turned))
                self._reset_checks(t=float(features.t[j]))
            if event is not None:
                events.append(event)
                self.calibration = None
                self._provisional = []
                self._next_try = self.params.calibrate_walking_epochs
                self._reset_posture()
                self._moved = True
                self._mounting += 1
            i = j
        present = features.count > 0
        tilt[~present] = np.nan
        obliquity[~present] = np.nan
        return MountingOutput(
            tilt,
            obliquity,
            calibrated,
            index,
            list(self.calibrations),
            events,
            list(self.mounting_ids),
            list(self.unconfirmed),
        )

    # -- provisional: an automatic calibration whose sign came from walking waits for sitting to confirm it ----

    def _refine_index(self, features: EpochFeatures, i: int, j: int) -> int | None:
        """Index (< j) of the epoch at which enough sitting has been seen to re-check a provisional sign."""
        if not self._provisional or self.calibration is None:
            return None
        part = features.select(slice(i, j))
        z = self.calibration.rotation[2]
        angle = np.degrees(np.arccos(np.clip(part.up @ z, -1.0, 1.0)))
        sitting = still_mask(part) & (angle > 12.0) & (angle < 60.0)
        count = self._provisional_sitting + np.cumsum(sitting)
        ready = count >= MIN_SITTING_EPOCHS
        if not ready.any():
            self._provisional.append(part)
            self._provisional_sitting = int(count[-1]) if len(part) else self._provisional_sitting
            return None
        k = int(np.argmax(ready))
        self._provisional.append(part.select(slice(0, k + 1)))
        return i + k

    def _refine(self, t: float, events: list[ReclipEvent | CalibrationEvent]) -> None:
        # the checks ran past this epoch (the chunk is cut here): start them again from the next epoch
        self._reset_checks(t=float(t))
        window = EpochFeatures.concat(self._provisional)
        window = window.select(slice(max(0, len(window) - self.params.window_epochs), None))
        assert self.calibration is not None
        # Sit-downs and stand-ups tell the sign; reclined rests alone do not: an anterior-tilted standing (up to
        # 18° on the simulator, more from the walking vertical of someone who stands anterior of their gait)
        # leans as far as a sitting, the other way. Rests alone gave the mirrored sign for 8 h on simulated
        # days (seed 1: walking, then 86 s standing 17° anterior). Without a sit-down or stand-up, keep waiting.
        cal = self._posture_sign(self.calibration, window)
        if cal.sign_check != "sitting":
            self._provisional, self._provisional_sitting = [window], 0
            return
        self._provisional, self._provisional_sitting = [], 0
        self.calibration = cal
        self._add(cal)
        events.append(CalibrationEvent(float(t) + 1.0, cal))

    # -- uncalibrated: gather epochs until a calibration succeeds -----------------------------------------

    def _feed_uncalibrated(
        self,
        features: EpochFeatures,
        i: int,
        events: list[ReclipEvent | CalibrationEvent],
        index: IntArray,
    ) -> int:
        rest = features.select(slice(i, None))
        walking_count = self._pending_walking + np.cumsum(walking_mask(rest))
        ready = walking_count >= self._next_try
        guided_first = self.neutral is not None and not self._guided_done
        if guided_first:
            assert self.neutral is not None
            ready &= rest.t + 1.0 >= self.neutral[1]
        k = int(np.argmax(ready)) if ready.any() else -1
        # Before walking: the postures (sit-downs, stand-ups, the first rest) calibrate, epoch by epoch.
        if not guided_first:
            last = k if k >= 0 else len(rest) - 1
            for e in range(last + 1):
                full = self._posture_step(rest, e)
                if full is not None:
                    self._calibrated(full, float(rest.t[e]), events)
                    return i + e  # the rest epoch after the transition is output with the new calibration
                index[i + e] = self._upright_index
        if k < 0:
            self._keep(rest, int(walking_count[-1]) if len(rest) else self._pending_walking)
            return len(features)
        self._keep(rest.select(slice(0, k + 1)), int(walking_count[k]))
        window = EpochFeatures.concat(self._pending)
        neutral_up = self._posture_vertical()
        if neutral_up is None and self._upright is not None and self._held >= 5:
            neutral_up = self._upright.rotation[2]  # the rest taken as standing (a weak guess the activity refines)
        try:
            if guided_first:
                assert self.neutral is not None
                cal = calibrate_guided(window, self.neutral)
            else:
                cal = calibrate_auto(window, walking_up=self._walking_up_hint, neutral_up=neutral_up)
        except CalibrationError:
            self._next_try = self._pending_walking + self.params.retry_walking_epochs
            return i + k + 1
        if cal.method == "auto" and cal.sign_check != "sitting":
            cal = self._posture_sign(cal, None)
        self._guided_done = True
        self._calibrated(cal, float(rest.t[k]), events)
        if cal.method == "auto" and cal.sign_check != "sitting":
            self._provisional, self._provisional_sitting = [window], 0
        return i + k  # epoch k is output with the new calibration

    def _calibrated(self, cal: Calibration, t: float, events: list[ReclipEvent | CalibrationEvent]) -> None:
        self.calibration = cal
        if cal.walking_up is not None:
            self._walking_up_hint = cal.walking_up
        self._add(cal)
        events.append(CalibrationEvent(t, cal))
        self._pending, self._pending_len, self._pending_walking = [], 0, 0
        self._reset_checks(t=t)
        self._reset_posture()

    def _posture_vertical(self) -> FloatArray | None:
        """The standing vertical (sensor frame) read from sit-downs and stand-ups so far, or None."""
        if self._posture_n == 0:
            return None
        out: FloatArray = self._stand_sum / np.linalg.norm(self._stand_sum)
        return out

    def _posture_step(self, part: EpochFeatures, e: int) -> Calibration | None:
        """Advance the posture self-calibration by epoch ``e`` of ``part``; a full calibration when one is found
        (it applies from the next epoch). May change the upright-only calibration (from epoch ``e`` on)."""
        p = self.params
        up = part.up[e]
        present = bool(part.coverage[e] >= 0.5) and bool(np.all(np.isfinite(up)))
        vert = np.nan if part.vert_acc is None else float(part.vert_acc[e])
        late = np.nan if part.vert_acc_late is None else float(part.vert_acc_late[e])
        if not present:
            self._posture_det.reset()
            self._last_up, self._quiet_run, self._walk_run_u = None, 0, 0
            return None
        gyro_rms = math.sqrt(max(float(np.trace(part.gyro_cov[e])), 0.0))
        acc_std = float(part.acc_norm_std[e])
        rest = acc_std < 0.3 and gyro_rms < 0.3
        quiet = acc_std < 0.1 and gyro_rms < 0.1
        steady = self._last_up is not None and float(up @ self._last_up) >= _COS_10
        self._walk_run_u = self._walk_run_u + 1 if acc_std > 0.9 and steady else 0
        # a rest within 10° of the second before: people settle into their standing at 3–5° a second after
        # clipping the sensor on (HAPT users 2 and 8), which a 3° rule left without a vertical for 1–2 s
        still = rest and steady
        settled = still and self._last_up is not None and float(up @ self._last_up) >= _COS_3
        self._quiet_run = self._quiet_run + 1 if still else 0
        self._last_up = up
        up3 = (float(up[0]), float(up[1]), float(up[2]))
        event = self._posture_det.update(
            float(part.t[e]), present=True, rest=rest, vert_acc=vert, vert_acc_late=late, incl_deg=0.0,
            tilt_deg=math.nan, up=up3, walking=self._walk_run_u >= 3, quiet=quiet,
        )  # fmt: skip
        if event is not None and self._posture_event(event):
            vertical = self._posture_vertical()
            assert vertical is not None
            shift = self._shift_sum - (self._shift_sum @ vertical) * vertical
            mean_shift = float(np.linalg.norm(shift)) / self._posture_n
            if mean_shift >= math.sin(math.radians(p.posture_min_shift_deg)):
                return from_axes(vertical, shift, "auto", "sitting", axis_from="sitting")
            self._set_upright(upright_only(vertical, "posture"))
        elif self._posture_n == 0 and p.assume_standing and not self._moved and self._quiet_run >= 1:
            # before any sit-down or stand-up, the rest is taken as standing: the latest one, once it differs
            # (a sensor handled before it is clipped on must not fix the vertical)
            # (a vertical taken while still settling is replaced once by the first rest steady within 3°)
            moved = self._upright is None or (self._held < 5 and float(up @ self._upright.rotation[2]) < _COS_10)
            if moved or (self._settling and settled):
                self._set_upright(upright_only(up, "assumed"))
                self._held = 0
                self._settling = not settled
            self._held += 1
        return None

    def _posture_event(self, event: Transition) -> bool:
        """Take a sit-down or stand-up into the standing vertical and the sitting shift; False if it is neither."""
        pair = _stand_sit(event, self.params)
        if pair is None:
            return False
        stand, sit = pair
        self._stand_sum += stand
        self._shift_sum += sit - stand
        self._posture_n += 1
        return True

    def _posture_sign(self, cal: Calibration, window: EpochFeatures | None) -> Calibration:
        """``cal`` with its anterior sign checked against the sit-downs and stand-ups seen (those gathered so far,
        or those in ``window``): the pelvis leans back when sitting. Unchanged when they do not tell."""
        if window is None:
            shift, n = self._shift_sum, self._posture_n
        else:
            shift, n = _posture_shift(window, self.params)
        z = cal.rotation[2]
        horizontal = shift - (shift @ z) * z
        if n == 0 or float(np.linalg.norm(horizontal)) / n < math.sin(math.radians(self.params.posture_min_shift_deg)):
            return cal
        return _signed_by(cal, horizontal, n)

    def _set_upright(self, cal: Calibration) -> None:
        self._upright = cal
        self._add(cal)
        self._upright_index = len(self.calibrations) - 1

    def _add(self, cal: Calibration) -> None:
        self.calibrations.append(cal)
        self.mounting_ids.append(self._mounting)
        # found in the stream with an anterior sign from walking only (awaiting a sit-down to confirm it)
        self.unconfirmed.append(cal.method == "auto" and cal.sign_check != "sitting")

    def _keep(self, part: EpochFeatures, walking_total: int) -> None:
        if len(part) == 0:
            return
        self._pending.append(part)
        self._pending_len += len(part)
        self._pending_walking = walking_total
        limit = self.params.window_epochs
        while self._pending_len - len(self._pending[0]) >= limit:
            dropped = self._pending.pop(0)
            self._pending_len -= len(dropped)
            self._pending_walking -= int(walking_mask(dropped).sum())
            self._next_try = max(self._pending_walking, 0) + self.params.retry_walking_epochs

    # -- calibrated: look for the first inconsistent epoch ------------------------------------------------

    def _check(self, features: EpochFeatures, i: int) -> tuple[int, ReclipEvent | None, Calibration | None]:
        """Epochs ``i:`` of ``features`` up to the first inconsistent one: returns its index (or the end), the
        re-clip found there, or instead the calibration with its anterior axis corrected (see
        :meth:`_turned`)."""
        assert self.calibration is not None
        p = self.params
        cal = self.calibration
        rot = cal.rotation
        rest = features.select(slice(i, None))
        n = len(rest)
        expected = np.array(cal.walking_up if cal.walking_up is not None else (0.0, 0.0, 1.0))
        candidates: list[tuple[int, str, float]] = []
        both_at = -1  # where both forward-direction cues disagree

        # walking inside a bout only (the 5th and later epochs of a run): postural transitions and short bursts
        # of movement also have a large |acc| spread, with the pelvis far from upright
        walk_run = _run_lengths(walking_mask(rest), self._walk_run)
        walking = np.flatnonzero(walk_run >= p.bout_epochs)
        w_up = rest.up[walking]
        if walking.size:
            # walking vertical: rolling means of the last walking up vectors (sensor frame), short and long
            for size, limit in ((p.quick_epochs, p.quick_vertical_deg), (p.vertical_epochs, p.max_vertical_deg)):
                sums, covered = _rolling_sum(self._walk_up, w_up, size)
                pelvis = sums @ rot.T
                angle = _angle_deg(pelvis, expected)
                # stairs and slopes lean the walking pelvis forward: more room for an anterior drift
                drift = pelvis / np.maximum(np.linalg.norm(pelvis, axis=1, keepdims=True), 1e-12) - expected
                anterior = (drift[:, 0] < 0.0) & (np.abs(drift[:, 1]) < -drift[:, 0])
                bad = (covered >= size) & (angle > np.where(anterior, max(limit, p.anterior_vertical_deg), limit))
                if bad.any():
                    b = int(np.argmax(bad))
                    candidates.append((int(walking[b]), "walking vertical", float(angle[b])))

        turn_at, turn_votes = _turn_votes(rest, rot, p.turn_rate)
        sit_at, sit_votes = _sit_votes(rest, rot)
        turn_state = _forward_state(
            turn_at, turn_votes, self._turn_votes, self._turn_off, n,
            size=p.turn_epochs, limit_deg=p.max_forward_deg, clear_at=p.turn_coherence, turning=True,
        )  # fmt: skip
        sit_state = _forward_state(
            sit_at, sit_votes, self._sit_votes[-p.sit_epochs :], self._sit_off, n,
            size=p.sit_epochs, limit_deg=p.max_forward_deg, clear_at=p.sit_shift, turning=False,
        )  # fmt: skip
        sit_alone = _forward_state(
            sit_at, sit_votes, self._sit_votes, self._sit_alone_off, n,
            size=p.sit_alone_epochs, limit_deg=p.sit_alone_deg, clear_at=p.sit_shift, turning=False,
        )  # fmt: skip
        if not self._provisional:
            both = turn_state.bad & sit_state.bad
            if both.any():
                both_at = b = int(np.argmax(both))
                candidates.append((b, "forward direction", float(turn_state.angle[b])))
            if sit_alone.bad.any():
                b = int(np.argmax(sit_alone.bad))
                candidates.append((b, "forward direction", float(sit_alone.angle[b])))

        still = np.flatnonzero(still_mask(rest) & (rest.count > 0))
        if still.size:
            _, obl = pelvic_angles(rest.up[still], cal)
            inclination = np.degrees(np.arccos(np.clip(rest.up[still] @ rot[2], -1.0, 1.0)))
            implausible = ((inclination < 50.0) & (np.abs(obl) > p.max_obliquity_deg)) | (inclination > 120.0)
            run = _run_lengths(implausible, self._implausible_run)
            bad_p = run >= p.implausible_epochs
            if bad_p.any():
                b = int(np.argmax(bad_p))
                candidates.append((int(still[b]), "posture", float(inclination[b])))

        stop = n
        event = None
        if candidates:
            stop, reason, angle_deg = min(candidates)
        # state up to (excluding) the detection epoch
        keep_w = walking < stop
        ok = _angle_deg(w_up[keep_w] @ rot.T, expected) <= p.max_vertical_deg
        if ok.any():
            self._last_ok_t = float(rest.t[walking[keep_w][ok][-1]])
        for state, name in ((turn_state, "_turn_ok_t"), (sit_state, "_sit_ok_t")):
            good = np.flatnonzero(state.valid[:stop] & ~state.bad[:stop])
            if good.size:
                setattr(self, name, float(rest.t[good[-1]]))
                if name == "_turn_ok_t":
                    self._agreed = True
        sat_close = sit_state.valid[:stop] & (sit_state.angle[:stop] < p.agree_sit_deg)
        self._agreed |= bool(sat_close.any())
        if stop > 0:
            self._walk_run = int(walk_run[stop - 1])
            self._turn_off = (bool(turn_state.bad[stop - 1]), float(turn_state.angle[stop - 1]))
            self._sit_off = (bool(sit_state.bad[stop - 1]), float(sit_state.angle[stop - 1]))
            self._sit_alone_off = (bool(sit_alone.bad[stop - 1]), float(sit_alone.angle[stop - 1]))
        keep = max(p.vertical_epochs, p.quick_epochs)
        self._walk_up = np.concatenate([self._walk_up, w_up[keep_w]])[-keep:]
        self._turn_votes = np.concatenate([self._turn_votes, turn_votes[turn_at < stop]])[-p.turn_epochs :]
        keep = max(p.sit_epochs, p.sit_alone_epochs)
        self._sit_votes = np.concatenate([self._sit_votes, sit_votes[sit_at < stop]])[-keep:]
        if still.size:
            run_all = _run_lengths(implausible, self._implausible_run)
            before = still < stop
            self._implausible_run = int(run_all[before][-1]) if before.any() else self._implausible_run
        if candidates and stop == both_at and not self._agreed:
            turned = self._turned(cal, np.concatenate([self._turn_votes, turn_votes[turn_at == stop]]))
            if turned is not None:
                return i + stop, None, turned
        if candidates:
            t_detected = float(rest.t[stop])
            first = self._first_t if self._first_t is not None else t_detected
            last_ok = min(self._turn_ok_t, self._sit_ok_t) if reason == "forward direction" else self._last_ok_t
            onset = min(max(last_ok + 1.0, first), t_detected)
            event = ReclipEvent(t_detected, onset, reason, angle_deg)
            self._reset_checks(t=t_detected)
        return i + stop, event, None

    def _turned(self, cal: Calibration, votes: FloatArray) -> Calibration | None:
        """``cal`` with its anterior axis taken from the turns (``votes``: the unit turn votes for +y, pelvis
        frame, the latest last), when neither the turning nor the sitting (within ``agree_sit_deg``) has agreed
        with ``cal`` since it was set: its axis was wrong from the start (a walking principal axis can be 45°
        off: HAPT user 8 after a guided calibration), not moved by a re-clip. The vertical (and so the tilt
        reference) is kept; None when ``cal`` has no anterior axis to correct."""
        if cal.method == "upright" or votes.shape[0] < self.params.turn_epochs:
            return None
        total = votes[-self.params.turn_epochs :].sum(axis=0)
        length = float(np.linalg.norm(total))
        if length < 1e-9:
            return None
        y = np.array([total[0], total[1], 0.0]) / length  # +y (left) in the old pelvis frame
        x_sensor = cal.rotation.T @ np.array([y[1], -y[0], 0.0])
        walking_up = None if cal.walking_up is None else cal.rotation.T @ np.array(cal.walking_up)
        return from_axes(cal.rotation[2], x_sensor, cal.method, "turning", axis_from="turning", walking_up=walking_up)


@dataclass(frozen=True)
class _ForwardState:
    """Per epoch of a chunk: the latest clear estimate of one forward-direction cue is ``bad`` (more than
    max_forward_deg off) at ``angle`` degrees; ``valid``: a clear estimate was made at this epoch."""

    bad: BoolArray
    angle: FloatArray
    valid: BoolArray


def _turn_votes(features: EpochFeatures, rot: FloatArray, min_rate: float) -> tuple[IntArray, FloatArray]:
    """Walking epochs that turn (|yaw rate| >= ``min_rate``) and their unit votes (k, 2) for +y, pelvis frame.

    The horizontal linear acceleration of a turn is ``w z x v``: with v forward, it points to +y (left) when
    turning left (w > 0) and to -y when turning right, so ``sign(w) * a / |a|`` estimates +y.
    """
    up = features.up
    yaw_rate = np.einsum("ij,ij->i", features.gyro_mean, up)
    linear = features.acc_mean - STANDARD_GRAVITY * up
    horizontal = linear - np.einsum("ij,ij->i", linear, up)[:, None] * up
    pelvis = (horizontal @ rot.T)[:, :2]
    norm = np.linalg.norm(pelvis, axis=1)
    turning = walking_mask(features) & (np.abs(yaw_rate) >= min_rate) & (norm > 1e-6)
    at = np.flatnonzero(turning)
    votes: FloatArray = np.sign(yaw_rate[at])[:, None] * pelvis[at] / norm[at, None]
    return at, votes


def _sit_votes(features: EpochFeatures, rot: FloatArray) -> tuple[IntArray, FloatArray]:
    """Still, reclined epochs (12–60° from the calibrated vertical) and the horizontal part of their up vector
    (pelvis frame) with its direction angle doubled (an axis, not a direction: anterior and posterior alike)."""
    u = features.up @ rot.T
    inclination = np.degrees(np.arccos(np.clip(u[:, 2], -1.0, 1.0)))
    at = np.flatnonzero(still_mask(features) & (features.count > 0) & (inclination > 12.0) & (inclination < 60.0))
    h = u[at, :2]
    norm = np.maximum(np.linalg.norm(h, axis=1), 1e-12)
    votes: FloatArray = np.stack([h[:, 0] ** 2 - h[:, 1] ** 2, 2.0 * h[:, 0] * h[:, 1]], axis=1) / norm[:, None]
    return at, votes


def _forward_state(
    at: IntArray,
    votes: FloatArray,
    history: FloatArray,
    carry: tuple[bool, float],
    n: int,
    *,
    size: int,
    limit_deg: float,
    clear_at: float,
    turning: bool,
) -> _ForwardState:
    """Rolling estimate of one forward-direction cue over its last votes, carried forward to every epoch."""
    sums, covered = _rolling_sum(history, votes, size)
    length = np.linalg.norm(sums, axis=1)
    mean = length / np.maximum(covered, 1)
    if turning:  # angle from +y; clear when the unit votes agree
        angle = np.degrees(np.arccos(np.clip(sums[:, 1] / np.maximum(length, 1e-12), -1.0, 1.0)))
    else:  # axial angle from x (halve the doubled angle); clear when the shift is large and consistent
        angle = np.abs(np.degrees(0.5 * np.arctan2(sums[:, 1], sums[:, 0])))
    clear = mean >= clear_at
    valid_at = at[(covered >= size) & clear]
    chosen = (covered >= size) & clear
    # forward fill: at each epoch, the latest clear estimate (or the carried one)
    last = np.full(n, -1, dtype=np.int64)
    last[valid_at] = np.arange(valid_at.size)
    last = np.maximum.accumulate(last)
    bad_v = angle[chosen] > limit_deg
    ang_v = angle[chosen]
    has = last >= 0
    bad = np.where(has, bad_v[np.maximum(last, 0)] if valid_at.size else False, carry[0])
    out_angle = np.where(has, ang_v[np.maximum(last, 0)] if valid_at.size else 0.0, carry[1])
    valid = np.zeros(n, dtype=bool)
    valid[valid_at] = True
    return _ForwardState(bad.astype(bool), out_angle.astype(np.float64), valid)


def _run_lengths(flags: BoolArray, carry: int) -> IntArray:
    """Length of the run of True ending at each position, continuing a run of ``carry`` before it."""
    n = flags.size
    idx = np.arange(n)
    last_false = np.maximum.accumulate(np.where(~flags, idx, -1))
    run = idx - last_false
    run = np.where(last_false < 0, run + carry, run)
    out: IntArray = np.where(flags, run, 0).astype(np.int64)
    return out


def _stand_sit(event: Transition, p: ReclipParams) -> tuple[FloatArray, FloatArray] | None:
    """(standing up vector, sitting up vector) of a sit-down or stand-up (sensor frame), or None."""
    pair = stand_sit(event, drop_m=p.posture_drop_m, max_turn_deg=p.posture_max_turn_deg)
    return None if pair is None else (np.array(pair[0]), np.array(pair[1]))


def _posture_shift(features: EpochFeatures, p: ReclipParams) -> tuple[FloatArray, int]:
    """Summed sitting-minus-standing up vectors (sensor frame) of the sit-downs and stand-ups in ``features``."""
    rests = sit_stand_rests(
        features, drop_m=p.posture_drop_m, max_turn_deg=p.posture_max_turn_deg, walk_sit=_SIGN_WALK_SIT
    )
    return np.array(rests.shift_sum), rests.n


def _signed_by(cal: Calibration, shift: FloatArray, n: int) -> Calibration:
    """``cal`` with its anterior axis signed (or, when it disagrees, replaced) by ``shift`` (3,), the summed
    sitting-minus-standing up vectors of ``n`` observations (sensor frame): the pelvis leans back when sitting,
    so the horizontal part of ``shift`` points anterior. ``walking_up`` follows the new frame."""
    z = cal.rotation[2]
    horizontal = shift - (shift @ z) * z
    if n == 0 or float(np.linalg.norm(horizontal)) < 1e-9:
        return cal
    cos = float(horizontal @ cal.rotation[0]) / float(np.linalg.norm(horizontal))
    if abs(cos) < MIN_AXIS_AGREEMENT:  # the walking axis is not the anteroposterior one: the lean is
        fresh = from_axes(z, horizontal, cal.method, "sitting", axis_from="sitting")
        walking_up = None
        if cal.walking_up is not None:  # the walking up vector, back to the sensor frame, then into the new one
            w = fresh.rotation @ (cal.rotation.T @ np.array(cal.walking_up))
            walking_up = (float(w[0]), float(w[1]), float(w[2]))
        return Calibration(fresh.rotation, cal.method, "sitting", "sitting", walking_up)
    flip = -1.0 if cos < 0.0 else 1.0
    rotation = cal.rotation * np.array([[flip], [flip], [1.0]])
    return Calibration(rotation, cal.method, "sitting", cal.axis_from, _flip_walking_up(cal.walking_up, flip))


def _flip_walking_up(walking_up: tuple[float, float, float] | None, flip: float) -> tuple[float, float, float] | None:
    if walking_up is None:
        return None
    return (flip * walking_up[0], flip * walking_up[1], walking_up[2])
