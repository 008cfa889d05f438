"""The pipeline: samples -> epoch features -> calibration, tilt, activity, bouts, alerts.

Live, replay and analyze all run this code. :class:`Pipeline` is the streaming form (``update(chunk)``);
``analyze`` runs the two stages apart so that it may calibrate from the whole recording first:
:class:`~processing.features.FeatureExtractor` over all samples, :func:`~processing.calibration.calibrate`,
then :class:`PostureTracker` over the epochs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Any

import numpy as np
from numpy.typing import NDArray

from processing.activity import ACTIVITIES, LYING, SITTING, ActivityClassifier, ActivityParams
from processing.alerts import Alert, AlertParams, AlertRules
from processing.bouts import Bout, BoutTracker
from processing.calibration import Calibration
from processing.clock import LocalClock
from processing.days import DayTotals
from processing.exercise import ExerciseBout, ExerciseDetector
from processing.features import EpochFeatures, FeatureExtractor, UpEstimator
from processing.gravity import make_up_estimator
from processing.reclip import MountingTracker, ReclipEvent, ReclipParams
from processing.samples import FloatArray, Samples
from processing.stage import SnapshotState

BoolArray = NDArray[np.bool_]
Int8Array = NDArray[np.int8]

#: Mounting states per epoch (``Epochs.mounting``).
MOUNTING = ("calibrated", "calibrating", "in doubt")
CALIBRATED, CALIBRATING, IN_DOUBT = range(3)

#: The wall-clock time assumed at t = 0 when a recording has no ``start``.
DEFAULT_START = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class PipelineParams:
    """rate_hz: nominal sample rate, Hz. wearer: id used in alert ids.
    start: wall-clock time at t = 0 s of the stream (aware); None assumes 2000-01-01 00:00 UTC.
    tz: the wearer's time zone for days and alerts (None: the offset of ``start``).
    neutral: (start_s, end_s) seconds of neutral standing for guided calibration, or None.
    calibration: a known calibration (stored or computed beforehand) to start with.
    """

    rate_hz: float
    wearer: str = "me"
    start: datetime | None = None
    tz: tzinfo | None = None
    neutral: tuple[float, float] | None = None
    calibration: Calibration | None = None
    activity: ActivityParams = field(default_factory=ActivityParams)
    alerts: AlertParams = field(default_factory=AlertParams)
    #: Epochs of features kept for online calibration (bounded memory), 1 per second.
    calibration_window_epochs: int = 3600

    def __post_init__(self) -> None:
        if not 1.0 <= self.rate_hz <= 2000.0:
            raise ValueError(f"rate_hz={self.rate_hz} is outside 1..2000 Hz")
        if self.start is not None and self.start.tzinfo is None:
            raise ValueError("start must be an aware datetime (with a UTC offset)")
        if self.neutral is not None and not self.neutral[0] < self.neutral[1]:
            raise ValueError("neutral window must have start < end")


@dataclass(frozen=True, slots=True)
class Epochs:
    """1 s epochs. t: (m,) epoch start, s; activity: (m,) int8 codes into ACTIVITIES; tilt_deg: (m,) degrees,
    anterior positive, NaN where undefined; obliquity_deg: (m,) degrees, left side up positive;
    calibrated: (m,) bool; sitting_bout_s: (m,) length of the sitting bout in progress, s;
    sitting_today_s: (m,) sitting so far on the epoch's local day, s.
    mounting: (m,) int8 codes into :data:`MOUNTING`: ``calibrated``; ``calibrating`` (no calibration yet, or
    only the standing vertical: the activity may be known, the tilt is not); ``in doubt`` (the sensor moved
    on the belt: between the estimated moment and a new calibration every column is unknown: activity
    ``unknown``, no tilt or obliquity, not calibrated). neutral_confidence: (m,) 0..1, how sure the standing
    neutral is (:class:`processing.activity.StandingNeutral`; 0 without a calibration).
    Lying epochs keep their tilt, but it is not a standing or sitting posture: check ``activity``.
    """

    t: FloatArray
    activity: Int8Array
    tilt_deg: FloatArray
    obliquity_deg: FloatArray
    calibrated: BoolArray
    sitting_bout_s: FloatArray
    sitting_today_s: FloatArray
    mounting: Int8Array | None = None
    neutral_confidence: FloatArray | None = None

    def __post_init__(self) -> None:
        n = self.t.shape[0]
        if self.mounting is None:  # made by hand: calibrated where calibrated, else calibrating
            object.__setattr__(self, "mounting", np.where(self.calibrated, CALIBRATED, CALIBRATING).astype(np.int8))
        if self.neutral_confidence is None:
            object.__setattr__(self, "neutral_confidence", np.zeros(n))

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @staticmethod
    def concat(parts: list[Epochs]) -> Epochs:
        if not parts:
            return _empty_epochs()
        return Epochs(*(np.concatenate([getattr(p, n) for p in parts]) for n in Epochs.__slots__))

    def mark_in_doubt(self, start_s: float, end_s: float) -> None:
        """Epochs starting in [start_s, end_s) had a mounting in doubt (a re-clip's onset to its detection):
        every column says so (activity unknown, no tilt or obliquity, not calibrated). In place."""
        assert self.mounting is not None and self.neutral_confidence is not None
        moved = (self.t >= start_s) & (self.t < end_s)
        self.activity[moved] = 0
        self.tilt_deg[moved] = np.nan
        self.obliquity_deg[moved] = np.nan
        self.calibrated[moved] = False
        self.mounting[moved] = IN_DOUBT
        self.neutral_confidence[moved] = 0.0

    def mounting_names(self) -> list[str]:
        assert self.mounting is not None
        return [MOUNTING[m] for m in self.mounting.tolist()]


def _empty_epochs() -> Epochs:
    f = np.empty(0)
    return Epochs(f, np.empty(0, np.int8), f, f, np.empty(0, bool), f, f, np.empty(0, np.int8), f)


@dataclass(frozen=True)
class PipelineOutput:
    epochs: Epochs
    alerts: list[Alert]
    bouts: list[Bout]
    exercise: list[ExerciseBout] = field(default_factory=list)


class PostureTracker(SnapshotState):
    """Stage two: epoch features -> calibration, tilt, activity, bouts, day totals and alerts (streaming).

    The streaming contract (:mod:`processing.stage`): ``update(features)``, ``finish()``, ``reset()``,
    ``snapshot()`` / ``restore()``; :meth:`continue_day` continues a stored day after a restart.
    """

    def __init__(self, params: PipelineParams) -> None:
        self.params = params
        self.reset()

    def reset(self) -> None:
        """Forget the stream: every stage, the days, the re-clips (the state of a new stream)."""
        params = self.params
        self.mounting = MountingTracker(
            calibration=params.calibration,
            neutral=params.neutral,
            params=ReclipParams(window_epochs=params.calibration_window_epochs),
        )
        self.clock = LocalClock(params.start or DEFAULT_START, params.tz)
        self.start = self.clock.start
        self.tz = self.clock.tz
        self.bouts = BoutTracker()
        self.rules = AlertRules(params.alerts, params.wearer)
        self.activity = ActivityClassifier(params.activity)
        self.days: dict[date, DayTotals] = defaultdict(DayTotals)
        self.reclips: list[ReclipEvent] = []
        self.exercise = ExerciseDetector()
        self._mounting_id: int | None = None
        self._in_doubt = False  # a re-clip was detected and no calibration has been found since
        #: confidence (0..1) in the standing neutral at the last epoch (see processing.activity.StandingNeutral)
        self.neutral_confidence = 0.0

    @property
    def calibration(self) -> Calibration | None:
        """The calibration in force (None until the tracker could calibrate)."""
        return self.mounting.calibration

    def local_time(self, t: float) -> datetime:
        return self.clock.local(t)

    def update(self, features: EpochFeatures) -> PipelineOutput:
        m = len(features)
        if m == 0:
            return PipelineOutput(_empty_epochs(), [], [])
        mount = self.mounting.update(features)
        tilt = mount.tilt_deg.copy()
        obliquity = mount.obliquity_deg.copy()
        calibrated = mount.calibrated.copy()
        present = features.coverage >= self.params.activity.min_coverage
        tilt[~present] = np.nan
        obliquity[~present] = np.nan
        tilt[~calibrated] = np.nan
        obliquity[~calibrated] = np.nan
        activity = np.zeros(m, dtype=np.int8)
        neutral_confidence = np.zeros(m)
        index = mount.calibration_index
        # calibrations in the order they apply (the indices only grow within a chunk)
        for ci in np.unique(index).tolist():
            if ci < 0:
                continue
            sel = index == ci
            cal = mount.calibrations[ci]
            same = self._mounting_id is not None and mount.mounting_ids[ci] == self._mounting_id
            trusted = not mount.unconfirmed[ci]
            if self.params.activity.hindsight and cal.method == "auto" and cal is not self.activity.calibration:
                # A batch (analyze): a first look over it gives the standing neutral the day shows, as a prior.
                probe = ActivityClassifier(self.params.activity)
                probe.update(features.select(sel), tilt[sel], cal, tilt_trusted=trusted)
                self.activity.neutral_hint = (probe.neutral.estimate_deg, 2.0 * probe.neutral.confidence)
            activity[sel] = self.activity.update(
                features.select(sel), tilt[sel], cal, same_mounting=same, tilt_trusted=trusted
            )
            self._mounting_id = mount.mounting_ids[ci]
            neutral_confidence[sel] = self.activity.neutral_confidence
            if cal.method == "auto":  # a self-calibration: the tilt is relative to the standing learnt so far
                # (as far as it is sure of it: StandingNeutral.effective_deg)
                tilt[sel] -= self.activity.neutral_deg
        self.neutral_confidence = float(neutral_confidence[-1]) if m else self.neutral_confidence
        # Pelvic-tilt drills and glute bridges count as exercise on the day each bout starts.
        exercise = self.exercise.update(features.t, tilt, activity)
        for ex in exercise:
            self.days[self.clock.day(ex.start_s)].exercise_s += ex.duration_s
        bout_s = np.zeros(m)
        today_s = np.zeros(m)
        alerts: list[Alert] = []
        # Mounting per epoch. After a re-clip, until a calibration (even upright-only) is found again, the
        # mounting is in doubt: every column says unknown. (The epochs between its estimated onset and its
        # detection were output as they came; a whole-recording consumer may mark them with mark_in_doubt.)
        mounting = np.where(calibrated, CALIBRATED, CALIBRATING).astype(np.int8)
        detected = {e.t_detected for e in mount.events if isinstance(e, ReclipEvent)}
        for k in range(m):  # carried across batches until the mounting is known again
            if float(features.t[k]) in detected:
                self._in_doubt = True
            elif index[k] >= 0:
                self._in_doubt = False
            if self._in_doubt:
                mounting[k] = IN_DOUBT
        doubt = mounting == IN_DOUBT
        activity[doubt] = 0
        tilt[doubt] = np.nan
        obliquity[doubt] = np.nan
        calibrated[doubt] = False
        neutral_confidence[doubt | (index < 0)] = 0.0
        for event in mount.events:
            if isinstance(event, ReclipEvent):
                self.reclips.append(event)
                alerts += self.rules.recalibrate(t=event.t_detected, clock=self.clock, reason=event.reason)
        bouts: list[Bout] = []
        tilt_threshold = self.params.alerts.anterior_tilt_deg
        for i in range(m):
            t = float(features.t[i])
            a = int(activity[i])
            done = self.bouts.update(t, a)
            if done is not None:
                bouts.append(done)
            day = self.days[self.clock.day(t)]
            day.add_epoch(a, float(tilt[i]), tilt_threshold)
            bout_s[i] = self.bouts.current_s
            today_s[i] = day.seconds["sitting"]
            alerts.extend(
                self.rules.update(
                    t=t,
                    clock=self.clock,
                    activity=a,
                    tilt_deg=float(tilt[i]),
                    bout_s=bout_s[i],
                    sitting_today_s=today_s[i],
                    exercise_today_s=day.exercise_s + self.exercise.current_s,
                )
            )
        epochs = Epochs(
            features.t, activity, tilt, obliquity, calibrated, bout_s, today_s, mounting, neutral_confidence
        )
        return PipelineOutput(epochs, alerts, bouts, exercise)

    def continue_day(self, day: date, totals: DayTotals, *, recent_t: FloatArray, recent_activity: Int8Array) -> None:
        """Continue a day after a restart: ``totals`` are the local ``day``'s totals so far, and the epochs
        before this stream's start (``recent_t``: (n,) their starts on this stream's clock, s, negative;
        ``recent_activity``: (n,) codes into ACTIVITIES, in time order) rebuild the sitting bout in progress.
        Bouts they complete are not reported again (they are stored already). Call before the first update.
        """
        self.days[day] = totals
        for t, a in zip(recent_t.tolist(), recent_activity.tolist(), strict=True):
            self.bouts.update(float(t), int(a))
        self.bouts.completed.clear()

    def link(self, *, t: float, connected: bool, device: str = "") -> list[Alert]:
        """The sensor link went down or came back at stream time ``t``."""
        return self.rules.link(t=t, clock=self.clock, connected=connected, device=device)

    def battery(self, *, t: float, battery_pct: float) -> list[Alert]:
        return self.rules.battery(t=t, clock=self.clock, battery_pct=battery_pct)

    def tick(self, *, t: float, device: str = "") -> list[Alert]:
        """Time passes without samples (the sensor is away)."""
        return self.rules.tick(t=t, clock=self.clock, device=device)

    def finish(self) -> PipelineOutput:
        """The end of the stream: the sitting bout and the exercise bout in progress, closed (the exercise
        counted in its day)."""
        bout = self.bouts.finish()
        exercise = self.exercise.finish()
        for ex in exercise:
            self.days[self.clock.day(ex.start_s)].exercise_s += ex.duration_s
        return PipelineOutput(_empty_epochs(), [], [bout] if bout is not None else [], exercise)

    def log_exercise(self, day: date, seconds: float) -> None:
        """Exercise logged by hand (CLI or MQTT) counts toward the day, like detected exercise."""
        self.days[day].exercise_s += seconds


class Pipeline(SnapshotState):
    """The streaming pipeline: ``update(samples) -> PipelineOutput``; ``finish()`` at the end of a stream;
    ``reset()``; ``snapshot()`` / ``restore()`` (the streaming contract, :mod:`processing.stage`)."""

    def __init__(self, params: PipelineParams, *, up_estimator: UpEstimator | None = None) -> None:
        self.params = params
        self.features = FeatureExtractor(
            rate_hz=params.rate_hz, up_estimator=up_estimator or make_up_estimator(params.rate_hz)
        )
        self.tracker = PostureTracker(params)

    def update(self, samples: Samples) -> PipelineOutput:
        return self.tracker.update(self.features.update(samples))

    @property
    def clock(self) -> LocalClock:
        """Stream time <-> the wearer's local wall time."""
        return self.tracker.clock

    def local_time(self, t: float) -> datetime:
        """The wearer's local wall time at stream time ``t`` (s)."""
        return self.tracker.local_time(t)

    @property
    def sitting_bout_s(self) -> float:
        """The length of the sitting bout in progress, s (0 when not sitting)."""
        return self.tracker.bouts.current_s

    def continue_day(self, day: date, totals: DayTotals, *, recent_t: FloatArray, recent_activity: Int8Array) -> None:
        """Continue a stored day after a restart, before the first update (:meth:`PostureTracker.continue_day`):
        ``totals`` so far on the local ``day``; ``recent_t``: (n,) stream times of earlier epochs, s, negative;
        ``recent_activity``: (n,) their codes into ACTIVITIES (they rebuild the sitting bout in progress)."""
        self.tracker.continue_day(day, totals, recent_t=recent_t, recent_activity=recent_activity)

    def link(self, *, t: float, connected: bool, device: str = "") -> list[Alert]:
        """The sensor link went down (``connected=False``) or came back at stream time ``t`` (s): its alerts."""
        return self.tracker.link(t=t, connected=connected, device=device)

    def battery(self, *, t: float, battery_pct: float) -> list[Alert]:
        """The sensor's battery level (percent) read at stream time ``t`` (s): its alerts."""
        return self.tracker.battery(t=t, battery_pct=battery_pct)

    def tick(self, *, t: float, device: str = "") -> list[Alert]:
        """Time passes without samples (the sensor is away) up to stream time ``t`` (s): its alerts."""
        return self.tracker.tick(t=t, device=device)

    def log_exercise(self, day: date, seconds: float) -> None:
        """Exercise logged by hand (CLI or MQTT), ``seconds`` long, counts toward the local ``day``."""
        self.tracker.log_exercise(day, seconds)

    def alert_state(self, origin_s: float = 0.0) -> dict[str, Any]:
        """The alert rules' whole state as JSON-able data (:meth:`processing.alerts.AlertRules.state`), to keep
        across a restart. origin_s: the absolute time of stream t = 0 (Unix s), or 0 for stream times."""
        return self.tracker.rules.state(origin_s)

    def restore_alert_state(self, state: Mapping[str, Any], origin_s: float = 0.0) -> None:
        """Load :meth:`alert_state` (of this or an earlier version) before the first update; ``{}`` starts the
        rules afresh. ValueError or TypeError for a malformed state."""
        self.tracker.rules.restore(state, origin_s)

    def finish(self) -> PipelineOutput:
        """The end of the stream: the last epoch, and the bouts still open, closed."""
        out = self.tracker.update(self.features.finish())
        end = self.tracker.finish()
        return PipelineOutput(out.epochs, out.alerts + end.alerts, out.bouts + end.bouts, out.exercise + end.exercise)

    def reset(self) -> None:
        """Forget the stream (the state of a new one)."""
        self.features.reset()
        self.tracker.reset()


__all__ = [
    "ACTIVITIES",
    "LYING",
    "MOUNTING",
    "SITTING",
    "DayTotals",
    "Epochs",
    "Pipeline",
    "PipelineOutput",
    "PipelineParams",
    "PostureTracker",
]
