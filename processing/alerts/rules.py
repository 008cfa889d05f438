"""The alert rules: the kinds and the gate composed (:class:`AlertRules`), with the whole saved state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from processing.alerts.base import Alert, AlertParams, parse_hhmm
from processing.alerts.gate import AlertGate
from processing.alerts.kinds import (
    AlertEpoch,
    AnteriorTilt,
    BatteryLow,
    DailySittingBudget,
    ExerciseReminder,
    ProlongedSitting,
    Recalibrate,
    SensorDisconnected,
)
from processing.alerts.state import STATE_VERSION, StatefulPart, migrate_state
from processing.clock import LocalClock


class AlertRules:
    """The alert rules: each kind a part with its own state, composed. Feed every epoch to :meth:`update`;
    sensor notices to :meth:`link`, :meth:`tick`, :meth:`battery` and :meth:`recalibrate`.

    >>> from datetime import UTC, datetime
    >>> from processing.activity import SITTING
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
