"""The JSON the publisher sends (docs/contracts.md, MQTT), each defined once, here: the ``state`` message, alerts,
the sensor ``link`` and the ``alert/last`` documents."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime
from typing import Any

from hipsense.discovery import ALERT_EVENT_TYPES
from processing.activity import ACTIVITIES
from processing.alerts import Alert
from processing.pipeline import Epochs


@dataclass(frozen=True, slots=True)
class StateMessage:
    """The ``<base>/state`` JSON (docs/contracts.md, MQTT), field by field in the order published.

    The one definition of the state message: :data:`STATE_FIELDS` and :func:`state_payload` derive from it.
    tilt_deg, obliquity_deg: degrees to 0.1, None while unknown. sitting_*_s: whole seconds; sitting_*_min:
    whole minutes, for phone MQTT panels that show a JSON field as it is. battery_pct: None if unknown.
    """

    time: str
    activity: str
    tilt_deg: float | None
    obliquity_deg: float | None
    sitting_bout_s: int
    sitting_today_s: int
    calibrated: bool
    battery_pct: float | None
    seq: int
    sitting_bout_min: int
    sitting_today_min: int


#: Fields of the ``<base>/state`` JSON (docs/contracts.md).
STATE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(StateMessage))


def state_payload(epochs: Epochs, i: int, *, time_iso: str, seq: int, battery_pct: float | None) -> dict[str, Any]:
    """The MQTT ``state`` JSON of epoch ``i`` (fields fixed by the MQTT contract in docs/contracts.md)."""
    tilt = float(epochs.tilt_deg[i])
    obl = float(epochs.obliquity_deg[i])
    bout_s = round(float(epochs.sitting_bout_s[i]))
    today_s = round(float(epochs.sitting_today_s[i]))
    message = StateMessage(
        time=time_iso,
        activity=ACTIVITIES[int(epochs.activity[i])],
        tilt_deg=None if math.isnan(tilt) else round(tilt, 1),
        obliquity_deg=None if math.isnan(obl) else round(obl, 1),
        sitting_bout_s=bout_s,
        sitting_today_s=today_s,
        calibrated=bool(epochs.calibrated[i]),
        battery_pct=battery_pct,
        seq=seq,
        sitting_bout_min=bout_s // 60,
        sitting_today_min=today_s // 60,
    )
    return asdict(message)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return _jsonable(item())
    raise TypeError(f"cannot publish a {type(value).__name__} as JSON")


def to_json(obj: Mapping[str, Any]) -> str:
    """Compact JSON; NaN and infinities become null, numpy scalars plain numbers, datetimes ISO 8601."""
    return json.dumps(_jsonable(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _alert_body(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Validate an alert and return a JSON-ready copy (ValueError on a malformed one: a programming error)."""
    body: dict[str, Any] = _jsonable(alert)
    event_type = body.get("event_type")
    if event_type not in ALERT_EVENT_TYPES:
        raise ValueError(f"alert event_type {event_type!r} is not one of {', '.join(ALERT_EVENT_TYPES)}")
    if not isinstance(body.get("message"), str) or not body["message"]:
        raise ValueError(f"alert {event_type} has no message")
    stamp = body.get("time")
    try:
        parsed = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(f"alert {event_type} time {stamp!r} is not ISO 8601 with a UTC offset")
    if "id" in body and (not isinstance(body["id"], str) or not body["id"]):
        raise ValueError(f"alert {event_type} id {body['id']!r} must be a non-empty string")
    return body


def link_document(connected: bool, when: datetime, *, device: str = "", detail: str = "") -> dict[str, Any]:
    """The retained ``<base>/link`` JSON (docs/contracts.md): ``state`` (``connected`` / ``disconnected``),
    ``time`` of the change (ISO 8601 with offset), ``device``, ``detail``."""
    return {
        "state": "connected" if connected else "disconnected",
        "time": when.isoformat(timespec="seconds"),
        "device": device,
        "detail": detail[:200],
    }


def last_alert_document(alert: Alert, alert_id: str | None = None) -> dict[str, Any]:
    """The retained ``<base>/alert/last`` JSON: ``id``, ``kind`` (the event type), ``time``, ``message``."""
    return {
        "id": alert_id or alert.id,
        "kind": alert.event_type,
        "time": alert.time.isoformat(timespec="seconds"),
        "message": alert.message,
    }
