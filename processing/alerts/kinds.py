"""The alert kinds, each a small object holding its parameters and its state (a :func:`rule_state`
dataclass): prolonged sitting, anterior tilt, the daily sitting budget, the exercise reminder, the sensor lost,
the battery low, and re-calibration. Each turns epochs or sensor notices into :class:`Notice` s, which the gate
(:mod:`processing.alerts.gate`) turns into alerts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, time
from typing import Any

from processing.activity import SITTING, STANDING
from processing.alerts.state import FLAG, LOCAL_DATE, SECONDS, STREAM_TIME, RulePart, rule_state
from processing.clock import LocalClock


def _minutes(seconds: float) -> str:
    m = round(seconds / 60.0)
    return f"{m} minute" + ("" if m == 1 else "s")


@dataclass(frozen=True)
class AlertEpoch:
    """What the epoch rules see of one 1 s epoch.

    t: epoch start, stream s; day: its local day; activity: code into ``processing.activity.ACTIVITIES``;
    tilt_deg: degrees, anterior positive (NaN: unknown); bout_s: the sitting bout in progress, s;
    sitting_today_s, exercise_today_s: so far on the local day, s.
    """

    t: float
    day: date
    activity: int
    tilt_deg: float
    bout_s: float
    sitting_today_s: float
    exercise_today_s: float


@dataclass(frozen=True)
class Notice:
    """An alert a rule wants to send, before the cool-down and the quiet hours (:class:`AlertGate`) decide.

    key: the id's stamp (None: the local time it fires, ``YYYYmmddTHHMMSS``).
    """

    kind: str
    t: float
    message: str
    fields: dict[str, Any]
    key: str | None = None


@rule_state
@dataclass
class ProlongedSittingMemory:
    #: bout length at which the next reminder is due, s (bout-relative)
    next_alert_s: float | None = field(default=None, metadata=SECONDS)


class ProlongedSitting(RulePart[ProlongedSittingMemory]):
    """A sitting bout reaches ``after_s``, then again every ``repeat_s`` while it lasts."""

    kind = "prolonged_sitting"

    def __init__(self, *, after_s: float, repeat_s: float) -> None:
        super().__init__(ProlongedSittingMemory)
        self.after_s = after_s
        self.repeat_s = repeat_s

    def update(self, epoch: AlertEpoch) -> list[Notice]:
        m = self.memory
        if epoch.bout_s <= 0.0 or m.next_alert_s is None:
            m.next_alert_s = self.after_s
        if epoch.bout_s < m.next_alert_s:
            return []
        m.next_alert_s += self.repeat_s
        return [
            Notice(
                self.kind,
                epoch.t,
                f"You have been sitting for {_minutes(epoch.bout_s)}: stand up and move for a minute or two.",
                {"sitting_bout_s": round(epoch.bout_s)},
            )
        ]


@rule_state
@dataclass
class AnteriorTiltMemory:
    since: float | None = field(default=None, metadata=STREAM_TIME)  #: start of the tilted stretch
    last: float | None = field(default=None, metadata=STREAM_TIME)  #: last tilted epoch
    fired: bool = field(default=False, metadata=FLAG)  #: this stretch alerted already


class AnteriorTilt(RulePart[AnteriorTiltMemory]):
    """Standing with tilt >= ``threshold_deg`` for ``hold_s``; dips shorter than ``tolerance_s`` do not reset it
    (sitting does)."""

    kind = "anterior_tilt"

    def __init__(self, *, threshold_deg: float, hold_s: float, tolerance_s: float) -> None:
        super().__init__(AnteriorTiltMemory)
        self.threshold_deg = threshold_deg
        self.hold_s = hold_s
        self.tolerance_s = tolerance_s

    def update(self, epoch: AlertEpoch) -> list[Notice]:
        m, t, tilt_deg = self.memory, epoch.t, epoch.tilt_deg
        tilted = epoch.activity == STANDING and not math.isnan(tilt_deg) and tilt_deg >= self.threshold_deg
        if tilted:
            if m.since is None:
                m.since = t
            m.last = t
            held = t + 1.0 - m.since
            if not m.fired and held >= self.hold_s:
                m.fired = True
                return [
                    Notice(
                        self.kind,
                        t,
                        f"Your pelvis has been tipped forward by about {tilt_deg:.0f}° for {_minutes(held)} while "
                        "standing: tuck it gently back.",
                        {"tilt_deg": round(tilt_deg, 1), "duration_s": round(held)},
                    )
                ]
        elif m.since is not None:
            last = m.last if m.last is not None else t
            if t + 1.0 - last > self.tolerance_s or epoch.activity == SITTING:
                m.since = None
                m.fired = False
        return []


@rule_state
@dataclass
class DailySittingBudgetMemory:
    day: date | None = field(default=None, metadata=LOCAL_DATE)  #: the local day that alerted already


class DailySittingBudget(RulePart[DailySittingBudgetMemory]):
    """Today's sitting passes ``goal_s``; once per local day."""

    kind = "daily_sitting_budget"

    def __init__(self, *, goal_s: float) -> None:
        super().__init__(DailySittingBudgetMemory)
        self.goal_s = goal_s

    def update(self, epoch: AlertEpoch) -> list[Notice]:
        sitting_s = epoch.sitting_today_s
        if sitting_s < self.goal_s or self.memory.day == epoch.day:
            return []
        self.memory.day = epoch.day
        return [
            Notice(
                self.kind,
                epoch.t,
                f"You have sat for {sitting_s / 3600.0:.1f} h today, past your goal of {self.goal_s / 3600.0:.1f} h.",
                {"sitting_today_s": round(sitting_s), "goal_s": round(self.goal_s)},
                key=epoch.day.isoformat(),
            )
        ]


