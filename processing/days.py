"""The arithmetic of a local day: wear, activity time, sitting bouts and breaks, pelvic tilt and exercise.

Every place that reports a day runs this code, so that ``analyze --summary``, ``batch`` (``days.csv``), the
history store and ``report`` never disagree:

- :class:`DayTotals` is the running total per day inside :class:`~processing.pipeline.PostureTracker` (live,
  replay and analyze; ``sitting_today_s`` and the daily alerts come from it);
- :class:`DayBuilder` turns one wearer's 1 s epochs, recording after recording in time order, into
  :class:`DayStats` per local day (``analyze --summary`` over one recording, ``batch`` over a study);
- :func:`summarize_day` is the summary of one day's epochs (the history store calls it for its day rows).

Definitions (seconds unless the name says otherwise):

- *wear*: epochs classified sitting, standing, walking or lying. *Non-wear*: the rest of the local day (23, 24 or
  25 h): no recording, non-wear detected, gaps, uncalibrated. A day is *valid* with ``min_wear_h`` of wear.
- *sitting bouts*: :class:`~processing.bouts.BoutTracker` (a break of 60 s of standing or walking ends a bout;
  bouts of at least 60 s count), on the day the bout starts; *long bouts* last ``long_bout_s`` or more.
- *breaks in sitting*: standing or walking epochs whose last known activity before them (unknown epochs are
  skipped, lying is not) was sitting; counted on the day of the standing epoch, per hour of sitting.
- *anterior tilt while standing*: standing epochs with tilt >= ``anterior_tilt_deg``.
- *median tilts*: the median epoch tilt over the day's standing and sitting epochs with a tilt.
- Recordings of one wearer *continue each other* when the next starts at most ``join_gap_s`` after the previous
  ends: a sitting bout and a break then run across the boundary; otherwise the bout in progress is closed.

>>> import numpy as np
>>> from datetime import UTC, datetime
>>> from processing.clock import LocalClock
>>> t = np.arange(7200.0)  # two hours of epochs from 08:00 UTC: sitting 1 h, standing 1 h at +12 degrees
>>> act = np.repeat(np.array([SITTING, STANDING], np.int8), 3600)
>>> tilt = np.where(act == SITTING, -20.0, 12.0)
>>> part = EpochDays.from_stream(LocalClock(datetime(2026, 1, 5, 8, tzinfo=UTC)), t, act, tilt)
>>> builder = DayBuilder(DayParams(min_wear_h=1.5))
>>> builder.update(part)
[]
>>> (day,) = builder.finish()
>>> day.wear_s, day.valid, day.bouts, day.longest_bout_s, day.breaks, day.anterior_tilt_standing_s
(7200.0, True, 1, 3600.0, 1, 3600.0)
>>> day.sitting_tilt_median_deg, day.nonwear_s
(-20.0, 79200.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta

import numpy as np
from numpy.typing import NDArray

from processing.activity import ACTIVITIES, SITTING, STANDING, UNKNOWN, WALKING
from processing.bouts import BoutTracker
from processing.clock import LocalClock
from processing.samples import FloatArray
from processing.stage import SnapshotState

Int8Array = NDArray[np.int8]
IntArray = NDArray[np.int64]

__all__ = [
    "DAY_STATS_FIELDS",
    "DayBuilder",
    "DayParams",
    "DayStats",
    "DayTotals",
    "EpochDays",
    "activity_seconds",
    "anterior_standing_s",
    "local_days",
    "summarize_day",
]


@dataclass
class DayTotals:
    """Running totals of one local day (streaming, one epoch at a time): seconds per activity, anterior tilt while
    standing and exercise, s."""

    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(ACTIVITIES, 0.0))
    exercise_s: float = 0.0
    anterior_tilt_standing_s: float = 0.0

    def add_epoch(self, activity: int, tilt_deg: float, anterior_tilt_deg: float) -> None:
        """Count one 1 s epoch: ``activity`` a code into ACTIVITIES, ``tilt_deg`` degrees (NaN if undefined)."""
        self.seconds[ACTIVITIES[activity]] += 1.0
        if activity == STANDING and tilt_deg >= anterior_tilt_deg:
            self.anterior_tilt_standing_s += 1.0


def activity_seconds(activity: Int8Array) -> dict[str, float]:
    """Seconds per activity name of 1 s epochs ``activity`` (m,) int8 codes into ACTIVITIES."""
    counts = np.bincount(activity.astype(np.int64), minlength=len(ACTIVITIES))
    return {name: float(counts[i]) for i, name in enumerate(ACTIVITIES)}


def anterior_standing_s(activity: Int8Array, tilt_deg: FloatArray, anterior_tilt_deg: float) -> float:
    """Seconds of standing with ``tilt_deg`` (m,) degrees >= ``anterior_tilt_deg`` (NaN never counts)."""
    with np.errstate(invalid="ignore"):
        return float(np.count_nonzero((activity == STANDING) & (tilt_deg >= anterior_tilt_deg)))


@dataclass(frozen=True)
class DayParams:
    """anterior_tilt_deg: tilt from which standing counts as anterior, degrees (the alert threshold).
    min_wear_h: wear hours that make a day valid. long_bout_s: sitting bouts of at least this count as long.
    join_gap_s: recordings of one wearer continue each other when the gap between them is at most this, s.
    """

    anterior_tilt_deg: float = 10.0
    min_wear_h: float = 10.0
    long_bout_s: float = 1800.0
    join_gap_s: float = 60.0

    def __post_init__(self) -> None:
        if not -90.0 < self.anterior_tilt_deg < 90.0:
            raise ValueError(f"anterior_tilt_deg={self.anterior_tilt_deg} is outside -90..90 degrees")
        if not 0.0 <= self.min_wear_h <= 25.0:
            raise ValueError(f"min_wear_h={self.min_wear_h} is outside 0..25 h")
        if not 60.0 <= self.long_bout_s <= 86400.0:
            raise ValueError(f"long_bout_s={self.long_bout_s} is outside 60..86400 s")
        if not 0.0 <= self.join_gap_s <= 86400.0:
            raise ValueError(f"join_gap_s={self.join_gap_s} is outside 0..86400 s")


@dataclass(frozen=True)
class DayStats:
    """One local day of one wearer, seconds unless the name says otherwise (see the module docstring).

    length_s: the local day's length (82800, 86400 or 90000 s). recorded_s: epochs seen. bouts / long_bouts:
    sitting bouts starting this day (>= 60 s / >= long_bout_s); longest_bout_s: 0 without bouts.
    breaks_per_sitting_h: None without sitting. *_tilt_median_deg: None without such epochs with a tilt.
    """

    day: date
    length_s: float
    recorded_s: float
    wear_s: float
    nonwear_s: float
    valid: bool
    unknown_s: float
    sitting_s: float
    standing_s: float
    walking_s: float
    lying_s: float
    bouts: int
    long_bouts: int
    longest_bout_s: float
    breaks: int
    breaks_per_sitting_h: float | None
    anterior_tilt_standing_s: float
    standing_tilt_median_deg: float | None
    sitting_tilt_median_deg: float | None
    exercise_s: float


DAY_STATS_FIELDS = tuple(DayStats.__dataclass_fields__)


def _median(values: FloatArray) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.median(values)) if values.size else None


def summarize_day(
    day: date,
    *,
    length_s: float,
    activity: Int8Array,
    tilt_deg: FloatArray,
    bouts_s: Sequence[float] = (),
    breaks: int = 0,
    exercise_s: float = 0.0,
    params: DayParams | None = None,
) -> DayStats:
    """The day's statistics from its 1 s epochs: ``activity`` (m,) int8 codes, ``tilt_deg`` (m,) degrees
    (anterior positive, NaN where undefined); ``bouts_s``: durations of the sitting bouts that start this day, s;
    ``breaks``: breaks in sitting this day; ``exercise_s``: exercise this day, s."""
    p = params or DayParams()
    seconds = activity_seconds(activity)
    wear = seconds["sitting"] + seconds["standing"] + seconds["walking"] + seconds["lying"]
    sitting = seconds["sitting"]
    return DayStats(
        day=day,
        length_s=float(length_s),
        recorded_s=float(activity.shape[0]),
        wear_s=wear,
        nonwear_s=max(float(length_s) - wear, 0.0),
        valid=wear >= p.min_wear_h * 3600.0,
        unknown_s=seconds["unknown"],
        sitting_s=sitting,
        standing_s=seconds["standing"],
        walking_s=seconds["walking"],
        lying_s=seconds["lying"],
        bouts=len(bouts_s),
        long_bouts=sum(1 for b in bouts_s if b >= p.long_bout_s),
        longest_bout_s=float(max(bouts_s, default=0.0)),
        breaks=int(breaks),
        breaks_per_sitting_h=breaks / (sitting / 3600.0) if sitting > 0 else None,
        anterior_tilt_standing_s=anterior_standing_s(activity, tilt_deg, p.anterior_tilt_deg),
        standing_tilt_median_deg=_median(tilt_deg[activity == STANDING]),
        sitting_tilt_median_deg=_median(tilt_deg[activity == SITTING]),
        exercise_s=float(exercise_s),
    )


def local_days(clock: LocalClock, t: FloatArray) -> tuple[IntArray, dict[int, tuple[float, float]]]:
    """Local day of each stream time ``t`` (m,) s, increasing: (m,) ``date.toordinal()`` values, and for each day
    met its local midnight on the stream clock and its length, s (23 or 25 h across a DST change)."""
    m = int(t.shape[0])
    ordinals = np.empty(m, np.int64)
    bounds: dict[int, tuple[float, float]] = {}
    i = 0
    while i < m:
        day = clock.day(float(t[i]))
        bounds[day.toordinal()] = _day_bounds(clock, day)
        begin, length = bounds[day.toordinal()]
        j = max(int(np.searchsorted(t, begin + length, side="left")), i + 1)
        ordinals[i:j] = day.toordinal()
        i = j
    return ordinals, bounds


def _day_bounds(clock: LocalClock, day: date) -> tuple[float, float]:
    begin = clock.stream_time(day, time(0))
    return begin, clock.stream_time(day + timedelta(days=1), time(0)) - begin


@dataclass(frozen=True)
class EpochDays:
    """A run of 1 s epochs of one recording, on absolute time, for :class:`DayBuilder`.

    ts: (m,) epoch starts, Unix seconds, increasing. ordinal: (m,) local day of each epoch (``date.toordinal()``).
    activity: (m,) int8 codes into ACTIVITIES. tilt_deg: (m,) degrees, NaN where undefined.
    day_length_s: ordinal -> length of that local day, s. exercise: (ordinal, seconds) of exercise bouts.
    """

    ts: FloatArray
    ordinal: IntArray
    activity: Int8Array
    tilt_deg: FloatArray
    day_length_s: dict[int, float]
    exercise: tuple[tuple[int, float], ...] = ()
    #: ordinal -> the local midnight of that day, Unix s (for plots by time of day).
    day_start_ts: dict[int, float] = field(default_factory=dict)

    @staticmethod
    def from_stream(
        clock: LocalClock,
        t: FloatArray,
        activity: Int8Array,
        tilt_deg: FloatArray,
        exercise: Sequence[tuple[float, float]] = (),
    ) -> EpochDays:
        """Epochs at stream times ``t`` (m,) s of ``clock``; ``exercise``: (start_s, duration_s) on the stream
        clock, counted on the day each starts."""
        ordinal, bounds = local_days(clock, t)
        ex = []
        for start_s, duration_s in exercise:
            day = clock.day(start_s)
            ex.append((day.toordinal(), float(duration_s)))
            bounds.setdefault(day.toordinal(), _day_bounds(clock, day))
        t0 = clock.start.timestamp()
        return EpochDays(
            t0 + t,
            ordinal,
            activity,
            tilt_deg,
            {d: length for d, (_, length) in bounds.items()},
            tuple(ex),
            {d: t0 + begin for d, (begin, _) in bounds.items()},
        )


@dataclass
class _OpenDay:
    length_s: float
    activity: list[Int8Array] = field(default_factory=list)
    tilt: list[FloatArray] = field(default_factory=list)
    bouts_s: list[float] = field(default_factory=list)
    breaks: int = 0
    exercise_s: float = 0.0


class DayBuilder(SnapshotState):
    """One wearer's days, streaming: feed :class:`EpochDays` in time order with :meth:`update` (recording after
    recording; each may be cut anywhere), get the days that are complete; :meth:`finish` gives the rest.

    A day is complete once a later day has begun and no sitting bout that started on it is still open. Epochs that
    overlap what was already fed (a recording starting before the previous one ended) are dropped and counted in
    ``dropped_s``. Memory: the open days' epochs (normally one day).
    """

    def __init__(self, params: DayParams | None = None) -> None:
        self.params = params or DayParams()
        self.reset()

    def reset(self) -> None:
        """Forget every day fed so far."""
        self._days: dict[int, _OpenDay] = {}
        self._bouts = BoutTracker()
        self._bout_day: int | None = None
        self._end_ts: float | None = None  # end of the last epoch fed, Unix s
        self._last_known = UNKNOWN
        self._emitted = -1  # the last ordinal emitted
        self.dropped_s = 0.0

    def _day(self, ordinal: int, lengths: dict[int, float]) -> _OpenDay:
        day = self._days.get(ordinal)
        if day is None:
            day = self._days[ordinal] = _OpenDay(lengths.get(ordinal, 86400.0))
        return day

    def _close_bout(self) -> None:
        bout = self._bouts.finish()
        if bout is not None and self._bout_day is not None:
            self._days[self._bout_day].bouts_s.append(bout.duration_s)
        self._bout_day = None

    def update(self, part: EpochDays) -> list[DayStats]:
        ts, ordinal, activity, tilt = part.ts, part.ordinal, part.activity, part.tilt_deg
        keep = ordinal > self._emitted
        if self._end_ts is not None:
            keep &= ts >= self._end_ts - 1e-6
        if not keep.all():
            self.dropped_s += float(np.count_nonzero(~keep))
            ts, ordinal, activity, tilt = ts[keep], ordinal[keep], activity[keep], tilt[keep]
        for day_ordinal, seconds in part.exercise:
            if day_ordinal > self._emitted:
                self._day(day_ordinal, part.day_length_s).exercise_s += seconds
        m = int(ts.shape[0])
        if m == 0:
            return self._complete(None)
        if self._end_ts is not None and ts[0] - self._end_ts > self.params.join_gap_s:
            self._close_bout()  # the previous recording is not continued: close its bout, forget its posture
            self._last_known = UNKNOWN
        # Breaks in sitting: standing or walking whose last known activity before was sitting.
        known = activity != UNKNOWN
        idx = np.where(known, np.arange(m), -1)
        last = np.maximum.accumulate(idx)
        before = np.concatenate([[-1], last[:-1]])
        prev = np.where(before >= 0, activity[np.maximum(before, 0)], np.int8(self._last_known))
        is_break = ((activity == STANDING) | (activity == WALKING)) & (prev == SITTING)
        if known.any():
            self._last_known = int(activity[last[-1]])
        # Epoch runs per day.
        cuts = np.flatnonzero(np.diff(ordinal)) + 1
        for lo, hi in zip(np.concatenate([[0], cuts]).tolist(), np.concatenate([cuts, [m]]).tolist(), strict=True):
            day = self._day(int(ordinal[lo]), part.day_length_s)
            day.activity.append(activity[lo:hi])
            day.tilt.append(tilt[lo:hi])
            day.breaks += int(np.count_nonzero(is_break[lo:hi]))
        # Sitting bouts, on the day each starts (the same state machine as the pipeline's).
        steps = np.flatnonzero((activity == SITTING) | (activity == STANDING) | (activity == WALKING))
        for i in steps.tolist():
            done = self._bouts.update(float(ts[i]), int(activity[i]))
            if done is not None and self._bout_day is not None:
                self._days[self._bout_day].bouts_s.append(done.duration_s)
            if not self._bouts.in_bout:
                self._bout_day = None
            elif self._bout_day is None:
                self._bout_day = int(ordinal[i])
        self._end_ts = float(ts[-1]) + 1.0
        return self._complete(int(ordinal[-1]))

    def _complete(self, current: int | None) -> list[DayStats]:
        if current is None:
            return []
        limit = current if self._bout_day is None else min(current, self._bout_day)
        return self._emit([d for d in sorted(self._days) if d < limit])

    def _emit(self, ordinals: list[int]) -> list[DayStats]:
        out = []
        for d in ordinals:
            day = self._days.pop(d)
            activity = np.concatenate(day.activity) if day.activity else np.empty(0, np.int8)
            tilt = np.concatenate(day.tilt) if day.tilt else np.empty(0)
            out.append(
                summarize_day(
                    date.fromordinal(d),
                    length_s=day.length_s,
                    activity=activity,
                    tilt_deg=tilt,
                    bouts_s=day.bouts_s,
                    breaks=day.breaks,
                    exercise_s=day.exercise_s,
                    params=self.params,
                )
            )
            self._emitted = max(self._emitted, d)
        return out

    def finish(self) -> list[DayStats]:
        """Close the sitting bout in progress and return every day still open."""
        self._close_bout()
        return self._emit(sorted(self._days))
