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

The package: :mod:`~processing.alerts.base` (kinds, parameters, the alert), :mod:`~processing.alerts.kinds` (one small
object per kind), :mod:`~processing.alerts.gate` (cool-downs, quiet hours, ids), :mod:`~processing.alerts.state`
(how the state is saved, the versioned format and its migration), :mod:`~processing.alerts.rules` (them composed).
"""

from processing.alerts.base import DEFAULT_COOLDOWN_S, EVENT_TYPES, Alert, AlertParams, parse_hhmm
from processing.alerts.gate import AlertGate, AlertGateMemory
from processing.alerts.kinds import (
    AlertEpoch,
    AnteriorTilt,
    AnteriorTiltMemory,
    BatteryLow,
    BatteryLowMemory,
    DailySittingBudget,
    DailySittingBudgetMemory,
    ExerciseReminder,
    ExerciseReminderMemory,
    Notice,
    ProlongedSitting,
    ProlongedSittingMemory,
    Recalibrate,
    SensorDisconnected,
    SensorDisconnectedMemory,
)
from processing.alerts.rules import AlertRules
from processing.alerts.state import (
    COUNT,
    FLAG,
    LOCAL_DATE,
    SECONDS,
    STATE_VERSION,
    STREAM_TIME,
    STREAM_TIMES,
    StatefulPart,
    migrate_state,
    rule_state,
)

__all__ = [
    "COUNT",
    "DEFAULT_COOLDOWN_S",
    "EVENT_TYPES",
    "FLAG",
    "LOCAL_DATE",
    "SECONDS",
    "STATE_VERSION",
    "STREAM_TIME",
    "STREAM_TIMES",
    "Alert",
    "AlertEpoch",
    "AlertGate",
    "AlertGateMemory",
    "AlertParams",
    "AlertRules",
    "AnteriorTilt",
    "AnteriorTiltMemory",
    "BatteryLow",
    "BatteryLowMemory",
    "DailySittingBudget",
    "DailySittingBudgetMemory",
    "ExerciseReminder",
    "ExerciseReminderMemory",
    "Notice",
    "ProlongedSitting",
    "ProlongedSittingMemory",
    "Recalibrate",
    "SensorDisconnected",
    "SensorDisconnectedMemory",
    "StatefulPart",
    "migrate_state",
    "parse_hhmm",
    "rule_state",
]