@rule_state
@dataclass
class ExerciseReminderMemory:
    day: date | None = field(default=None, metadata=LOCAL_DATE)  #: the local day whose reminder time has passed
    due_t: float = field(default=math.inf, metadata=STREAM_TIME)  #: today's reminder time
    last_t: float | None = field(default=None, metadata=STREAM_TIME)  #: the last epoch seen


class ExerciseReminder(RulePart[ExerciseReminderMemory]):
    """At local time ``at`` (None: never), if less than ``goal_s`` of exercise is logged today; only when the
    stream crosses that time, not when it starts (or restarts) after it."""

    kind = "exercise_reminder"

    def __init__(self, *, at: time | None, goal_s: float) -> None:
        super().__init__(ExerciseReminderMemory)
        self.at = at
        self.goal_s = goal_s

    def update(self, epoch: AlertEpoch, clock: LocalClock) -> list[Notice]:
        m, t, day = self.memory, epoch.t, epoch.day
        out: list[Notice] = []
        if self.at is not None and m.day != day:
            if m.due_t == math.inf or clock.day(m.due_t) != day:
                m.due_t = clock.stream_time(day, self.at)
            if t >= m.due_t:
                crossed = m.last_t is not None and m.last_t < m.due_t
                m.day = day
                done_s = epoch.exercise_today_s if crossed else math.inf
                if done_s < self.goal_s:
                    out.append(
                        Notice(
                            self.kind,
                            t,
                            f"Time for your hip-flexor and core exercises: {_minutes(done_s)} of "
                            f"{_minutes(self.goal_s)} done today.",
                            {"exercise_today_s": round(done_s), "goal_s": round(self.goal_s)},
                            key=day.isoformat(),
                        )
                    )
        m.last_t = t
        return out


@rule_state
@dataclass
class SensorDisconnectedMemory:
    since: float | None = field(default=None, metadata=STREAM_TIME)  #: when the link went down (None: connected)
    fired: bool = field(default=False, metadata=FLAG)  #: this disconnection alerted already


class SensorDisconnected(RulePart[SensorDisconnectedMemory]):
    """The sensor has been lost for ``after_s``."""

    kind = "sensor_disconnected"

    def __init__(self, *, after_s: float) -> None:
        super().__init__(SensorDisconnectedMemory)
        self.after_s = after_s

    def link(self, *, t: float, connected: bool, device: str) -> list[Notice]:
        if connected:
            self.memory.since = None
            self.memory.fired = False
            return []
        if self.memory.since is None:
            self.memory.since = t
        return self.tick(t=t, device=device)

    def tick(self, *, t: float, device: str) -> list[Notice]:
        since = self.memory.since
        if since is None or self.memory.fired or t - since < self.after_s:
            return []
        self.memory.fired = True
        return [
            Notice(
                self.kind,
                t,
                f"The posture sensor{' ' + device if device else ''} has been out of reach for "
                f"{_minutes(t - since)}: is it clipped on and charged?",
                {"device": device, "since_s": round(t - since)},
            )
        ]


@rule_state
@dataclass
class BatteryLowMemory:
    fired: bool = field(default=False, metadata=FLAG)  #: alerted since the last charge


class BatteryLow(RulePart[BatteryLowMemory]):
    """The battery reads <= ``low_pct``; re-armed when it reads more than 5 points above."""

    kind = "battery_low"

    def __init__(self, *, low_pct: float) -> None:
        super().__init__(BatteryLowMemory)
        self.low_pct = low_pct

    def battery(self, *, t: float, battery_pct: float) -> list[Notice]:
        if battery_pct > self.low_pct + 5.0:
            self.memory.fired = False  # charged again: re-arm
            return []
        if battery_pct > self.low_pct or self.memory.fired:
            return []
        self.memory.fired = True
        return [
            Notice(
                self.kind,
                t,
                f"The posture sensor's battery is at {battery_pct:.0f} %: charge it tonight.",
                {"battery_pct": round(battery_pct)},
            )
        ]


class Recalibrate:
    """The sensor moved on the belt (reported by calibration). No state of its own (its cool-down is the gate's)."""

    kind = "recalibrate"

    def moved(self, *, t: float, reason: str) -> list[Notice]:
        return [
            Notice(
                self.kind,
                t,
                f"The sensor seems to have moved on your belt ({reason}): stand still in neutral for a few "
                "seconds, then walk a few steps, to recalibrate.",
                {"reason": reason},
            )
        ]
