"""The alert kinds' names and default cool-downs, the alert parameters (:class:`AlertParams`) and the alert
sent (:class:`Alert`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

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


__all__ = ["DEFAULT_COOLDOWN_S", "EVENT_TYPES", "Alert", "AlertParams", "parse_hhmm"]
