"""Mounting over time: calibrate, detect a moved or re-clipped sensor, re-calibrate (streaming, per epoch).

:class:`MountingTracker` turns 1 s epoch features into pelvic tilt and obliquity with a calibration flag. It
starts from a known (stored or guided) calibration, or calibrates itself once there is enough walking. While
calibrated, it watches for evidence that the sensor now sits differently on the body:

- **walking vertical**: the mean up vector over the last ``walk_epochs`` walking epochs (inside bouts), in the
  pelvis frame, is more than ``max_vertical_deg`` from where walking sat at calibration
  (``Calibration.walking_up``, else vertical). 20° by default: on the real HAPT recordings, climbing stairs
  moves the walking vertical by up to 19°;
- **walking direction**: the principal horizontal axis of the last ``forward_epochs`` walking epochs' acceleration
  covariance is clearly defined (eigenvalue ratio >= ``forward_ratio``) and more than ``max_forward_deg`` from
  the calibrated anterior axis (a sensor moved around the belt keeps its vertical but not its forward axis);
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
    MIN_SITTING_EPOCHS,
    Calibration,
    CalibrationError,
    calibrate_auto,
    calibrate_guided,
    pelvic_angles,
    still_mask,
    walking_mask,
)
from processing.features import EpochFeatures
from processing.samples import FloatArray

BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class ReclipParams:
    """Detection and re-calibration parameters (angles in degrees, counts in 1 s epochs).

    bout_epochs: a walking epoch counts for the walking checks from the ``bout_epochs``-th epoch of a run on.
    walk_epochs, max_vertical_deg: walking-vertical check. forward_epochs, forward_ratio, max_forward_deg:
    walking-direction check. implausible_epochs, max_obliquity_deg: impossible-posture check.
    calibrate_walking_epochs: walking epochs gathered before an automatic (re-)calibration is tried, and
    again after each further ``retry_walking_epochs`` while it fails. window_epochs: most epochs kept for it.
    """

    walk_epochs: int = 10
    bout_epochs: int = 5
    max_vertical_deg: float = 20.0
    forward_epochs: int = 30
    forward_ratio: float = 2.0
    max_forward_deg: float = 45.0
    implausible_epochs: int = 30
    max_obliquity_deg: float = 30.0
    calibrate_walking_epochs: int = 20
    retry_walking_epochs: int = 10
    window_epochs: int = 3600

    def __post_init__(self) -> None:
        for name in ("walk_epochs", "bout_epochs", "forward_epochs", "implausible_epochs", "calibrate_walking_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"ReclipParams {name} must be >= 1")
        if self.retry_walking_epochs < 1 or self.window_epochs < self.calibrate_walking_epochs:
            raise ValueError("ReclipParams retry_walking_epochs must be >= 1 and window_epochs large enough")
        for name in ("max_vertical_deg", "max_forward_deg", "max_obliquity_deg"):
            if not 0.0 < getattr(self, name) < 180.0:
                raise ValueError(f"ReclipParams {name} must be in (0, 180) degrees")


@dataclass(frozen=True)
class ReclipEvent:
    """The sensor was moved: detected at ``t_detected`` (epoch start, s) by ``reason`` ("walking vertical",
    "walking direction" or "posture"); ``t_onset``: first epoch start, s, that may already be wrong."""

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
    calibration_index (m,) int, index into ``calibrations`` (-1 uncalibrated), so a stage that needs the
    rotation per epoch can look it up; events in time order."""

    tilt_deg: FloatArray
    obliquity_deg: FloatArray
    calibrated: BoolArray
    calibration_index: IntArray
    calibrations: list[Calibration]
    events: list[ReclipEvent | CalibrationEvent] = field(default_factory=list)


def _angle_deg(a: FloatArray, b: FloatArray) -> FloatArray:
    """Angles (n,) between rows of ``a`` (n, 3) and unit vector ``b`` (3,) (rows need not be unit)."""
    cos = (a @ b) / np.maximum(np.linalg.norm(a, axis=1), 1e-12)
    out: FloatArray = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    return out


