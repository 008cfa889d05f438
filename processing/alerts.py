"""Alert rules: pure functions of the 1 s epoch stream and of sensor notices. The clock is passed in.

- ``prolonged_sitting``: a sitting bout reaches ``prolonged_sitting_s`` (30 min), then again every
  ``prolonged_sitting_repeat_s`` (10 min) while it lasts; a bout ends after >= 1 min of standing or walking.
- ``anterior_tilt``: standing with tilt >= ``anterior_tilt_deg`` (10°) for ``anterior_tilt_s`` (60 s); dips
  shorter than ``anterior_tilt_tolerance_s`` (5 s) do not reset it.
- ``daily_sitting_budget``: today's sitting passes ``daily_sitting_goal_s`` (8 h); once per local day.
- ``exercise_reminder``: at ``exercise_reminder_at`` local time (18:00), if less than ``exercise_goal_s``
  (5 min) of exercise is logged today.
- ``sensor_disconnected``: the sensor has been lost for ``disconnected_after_s`` (60 s).
- ``battery_low``: the battery reads <= ``battery_low_pct`` (15 %).
- ``recalibrate``: the sensor moved on the belt (reported by calibration).

Every kind has a cool-down (``cooldown_s``): two alerts of one kind are at least that far apart. During quiet
hours (``quiet_hours = "22:00-07:00"``) alerts are suppressed (counted in ``suppressed``), not postponed.

An alert's ``id`` is derived from the wearer, the kind and the local time it fired, so a re-run or re-send
gives the same id.

Each kind is a small object holding its parameters and its state (:class:`ProlongedSitting`,
:class:`AnteriorTilt`, ...); the cool-downs and quiet hours are one more (:class:`AlertGate`).
:class:`AlertRules` composes them. Every part keeps its state in a :func:`rule_state` dataclass whose every
field says how it is saved (a stream time, a local date, a plain value), so :meth:`AlertRules.state` /
:meth:`AlertRules.restore` carry the whole state across a restart and no alert fires twice; a field without
that is refused when the class is defined. The saved state's format is in :meth:`AlertRules.state`; the
flat format of earlier versions is read too (:func:`migrate_state`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from datetime import date, datetime, time
from typing import Any, Generic, Protocol, TypeVar

from processing.activity import SITTING, STANDING
from processing.clock import LocalClock

EVENT_TYPES = (
    "prolonged_sitting",
    "anterior_tilt",
    "daily_sitting_budget",
    "exercise_reminder",
    "sensor_disconnected",
    "battery_low",
    "recalibrate",
)

#: Default cool-downs per kind, s.
DEFAULT_COOLDOWN_S: dict[str, float] = {
    "prolonged_sitting": 0.0,  # the reminder interval rules it
    "anterior_tilt": 600.0,
    "daily_sitting_budget": 0.0,  # once per day anyway
    "exercise_reminder": 0.0,  # once per day anyway
    "sensor_disconnected": 600.0,
    "battery_low": 3600.0,
    "recalibrate": 600.0,
}


def parse_hhmm(text: str, name: str) -> time:
    """``"18:30"`` -> time(18, 30); ValueError naming the setting otherwise."""
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except ValueError:
        raise ValueError(f"{name} {text!r} is not HH:MM") from None


@dataclass(frozen=True)
class AlertParams:
    """Alert thresholds: durations in seconds, angles in degrees relative to neutral standing, times as HH:MM.

    exercise_reminder_at and quiet_hours may be "" to disable them. cooldown_s overrides per kind.
    """

    prolonged_sitting_s: float = 1800.0
    prolonged_sitting_repeat_s: float = 600.0
    anterior_tilt_deg: float = 10.0
    anterior_tilt_s: float = 60.0
    anterior_tilt_tolerance_s: float = 5.0
    daily_sitting_goal_s: float = 8 * 3600.0
    exercise_reminder_at: str = "18:00"
    exercise_goal_s: float = 300.0
    disconnected_after_s: float = 60.0
    battery_low_pct: float = 15.0
    quiet_hours: str = ""
    cooldown_s: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("prolonged_sitting_s", "prolonged_sitting_repeat_s", "anterior_tilt_s", "daily_sitting_goal_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive")
        for name in ("anterior_tilt_tolerance_s", "exercise_goal_s", "disconnected_after_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if not 0 <= self.battery_low_pct <= 100:
            raise ValueError("battery_low_pct must be within 0..100")
        if self.exercise_reminder_at:
            parse_hhmm(self.exercise_reminder_at, "exercise_reminder_at")
        if self.quiet_hours:
            self.quiet_window()
        for kind, value in self.cooldown_s.items():
            if kind not in EVENT_TYPES:
                raise ValueError(f"cooldown_s: unknown alert kind {kind!r} (kinds: {', '.join(EVENT_TYPES)})")
            if value < 0:
                raise ValueError(f"cooldown_s.{kind} must not be negative")

    def quiet_window(self) -> tuple[time, time] | None:
        if not self.quiet_hours:
            return None
        start, sep, end = self.quiet_hours.partition("-")
        if not sep:
            raise ValueError(f"quiet_hours {self.quiet_hours!r} is not HH:MM-HH:MM")
        return parse_hhmm(start.strip(), "quiet_hours"), parse_hhmm(end.strip(), "quiet_hours")

    def cooldown(self, kind: str) -> float:
        return self.cooldown_s.get(kind, DEFAULT_COOLDOWN_S[kind])


@dataclass(frozen=True)
class Alert:
    """An alert for a person. ``id`` is stable: the same alert always gets the same id.

    t: stream time at which it fired, s; time: local wall time (aware datetime); fields: kind-specific data.
    """

    id: str
    event_type: str
    t: float
    time: datetime
    message: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        """The MQTT ``alert`` JSON (docs/contracts.md): id, event_type, time (ISO 8601 with offset), message, fields."""
        return {
            "id": self.id,
            "event_type": self.event_type,
            "time": self.time.isoformat(timespec="seconds"),
            "message": self.message,
            **self.fields,
        }


def _minutes(seconds: float) -> str:
    m = round(seconds / 60.0)
    return f"{m} minute" + ("" if m == 1 else "s")


def _in_window(at: time, window: tuple[time, time]) -> bool:
    start, end = window
    if start <= end:
        return start <= at < end
    return at >= start or at < end  # across midnight


# -- how a state field is saved -------------------------------------------------------------------------


@dataclass(frozen=True)
class _SavedAs:
    """How one state field is written to JSON (``save``) and read back (``load``, never given None: a missing
    or null value reads back as the field's default). Both take ``origin_s``, the absolute time of stream t = 0."""

    name: str
    save: Callable[[Any, float], Any]
    load: Callable[[Any, float], Any]


def _load_times(value: Any, origin_s: float) -> dict[str, float]:
    if not isinstance(value, dict):
        raise TypeError("last_fired must be an object")
    return {str(k): float(v) - origin_s for k, v in value.items() if k in EVENT_TYPES}


_STREAM_TIME = _SavedAs(
    "stream time, s (saved as origin_s + t; infinity as null)",
    lambda v, origin: None if v is None or not math.isfinite(v) else origin + v,
    lambda v, origin: float(v) - origin,
)
_STREAM_TIMES = _SavedAs(
    "stream time per alert kind (saved as origin_s + t)",
    lambda v, origin: {kind: origin + t for kind, t in v.items()},
    _load_times,
)
_LOCAL_DATE = _SavedAs(
    "local date (ISO 8601)", lambda v, _: None if v is None else v.isoformat(), lambda v, _: date.fromisoformat(str(v))
)
_SECONDS = _SavedAs("seconds, not a stream time", lambda v, _: v, lambda v, _: float(v))
_FLAG = _SavedAs("flag", lambda v, _: v, lambda v, _: bool(v))
_COUNT = _SavedAs("count", lambda v, _: v, lambda v, _: int(v))


#: Field metadata saying how a rule-state field is saved (``field(default=..., metadata=STREAM_TIME)``).
STREAM_TIME = {"saved_as": _STREAM_TIME}  #: a stream time, s (None, or math.inf, when unset)
STREAM_TIMES = {"saved_as": _STREAM_TIMES}  #: a stream time, s, per alert kind
LOCAL_DATE = {"saved_as": _LOCAL_DATE}  #: a local date, or None
SECONDS = {"saved_as": _SECONDS}  #: a duration or a bout-relative time, s (not moved with the stream origin)
FLAG = {"saved_as": _FLAG}  #: a flag
COUNT = {"saved_as": _COUNT}  #: a count


_M = TypeVar("_M")


def rule_state(cls: type[_M]) -> type[_M]:
    """Check a rule's state dataclass: every field must say how it is saved (its metadata is one of
    :data:`STREAM_TIME`, :data:`STREAM_TIMES`, :data:`LOCAL_DATE`, :data:`SECONDS`, :data:`FLAG`, :data:`COUNT`),
    so that a new field cannot be left out of the saved state. TypeError at class definition otherwise."""
    for f in fields(cls):  # type: ignore[arg-type]
        if not isinstance(f.metadata.get("saved_as"), _SavedAs):
            raise TypeError(
                f"{cls.__name__}.{f.name}: a rule-state field must say how it is saved "
                "(metadata=STREAM_TIME, LOCAL_DATE, SECONDS, FLAG, COUNT or STREAM_TIMES)"
            )
    return cls


def _default(f: Field[Any]) -> Any:
    return f.default_factory() if callable(f.default_factory) else f.default


def _save(memory: Any, origin_s: float) -> dict[str, Any]:
    return {f.name: f.metadata["saved_as"].save(getattr(memory, f.name), origin_s) for f in fields(memory)}


def _load(kind: type[_M], data: Mapping[str, Any], origin_s: float) -> _M:
    values: dict[str, Any] = {}
    for f in fields(kind):  # type: ignore[arg-type]
        value = data.get(f.name)
        values[f.name] = _default(f) if value is None else f.metadata["saved_as"].load(value, origin_s)
    return kind(**values)


class _Part(Generic[_M]):
    """A part of the alert rules that owns a state (``memory``, a :func:`rule_state` dataclass)."""

    def __init__(self, memory_type: type[_M]) -> None:
        self._memory_type = memory_type
        self.memory: _M = memory_type()

    def reset(self) -> None:
        """Forget everything: the state of a new stream."""
        self.memory = self._memory_type()

    def state(self, origin_s: float = 0.0) -> dict[str, Any]:
        """The part's whole state as JSON-able data (every field of ``memory``)."""
        return _save(self.memory, origin_s)

    def restore(self, state: Mapping[str, Any], origin_s: float = 0.0) -> None:
        """Load :meth:`state`; missing keys keep their defaults, a malformed value raises ValueError or TypeError."""
        self.memory = _load(self._memory_type, state, origin_s)


# -- the alert kinds ------------------------------------------------------------------------------------


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


class ProlongedSitting(_Part[ProlongedSittingMemory]):
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


class AnteriorTilt(_Part[AnteriorTiltMemory]):
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


class DailySittingBudget(_Part[DailySittingBudgetMemory]):
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


class ExerciseReminder(_Part[ExerciseReminderMemory]):
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


class SensorDisconnected(_Part[SensorDisconnectedMemory]):
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


class BatteryLow(_Part[BatteryLowMemory]):
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


@rule_state
@dataclass
class AlertGateMemory:
    last_fired: dict[str, float] = field(default_factory=dict, metadata=STREAM_TIMES)  #: when each kind last fired
    suppressed: int = field(default=0, metadata=COUNT)  #: alerts suppressed by the quiet hours


class AlertGate(_Part[AlertGateMemory]):
    """Turns notices into alerts: the cool-down per kind, the quiet hours (suppressed, counted, not postponed)
    and the stable id (``wearer-kind-stamp``)."""

    def __init__(self, params: AlertParams, wearer: str) -> None:
        super().__init__(AlertGateMemory)
        self.cooldown_s = {kind: params.cooldown(kind) for kind in EVENT_TYPES}
        self.quiet = params.quiet_window()
        self.wearer = wearer

    def emit(self, notices: list[Notice], clock: LocalClock) -> list[Alert]:
        out: list[Alert] = []
        for n in notices:
            last = self.memory.last_fired.get(n.kind)
            if last is not None and n.t - last < self.cooldown_s[n.kind]:
                continue
            local = clock.local(n.t)
            if self.quiet is not None and _in_window(local.time(), self.quiet):
                self.memory.suppressed += 1
                continue
            self.memory.last_fired[n.kind] = n.t
            stamp = n.key or local.strftime("%Y%m%dT%H%M%S")
            out.append(Alert(f"{self.wearer}-{n.kind}-{stamp}", n.kind, n.t, local, n.message, n.fields))
        return out


class StatefulPart(Protocol):
    """A part of :class:`AlertRules` with a saved state."""

    def reset(self) -> None: ...
    def state(self, origin_s: float = 0.0) -> dict[str, Any]: ...
    def restore(self, state: Mapping[str, Any], origin_s: float = 0.0) -> None: ...


#: The version of :meth:`AlertRules.state`'s format.
STATE_VERSION = 2

#: The flat saved state of earlier versions (no ``version`` key): where each key went, as (part, field).
_FLAT_KEYS: dict[str, tuple[str, str]] = {
    "suppressed": ("gate", "suppressed"),
    "last_fired": ("gate", "last_fired"),
    "next_sitting_alert_s": ("prolonged_sitting", "next_alert_s"),
    "tilt_since": ("anterior_tilt", "since"),
    "tilt_last": ("anterior_tilt", "last"),
    "tilt_fired": ("anterior_tilt", "fired"),
    "budget_day": ("daily_sitting_budget", "day"),
    "exercise_day": ("exercise_reminder", "day"),
    "exercise_due_t": ("exercise_reminder", "due_t"),
    "last_t": ("exercise_reminder", "last_t"),
    "disconnected_since": ("sensor_disconnected", "since"),
    "disconnect_fired": ("sensor_disconnected", "fired"),
    "battery_fired": ("battery_low", "fired"),
}


def migrate_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """The saved state in the current format: a flat state of an earlier version (no ``version`` key; the
    values are saved the same way, only the keys moved) is re-keyed by part; the current format is returned
    as it is. ValueError for a newer version."""
    version = state.get("version")
    if version == STATE_VERSION:
        return dict(state)
    if version is not None:
        raise ValueError(f"alert rule state version {version!r} is newer than this program ({STATE_VERSION})")
    out: dict[str, Any] = {"version": STATE_VERSION}
    for key, value in state.items():
        if key in _FLAT_KEYS:
            part, name = _FLAT_KEYS[key]
            out.setdefault(part, {})[name] = value
    return out


class AlertRules:
    """The alert rules: each kind a part with its own state, composed. Feed every epoch to :meth:`update`;
    sensor notices to :meth:`link`, :meth:`tick`, :meth:`battery` and :meth:`recalibrate`.

    >>> from datetime import UTC
    >>> rules, clock = AlertRules(AlertParams(prolonged_sitting_s=60.0)), LocalClock(datetime(2026, 5, 4, tzinfo=UTC))
    >>> [a.id for t in range(61) for a in rules.update(t=float(t), clock=clock, activity=SITTING, tilt_deg=-20.0,
    ...  bout_s=t + 1.0, sitting_today_s=t + 1.0)]
    ['me-prolonged_sitting-20260504T000059']
    """

    def __init__(self, params: AlertParams | None = None, wearer: str = "me") -> None:
        p = AlertParams() if params is None else params
        self.params = p
        self.wearer = wearer
        self.gate = AlertGate(p, wearer)
        self.prolonged_sitting = ProlongedSitting(after_s=p.prolonged_sitting_s, repeat_s=p.prolonged_sitting_repeat_s)
        self.anterior_tilt = AnteriorTilt(
            threshold_deg=p.anterior_tilt_deg, hold_s=p.anterior_tilt_s, tolerance_s=p.anterior_tilt_tolerance_s
        )
        self.daily_sitting_budget = DailySittingBudget(goal_s=p.daily_sitting_goal_s)
        at = parse_hhmm(p.exercise_reminder_at, "exercise_reminder_at") if p.exercise_reminder_at else None
        self.exercise_reminder = ExerciseReminder(at=at, goal_s=p.exercise_goal_s)
        self.sensor_disconnected = SensorDisconnected(after_s=p.disconnected_after_s)
        self.battery_low = BatteryLow(low_pct=p.battery_low_pct)
        self.recalibrate_rule = Recalibrate()
        #: Every part with a state, by its key in :meth:`state`.
        self.parts: dict[str, StatefulPart] = {
            "gate": self.gate,
            "prolonged_sitting": self.prolonged_sitting,
            "anterior_tilt": self.anterior_tilt,
            "daily_sitting_budget": self.daily_sitting_budget,
            "exercise_reminder": self.exercise_reminder,
            "sensor_disconnected": self.sensor_disconnected,
            "battery_low": self.battery_low,
        }

    @property
    def suppressed(self) -> int:
        """Alerts suppressed by the quiet hours so far."""
        return self.gate.memory.suppressed

    # -- the streaming contract ----------------------------------------------------------------------------

    def update(
        self,
        *,
        t: float,
        clock: LocalClock,
        activity: int,
        tilt_deg: float,
        bout_s: float,
        sitting_today_s: float,
        exercise_today_s: float = 0.0,
    ) -> list[Alert]:
        """Advance by the epoch starting at ``t`` (stream s); return the alerts it fires."""
        epoch = AlertEpoch(t, clock.day(t), activity, tilt_deg, bout_s, sitting_today_s, exercise_today_s)
        notices = (
            self.prolonged_sitting.update(epoch)
            + self.anterior_tilt.update(epoch)
            + self.daily_sitting_budget.update(epoch)
            + self.exercise_reminder.update(epoch, clock)
        )
        return self.gate.emit(notices, clock) if notices else []

    def finish(self) -> list[Alert]:
        """The end of a stream: nothing is held back, so no alert."""
        return []

    def snapshot(self) -> dict[str, Any]:
        """The whole state (the streaming contract's getter): :meth:`state` on the stream's own clock."""
        return self.state()

    def reset(self) -> None:
        """Forget every part's state (a new stream)."""
        for part in self.parts.values():
            part.reset()

    def state(self, origin_s: float = 0.0) -> dict[str, Any]:
        """The whole rule state as JSON-able data; :meth:`restore` it after a restart so that no alert fires
        twice and none is forgotten.

        ``{"version": 2, "gate": {...}, "prolonged_sitting": {...}, ...}``: one object per part (:attr:`parts`),
        holding every field of its state. origin_s: an absolute time of stream t = 0 (Unix s, e.g.
        ``clock.start.timestamp()``). Stream times are stored as ``origin_s + t``, so a restarted stream (whose
        t = 0 is elsewhere) reads them back right; 0 keeps them on the stream's own clock. Infinities become None.
        """
        return {"version": STATE_VERSION, **{name: part.state(origin_s) for name, part in self.parts.items()}}

    def restore(self, state: Mapping[str, Any], origin_s: float = 0.0) -> None:
        """Load :meth:`state` (made with the same meaning of ``origin_s``: the absolute time of this stream's
        t = 0), or the flat state of an earlier version (:func:`migrate_state`). Missing keys keep their
        defaults; a malformed value raises ValueError or TypeError."""
        current = migrate_state(state)
        for name, part in self.parts.items():
            saved = current.get(name, {})
            if not isinstance(saved, Mapping):
                raise TypeError(f"alert rule state: {name} must be an object")
            part.restore(saved, origin_s)

    # -- sensor notices ------------------------------------------------------------------------------------

    def link(self, *, t: float, clock: LocalClock, connected: bool, device: str = "") -> list[Alert]:
        """The sensor link went down (``connected=False``) or came back, at stream time ``t``."""
        return self.gate.emit(self.sensor_disconnected.link(t=t, connected=connected, device=device), clock)

    def tick(self, *, t: float, clock: LocalClock, device: str = "") -> list[Alert]:
        """Time passes without samples (the runtime calls this while the sensor is away)."""
        return self.gate.emit(self.sensor_disconnected.tick(t=t, device=device), clock)

    def battery(self, *, t: float, clock: LocalClock, battery_pct: float) -> list[Alert]:
        """A battery reading, percent."""
        return self.gate.emit(self.battery_low.battery(t=t, battery_pct=battery_pct), clock)

    def recalibrate(self, *, t: float, clock: LocalClock, reason: str) -> list[Alert]:
        """The sensor moved on the belt (``reason`` says how)."""
        return self.gate.emit(self.recalibrate_rule.moved(t=t, reason=reason), clock)
