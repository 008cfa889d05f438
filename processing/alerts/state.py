"""The alert rules' saved state: how each state field is saved (:func:`rule_state` and the field metadata
:data:`STREAM_TIME`, ...), the part that owns a state (:class:`RulePart`), and the versioned format with the
migration of the flat format of earlier versions (:data:`STATE_VERSION`, :func:`migrate_state`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, fields
from datetime import date
from typing import Any, Generic, Protocol, TypeVar

from processing.alerts.base import EVENT_TYPES


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


class RulePart(Generic[_M]):
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


__all__ = [
    "COUNT",
    "FLAG",
    "LOCAL_DATE",
    "SECONDS",
    "STATE_VERSION",
    "STREAM_TIME",
    "STREAM_TIMES",
    "RulePart",
    "StatefulPart",
    "migrate_state",
    "rule_state",
]
