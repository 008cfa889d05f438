"""Alert rules: pure functions of the 1 s epoch stream. The clock is passed in, never read.

Each rule keeps a little state; :meth:`AlertRules.state` / :meth:`AlertRules.restore` let the application
persist it, so that a restart or reconnect does not send an alert twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from processing.activity import SITTING, STANDING

EVENT_TYPES = (
    "prolonged_sitting",
    "anterior_tilt",
    "daily_sitting_budget",
    "exercise_reminder",
    "sensor_disconnected",
    "battery_low",
    "recalibrate",
)


@dataclass(frozen=True)
class AlertParams:
    """Thresholds: durations in seconds, angles in degrees relative to neutral standing."""

    prolonged_sitting_s: float = 1800.0
    prolonged_sitting_repeat_s: float = 600.0
    anterior_tilt_deg: float = 10.0
    anterior_tilt_s: float = 60.0
    anterior_tilt_tolerance_s: float = 5.0
    daily_sitting_goal_s: float = 8 * 3600.0

    def __post_init__(self) -> None:
        for name in ("prolonged_sitting_s", "prolonged_sitting_repeat_s", "anterior_tilt_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True)
class Alert:
    """An alert for a person. ``id`` is stable: the same alert always gets the same id.

    t: stream time of the epoch that fired it, s; time: local wall time (aware datetime).
    """

    id: str
    event_type: str
    t: float
    time: datetime
    message: str
    fields: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
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


@dataclass
class AlertRules:
    params: AlertParams = field(default_factory=AlertParams)
    wearer: str = "me"
    _next_sitting_alert_s: float | None = None
    _tilt_since: float | None = None
    _tilt_last_ok: float | None = None
    _tilt_fired: bool = False
    _budget_day: date | None = None

    def step(
        self,
        *,
        t: float,
        clock: Callable[[float], datetime],
        day: date,
        activity: int,
        tilt_deg: float,
        bout_s: float,
        sitting_today_s: float,
    ) -> list[Alert]:
        """Advance by one epoch starting at ``t``; ``clock(t)`` gives local wall time, ``day`` the local date."""
        out: list[Alert] = []
        p = self.params
        # Prolonged sitting: at 30 min of bout, then every 10 min while it lasts.
        if bout_s <= 0.0 or self._next_sitting_alert_s is None:
            self._next_sitting_alert_s = p.prolonged_sitting_s
        if self._next_sitting_alert_s is not None and bout_s >= self._next_sitting_alert_s:
            time = clock(t)
            stamp = time.strftime("%Y%m%dT%H%M%S")
            out.append(
                Alert(
                    f"{self.wearer}-prolonged_sitting-{stamp}",
                    "prolonged_sitting",
                    t,
                    time,
                    f"You have been sitting for {_minutes(bout_s)}: stand up and move for a minute or two.",
                    {"sitting_bout_s": round(bout_s)},
                )
            )
            self._next_sitting_alert_s += p.prolonged_sitting_repeat_s
        # Anterior tilt while standing, tolerant of brief corrections.
        tilted = activity == STANDING and tilt_deg == tilt_deg and tilt_deg >= p.anterior_tilt_deg
        if tilted:
            if self._tilt_since is None:
                self._tilt_since = t
            self._tilt_last_ok = t
            if not self._tilt_fired and t + 1.0 - self._tilt_since >= p.anterior_tilt_s:
                self._tilt_fired = True
                time = clock(t)
                stamp = time.strftime("%Y%m%dT%H%M%S")
                out.append(
                    Alert(
                        f"{self.wearer}-anterior_tilt-{stamp}",
                        "anterior_tilt",
                        t,
                        time,
                        f"Your pelvis has been tipped forward by about {tilt_deg:.0f}° for "
                        f"{_minutes(t + 1.0 - self._tilt_since)} while standing: tuck it gently back.",
                        {"tilt_deg": round(tilt_deg, 1), "duration_s": round(t + 1.0 - self._tilt_since)},
                    )
                )
        elif self._tilt_since is not None:
            last = self._tilt_last_ok if self._tilt_last_ok is not None else t
            if t + 1.0 - last > p.anterior_tilt_tolerance_s or activity == SITTING:
                self._tilt_since = None
                self._tilt_fired = False
        # Daily sitting budget: once per local day.
        if sitting_today_s >= p.daily_sitting_goal_s and self._budget_day != day:
            self._budget_day = day
            time = clock(t)
            out.append(
                Alert(
                    f"{self.wearer}-daily_sitting_budget-{day.isoformat()}",
                    "daily_sitting_budget",
                    t,
                    time,
                    f"You have sat for {sitting_today_s / 3600.0:.1f} h today, past your goal of "
                    f"{p.daily_sitting_goal_s / 3600.0:.1f} h.",
                    {"sitting_today_s": round(sitting_today_s), "goal_s": round(p.daily_sitting_goal_s)},
                )
            )
        return out
