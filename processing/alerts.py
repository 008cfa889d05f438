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
gives the same id. :meth:`AlertRules.state` / :meth:`AlertRules.restore` carry the rule state across a restart,
so no alert fires twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from datetime import date, datetime, time
from typing import Any

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


@dataclass
class AlertRules:
    """The rule state machine. Feed every epoch to :meth:`step`; sensor notices to the ``on_*`` methods."""

    params: AlertParams = field(default_factory=AlertParams)
    wearer: str = "me"
    suppressed: int = 0
    _next_sitting_alert_s: float | None = None
    _tilt_since: float | None = None
    _tilt_last: float | None = None
    _tilt_fired: bool = False
    _budget_day: date | None = None
    _exercise_day: date | None = None
    _exercise_due_t: float = math.inf
    _disconnected_since: float | None = None
    _disconnect_fired: bool = False
    _battery_fired: bool = False
    _last_fired: dict[str, float] = field(default_factory=dict)
    _last_t: float | None = None

    # -- state across restarts ---------------------------------------------------------------------------

    #: Rule-state fields holding stream times (s); :meth:`state` stores them as ``origin_s + t``.
    _TIME_FIELDS = frozenset({"_tilt_since", "_tilt_last", "_exercise_due_t", "_disconnected_since", "_last_t"})
    #: Fields holding local dates (stored as ISO 8601).
    _DATE_FIELDS = frozenset({"_budget_day", "_exercise_day"})
    #: Plain JSON values (bout-relative seconds, flags, counts).
    _PLAIN_FIELDS = frozenset(
        {"suppressed", "_next_sitting_alert_s", "_tilt_fired", "_disconnect_fired", "_battery_fired"}
    )
    #: Configuration, not state.
    _NOT_STATE = frozenset({"params", "wearer"})

    def _state_fields(self) -> list[str]:
        names = [f.name for f in fields(self) if f.name not in self._NOT_STATE]
        known = self._TIME_FIELDS | self._DATE_FIELDS | self._PLAIN_FIELDS | {"_last_fired"}
        unknown = [n for n in names if n not in known]
        if unknown:  # a new field must be classified here, so that a restart cannot lose it
            raise AssertionError(f"AlertRules.state(): classify the field(s) {unknown}")
        return names

    def state(self, origin_s: float = 0.0) -> dict[str, Any]:
        """The whole rule state as JSON-able data; :meth:`restore` it after a restart so that no alert fires
        twice and none is forgotten.

        origin_s: an absolute time of stream t = 0 (Unix s, e.g. ``clock.start.timestamp()``). Stream times
        are stored as ``origin_s + t``, so a restarted stream (whose t = 0 is elsewhere) reads them back right;
        0 keeps them on the stream's own clock. Every dataclass field is included (an unclassified new field
        is an error), infinities become None.
        """
        out: dict[str, Any] = {}
        for name in self._state_fields():
            value = getattr(self, name)
            key = name.lstrip("_")
            if name in self._TIME_FIELDS:
                out[key] = None if value is None or not math.isfinite(value) else origin_s + value
            elif name in self._DATE_FIELDS:
                out[key] = None if value is None else value.isoformat()
            elif name == "_last_fired":
                out[key] = {kind: origin_s + t for kind, t in value.items()}
            else:
                out[key] = value
        return out

    def restore(self, state: dict[str, Any], origin_s: float = 0.0) -> None:
        """Load :meth:`state` (made with the same meaning of ``origin_s``: the absolute time of this stream's
        t = 0). Missing keys (a state file of an older version) keep their defaults; a malformed value raises
        ValueError or TypeError."""
        defaults = AlertRules(self.params, self.wearer)
        for name in self._state_fields():
            key = name.lstrip("_")
            if key not in state:
                setattr(self, name, getattr(defaults, name))
                continue
            value = state[key]
            if name in self._TIME_FIELDS:
                none = math.inf if name == "_exercise_due_t" else None
                value = none if value is None else float(value) - origin_s
            elif name in self._DATE_FIELDS:
                value = None if value is None else date.fromisoformat(str(value))
            elif name == "_last_fired":
                if not isinstance(value, dict):
                    raise TypeError("last_fired must be an object")
                value = {str(k): float(v) - origin_s for k, v in value.items() if k in EVENT_TYPES}
            elif name == "suppressed":
                value = int(value)
            elif name == "_next_sitting_alert_s":
                value = None if value is None else float(value)
            else:
                value = bool(value)
            setattr(self, name, value)

    # -- firing ------------------------------------------------------------------------------------------

    def _fire(
        self, kind: str, t: float, clock: LocalClock, message: str, fields: dict[str, Any], key: str | None = None
    ) -> list[Alert]:
        last = self._last_fired.get(kind)
        if last is not None and t - last < self.params.cooldown(kind):
            return []
        local = clock.local(t)
        quiet = self.params.quiet_window()
        if quiet is not None and _in_window(local.time(), quiet):
            self.suppressed += 1
            return []
        self._last_fired[kind] = t
        stamp = key or local.strftime("%Y%m%dT%H%M%S")
        return [Alert(f"{self.wearer}-{kind}-{stamp}", kind, t, local, message, fields)]

    def step(
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
        out: list[Alert] = []
        p = self.params
        day = clock.day(t)
        # Prolonged sitting: at 30 min of bout, then every 10 min while it lasts.
        if bout_s <= 0.0 or self._next_sitting_alert_s is None:
            self._next_sitting_alert_s = p.prolonged_sitting_s
        if bout_s >= self._next_sitting_alert_s:
            out += self._fire(
                "prolonged_sitting",
                t,
                clock,
                f"You have been sitting for {_minutes(bout_s)}: stand up and move for a minute or two.",
                {"sitting_bout_s": round(bout_s)},
            )
            self._next_sitting_alert_s += p.prolonged_sitting_repeat_s
        # Anterior tilt while standing, tolerant of brief corrections.
        tilted = activity == STANDING and not math.isnan(tilt_deg) and tilt_deg >= p.anterior_tilt_deg
        if tilted:
            if self._tilt_since is None:
                self._tilt_since = t
            self._tilt_last = t
            held = t + 1.0 - self._tilt_since
            if not self._tilt_fired and held >= p.anterior_tilt_s:
                self._tilt_fired = True
                out += self._fire(
                    "anterior_tilt",
                    t,
                    clock,
                    f"Your pelvis has been tipped forward by about {tilt_deg:.0f}° for {_minutes(held)} while "
                    "standing: tuck it gently back.",
                    {"tilt_deg": round(tilt_deg, 1), "duration_s": round(held)},
                )
        elif self._tilt_since is not None:
            last = self._tilt_last if self._tilt_last is not None else t
            if t + 1.0 - last > p.anterior_tilt_tolerance_s or activity == SITTING:
                self._tilt_since = None
                self._tilt_fired = False
        # Daily sitting budget: once per local day.
        if sitting_today_s >= p.daily_sitting_goal_s and self._budget_day != day:
            self._budget_day = day
            out += self._fire(
                "daily_sitting_budget",
                t,
                clock,
                f"You have sat for {sitting_today_s / 3600.0:.1f} h today, past your goal of "
                f"{p.daily_sitting_goal_s / 3600.0:.1f} h.",
                {"sitting_today_s": round(sitting_today_s), "goal_s": round(p.daily_sitting_goal_s)},
                key=day.isoformat(),
            )
        # Exercise reminder at a local time, once per day.
        if p.exercise_reminder_at and self._exercise_day != day:
            if self._exercise_due_t == math.inf or clock.day(self._exercise_due_t) != day:
                self._exercise_due_t = clock.stream_time(day, parse_hhmm(p.exercise_reminder_at, "at"))
            if t >= self._exercise_due_t:
                # Only when the stream crosses the reminder time: not when it starts (or restarts) after it.
                crossed = self._last_t is not None and self._last_t < self._exercise_due_t
                self._exercise_day = day
                if not crossed:
                    exercise_today_s = math.inf
                if exercise_today_s < p.exercise_goal_s:
                    out += self._fire(
                        "exercise_reminder",
                        t,
                        clock,
                        f"Time for your hip-flexor and core exercises: {_minutes(exercise_today_s)} of "
                        f"{_minutes(p.exercise_goal_s)} done today.",
                        {"exercise_today_s": round(exercise_today_s), "goal_s": round(p.exercise_goal_s)},
                        key=day.isoformat(),
                    )
        self._last_t = t
        return out

    def on_link(self, *, t: float, clock: LocalClock, connected: bool, device: str = "") -> list[Alert]:
        """The sensor link went down (``connected=False``) or came back, at stream time ``t``."""
        if connected:
            self._disconnected_since = None
            self._disconnect_fired = False
            return []
        if self._disconnected_since is None:
            self._disconnected_since = t
        return self.tick(t=t, clock=clock, device=device)

    def tick(self, *, t: float, clock: LocalClock, device: str = "") -> list[Alert]:
        """Time passes without samples (the runtime calls this while the sensor is away)."""
        since = self._disconnected_since
        if since is None or self._disconnect_fired or t - since < self.params.disconnected_after_s:
            return []
        self._disconnect_fired = True
        return self._fire(
            "sensor_disconnected",
            t,
            clock,
            f"The posture sensor{' ' + device if device else ''} has been out of reach for "
            f"{_minutes(t - since)}: is it clipped on and charged?",
            {"device": device, "since_s": round(t - since)},
        )

    def on_battery(self, *, t: float, clock: LocalClock, battery_pct: float) -> list[Alert]:
        if battery_pct > self.params.battery_low_pct + 5.0:
            self._battery_fired = False  # charged again: re-arm
            return []
        if battery_pct > self.params.battery_low_pct or self._battery_fired:
            return []
        self._battery_fired = True
        return self._fire(
            "battery_low",
            t,
            clock,
            f"The posture sensor's battery is at {battery_pct:.0f} %: charge it tonight.",
            {"battery_pct": round(battery_pct)},
        )

    def on_recalibrate(self, *, t: float, clock: LocalClock, reason: str) -> list[Alert]:
        return self._fire(
            "recalibrate",
            t,
            clock,
            f"The sensor seems to have moved on your belt ({reason}): stand still in neutral for a few "
            "seconds, then walk a few steps, to recalibrate.",
            {"reason": reason},
        )