def _rolling_sum(prev: FloatArray, new: FloatArray, n: int) -> tuple[FloatArray, IntArray]:
    """Sums over the last ``n`` rows at each row of ``new``, with ``prev`` (the rows before) as history.

    Returns sums (len(new), ...) and how many rows each sum covers.
    """
    joined = np.concatenate([prev, new])
    c = np.concatenate([np.zeros((1, *joined.shape[1:])), np.cumsum(joined, axis=0)])
    end = np.arange(len(prev) + 1, len(joined) + 1)
    start = np.maximum(end - n, 0)
    sums: FloatArray = c[end] - c[start]
    return sums, (end - start).astype(np.int64)


class MountingTracker:
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
        self._walking_up_hint = None if self.initial is None else self.initial.walking_up
        self._guided_done = self.initial is not None
        self._reset_checks(t=-math.inf)
        self._pending: list[EpochFeatures] = []
        self._pending_len = 0
        self._pending_walking = 0
        self._next_try = self.params.calibrate_walking_epochs
        self._first_t: float | None = None
        self._provisional: list[EpochFeatures] = []
        self._provisional_sitting = 0

    def _reset_checks(self, t: float) -> None:
        self._walk_up = np.empty((0, 3))  # last walking up vectors, sensor frame
        self._walk_cov = np.empty((0, 3, 3))  # last walking acceleration covariances, sensor frame
        self._implausible_run = 0
        self._walk_run = 0
        self._last_ok_t = t

    # -- public ---------------------------------------------------------------------------------------

    def update(self, features: EpochFeatures) -> MountingOutput:
        m = len(features)
        tilt = np.full(m, np.nan)
        obliquity = np.full(m, np.nan)
        index = np.full(m, -1, dtype=np.int64)
        events: list[ReclipEvent | CalibrationEvent] = []
        if self._first_t is None and m:
            self._first_t = float(features.t[0])
        i = 0
        while i < m:
            if self.calibration is None:
                i = self._feed_uncalibrated(features, i, events)
                continue
            j, event = self._check(features, i)
            refine = self._refine_index(features, i, j)
            if refine is not None:
                j, event = refine + 1, None
            part = features.select(slice(i, j))
            tilt[i:j], obliquity[i:j] = pelvic_angles(part.up, self.calibration)
            index[i:j] = len(self.calibrations) - 1
            if refine is not None:
                self._refine(features.t[refine], events)
            if event is not None:
                events.append(event)
                self.calibration = None
                self._provisional = []
                self._next_try = self.params.calibrate_walking_epochs
            i = j
        present = features.count > 0
        tilt[~present] = np.nan
        obliquity[~present] = np.nan
        return MountingOutput(tilt, obliquity, index >= 0, index, list(self.calibrations), events)

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
        window = EpochFeatures.concat(self._provisional[-self.params.window_epochs :])
        self._provisional, self._provisional_sitting = [], 0
        try:
            cal = calibrate_auto(window, walking_up=self._walking_up_hint)
        except CalibrationError:
            return
        if cal.sign_check != "sitting":
            return
        self.calibration = cal
        self.calibrations.append(cal)
        events.append(CalibrationEvent(float(t) + 1.0, cal))

    # -- uncalibrated: gather epochs until a calibration succeeds -----------------------------------------

    def _feed_uncalibrated(self, features: EpochFeatures, i: int, events: list[ReclipEvent | CalibrationEvent]) -> int:
        rest = features.select(slice(i, None))
        walking_count = self._pending_walking + np.cumsum(walking_mask(rest))
        ready = walking_count >= self._next_try
        if self.neutral is not None and not self._guided_done:
            ready &= rest.t + 1.0 >= self.neutral[1]
        k = int(np.argmax(ready)) if ready.any() else -1
        if k < 0:
            self._keep(rest, int(walking_count[-1]) if len(rest) else self._pending_walking)
            return len(features)
        self._keep(rest.select(slice(0, k + 1)), int(walking_count[k]))
        window = EpochFeatures.concat(self._pending)
        try:
            if self.neutral is not None and not self._guided_done:
                cal = calibrate_guided(window, self.neutral)
            else:
                cal = calibrate_auto(window, walking_up=self._walking_up_hint)
        except CalibrationError:
            self._next_try = self._pending_walking + self.params.retry_walking_epochs
            return i + k + 1
        self._guided_done = True
        self.calibration = cal
        if cal.walking_up is not None:
            self._walking_up_hint = cal.walking_up
        self.calibrations.append(cal)
        events.append(CalibrationEvent(float(rest.t[k]), cal))
        if cal.method == "auto" and cal.sign_check != "sitting":
            self._provisional, self._provisional_sitting = [window], 0
        self._pending, self._pending_len, self._pending_walking = [], 0, 0
        self._reset_checks(t=float(rest.t[k]))
        return i + k  # epoch k is output with the new calibration

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

    def _check(self, features: EpochFeatures, i: int) -> tuple[int, ReclipEvent | None]:
        assert self.calibration is not None
        p = self.params
        cal = self.calibration
        rot = cal.rotation
        rest = features.select(slice(i, None))
        n = len(rest)
        expected = np.array(cal.walking_up if cal.walking_up is not None else (0.0, 0.0, 1.0))
        candidates: list[tuple[int, str, float]] = []

        # walking inside a bout only (the 5th and later epochs of a run): postural transitions and short bursts
        # of movement also have a large |acc| spread, with the pelvis far from upright
        walk_run = _run_lengths(walking_mask(rest), self._walk_run)
        walking = np.flatnonzero(walk_run >= p.bout_epochs)
        w_up = rest.up[walking]
        if walking.size:
            # walking vertical: rolling mean of the last walk_epochs walking up vectors (sensor frame)
            sums, covered = _rolling_sum(self._walk_up, w_up, p.walk_epochs)
            angle = _angle_deg(sums @ rot.T, expected)
            bad = (covered >= p.walk_epochs) & (angle > p.max_vertical_deg)
            if bad.any():
                b = int(np.argmax(bad))
                candidates.append((int(walking[b]), "walking vertical", float(angle[b])))
            if cal.axis_from == "walking":
                cov_sums, covered_f = _rolling_sum(self._walk_cov, rest.acc_cov[walking], p.forward_epochs)
                pel = rot @ cov_sums @ rot.T
                h = pel[:, :2, :2]
                eigval, eigvec = np.linalg.eigh(h)
                ratio = eigval[:, 1] / np.maximum(eigval[:, 0], 1e-12)
                off = np.degrees(np.arccos(np.clip(np.abs(eigvec[:, 0, 1]), 0.0, 1.0)))
                bad_f = (covered_f >= p.forward_epochs) & (ratio >= p.forward_ratio) & (off > p.max_forward_deg)
                if bad_f.any():
                    b = int(np.argmax(bad_f))
                    candidates.append((int(walking[b]), "walking direction", float(off[b])))

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
        self._walk_run = int(walk_run[stop - 1]) if stop > 0 else self._walk_run
        self._walk_up = np.concatenate([self._walk_up, w_up[keep_w]])[-p.walk_epochs :]
        self._walk_cov = np.concatenate([self._walk_cov, rest.acc_cov[walking[keep_w]]])[-p.forward_epochs :]
        if still.size:
            run_all = _run_lengths(implausible, self._implausible_run)
            before = still < stop
            self._implausible_run = int(run_all[before][-1]) if before.any() else self._implausible_run
        if candidates:
            t_detected = float(rest.t[stop])
            first = self._first_t if self._first_t is not None else t_detected
            onset = min(max(self._last_ok_t + 1.0, first), t_detected)
            event = ReclipEvent(t_detected, onset, reason, angle_deg)
            self._reset_checks(t=t_detected)
        return i + stop, event


def _run_lengths(flags: BoolArray, carry: int) -> IntArray:
    """Length of the run of True ending at each position, continuing a run of ``carry`` before it."""
    n = flags.size
    idx = np.arange(n)
    last_false = np.maximum.accumulate(np.where(~flags, idx, -1))
    run = idx - last_false
    run = np.where(last_false < 0, run + carry, run)
    out: IntArray = np.where(flags, run, 0).astype(np.int64)
    return out
