"""Home Assistant MQTT discovery messages for one wearer (pure: builds topics and payloads, sends nothing).

Each entity gets its own retained config message on
``<prefix>/<component>/hipsense_<wearer>/<key>/config``, all sharing one ``device`` block (so Home Assistant
shows one device per wearer) and one ``origin`` block. Availability: every entity follows hipsense's own
``<base>/availability`` (``online`` / ``offline``, the Last Will); the *posture* entities also follow the sensor
link ``<base>/link`` (``availability_mode: all``), so they are unavailable while the sensor is away instead of
showing the last activity and tilt for hours. The state entities read fields of the retained JSON on
``<base>/state`` with a ``value_template``; the event entity reads ``<base>/alert``.

===================  =============  =========  =================================================================
key                  component      follows    what
===================  =============  =========  =================================================================
pelvic_tilt          sensor         posture    ``tilt_deg``, unit °, anterior positive (no device class exists)
activity             sensor         posture    ``device_class: enum``; ``unknown`` renders None (HA's unknown)
sitting_today        sensor         app        ``sitting_today_s``, ``device_class: duration``, unit s
sitting_bout         sensor         posture    ``sitting_bout_s``, the current sitting bout, duration, s
sitting_too_long     binary_sensor  posture    on while ``sitting_bout_s`` >= the prolonged-sitting limit
obliquity            sensor         posture    ``obliquity_deg``, unit °, left crest up positive
battery              sensor         posture    ``battery_pct``, ``device_class: battery``, %, diagnostic
sensor_connected     binary_sensor  app        ``<base>/link`` state, ``device_class: connectivity``, diagnostic
calibrated           binary_sensor  posture    ``calibrated``, diagnostic
goal_progress        sensor         app        ``<base>/goals``: % of goal-days met so far, goals as attributes
last_alert           sensor         app        ``<base>/alert/last``: its message; id, kind, time as attributes
alerts               event          app        one event per alert, ``event_types`` = the alert vocabulary
===================  =============  =========  =================================================================

A template that renders ``None`` (a null field, e.g. tilt while uncalibrated) makes Home Assistant's MQTT
sensor show "unknown". ``integrations/homeassistant/check.py`` runs Home Assistant's own schemas and template
engine on all of it.

>>> msgs = discovery_messages(wearer="anna", base_topic="hipsense/anna")
>>> [m.topic for m in msgs][:2]
['homeassistant/sensor/hipsense_anna/pelvic_tilt/config', 'homeassistant/sensor/hipsense_anna/activity/config']
>>> msgs[0].payload["unit_of_measurement"], msgs[0].payload["unique_id"], msgs[0].payload["availability_mode"]
('°', 'hipsense_anna_pelvic_tilt', 'all')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hipsense import __version__
from processing.activity import ACTIVITIES as _ACTIVITIES
from processing.alerts import EVENT_TYPES

__all__ = [
    "ACTIVITIES",
    "ACTIVITY_OPTIONS",
    "ALERT_EVENT_TYPES",
    "DEFAULT_DISCOVERY_PREFIX",
    "PROJECT_URL",
    "DiscoveryMessage",
    "discovery_messages",
    "entity_keys",
    "validate_wearer",
]

DEFAULT_DISCOVERY_PREFIX = "homeassistant"

#: The activity vocabulary (docs/contracts.md).
ACTIVITIES: tuple[str, ...] = _ACTIVITIES

#: The enum sensor's options: the vocabulary without ``unknown``, which Home Assistant shows as its own
#: unknown state (the template renders None), not as a word that reads like a fifth activity.
ACTIVITY_OPTIONS: tuple[str, ...] = tuple(a for a in _ACTIVITIES if a != "unknown")

#: The alert ``event_type`` vocabulary (docs/contracts.md, MQTT), as the event entity's event types.
ALERT_EVENT_TYPES: tuple[str, ...] = EVENT_TYPES

_WEARER_RE = re.compile(r"[a-z0-9_-]{1,64}")


def validate_wearer(wearer: str) -> str:
    """Return ``wearer`` if it is a valid wearer id (1-64 of ``a-z 0-9 _ -``), else raise ValueError."""
    if not _WEARER_RE.fullmatch(wearer):
        raise ValueError(f"wearer id {wearer!r} is not valid: use 1 to 64 lower-case letters, digits, '_' or '-'")
    return wearer


@dataclass(frozen=True, slots=True)
class DiscoveryMessage:
    """One retained discovery config: ``payload`` is the JSON object to publish on ``topic``."""

    topic: str
    payload: dict[str, Any]


#: Where the project lives (the discovery ``origin`` block's ``support_url``).
PROJECT_URL = "https://github.com/hipsense/hipsense"

#: Posture entities are unavailable while the sensor is away (``availability_mode: all`` over both topics).
_POSTURE = "posture"
#: Entities that stay meaningful while the sensor is away (day totals, link, alerts): hipsense's own topic.
_APP = "app"


def entity_keys() -> list[tuple[str, str]]:
    """(component, key) of every entity, in publishing order (for clearing them: ``hipsense ha remove``)."""
    return [(m.topic.split("/")[-4], m.topic.split("/")[-2]) for m in discovery_messages(wearer="x", base_topic="x")]


def discovery_messages(
    *,
    wearer: str,
    base_topic: str,
    prefix: str = DEFAULT_DISCOVERY_PREFIX,
    sitting_limit_s: float = 1800.0,
) -> list[DiscoveryMessage]:
    """The discovery configs for ``wearer`` whose topics live under ``base_topic``.

    sitting_limit_s: sitting bout length, in seconds, from which "sitting too long" is on (the
    prolonged-sitting alert threshold).
    """
    validate_wearer(wearer)
    if sitting_limit_s <= 0:
        raise ValueError(f"sitting_limit_s must be > 0, got {sitting_limit_s}")
    node = f"hipsense_{wearer}"
    state_topic = f"{base_topic}/state"
    app_availability = {
        "topic": f"{base_topic}/availability",
        "payload_available": "online",
        "payload_not_available": "offline",
    }
    link_availability = {
        "topic": f"{base_topic}/link",
        "value_template": "{{ value_json.state }}",
        "payload_available": "connected",
        "payload_not_available": "disconnected",
    }
    availability: dict[str, dict[str, Any]] = {
        _APP: {"availability": [app_availability]},
        _POSTURE: {"availability": [app_availability, link_availability], "availability_mode": "all"},
    }
    common: dict[str, Any] = {
        "device": {
            "identifiers": [node],
            "name": f"hipsense {wearer}",
            "manufacturer": "hipsense",
            "model": "hip-worn posture sensor",
            "sw_version": __version__,
        },
        "origin": {
            "name": "hipsense",
            "sw_version": __version__,
            "support_url": PROJECT_URL,
        },
    }
    limit = f"{sitting_limit_s:g}"
    known = ", ".join(repr(a) for a in ACTIVITY_OPTIONS)
    entities: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "sensor",
            "pelvic_tilt",
            _POSTURE,
            {
                "name": "Pelvic tilt",
                "state_topic": state_topic,
                "value_template": "{{ value_json.tilt_deg }}",
                "unit_of_measurement": "°",
                "state_class": "measurement",
                "suggested_display_precision": 1,
                "icon": "mdi:angle-acute",
            },
        ),
        (
            "sensor",
            "activity",
            _POSTURE,
            {
                "name": "Activity",
                "state_topic": state_topic,
                # ``unknown`` (uncalibrated, gap, not worn) becomes Home Assistant's own unknown state.
                "value_template": ("{{ value_json.activity if value_json.activity in [" + known + "] else None }}"),
                "device_class": "enum",
                "options": list(ACTIVITY_OPTIONS),
                "icon": "mdi:human",
            },
        ),
        (
            "sensor",
            "sitting_today",
            _APP,
            {
                "name": "Sitting today",
                "state_topic": state_topic,
                "value_template": "{{ value_json.sitting_today_s }}",
                "device_class": "duration",
                "unit_of_measurement": "s",
                "state_class": "total_increasing",
                "icon": "mdi:seat",
            },
        ),
        (
            "sensor",
            "sitting_bout",
            _POSTURE,
            {
                "name": "Current sitting bout",
                "state_topic": state_topic,
                "value_template": "{{ value_json.sitting_bout_s }}",
                "device_class": "duration",
                "unit_of_measurement": "s",
                "state_class": "measurement",
                "icon": "mdi:timer-sand",
            },
        ),
        (
            "binary_sensor",
            "sitting_too_long",
            _POSTURE,
            {
                "name": "Sitting too long",
                "state_topic": state_topic,
                "value_template": ("{{ 'ON' if (value_json.sitting_bout_s or 0) >= " + limit + " else 'OFF' }}"),
                "payload_on": "ON",
                "payload_off": "OFF",
                "device_class": "problem",
            },
        ),
        (
            "sensor",
            "obliquity",
            _POSTURE,
            {
                "name": "Pelvic obliquity",
                "state_topic": state_topic,
                "value_template": "{{ value_json.obliquity_deg }}",
                "unit_of_measurement": "°",
                "state_class": "measurement",
                "suggested_display_precision": 1,
                "icon": "mdi:angle-acute",
            },
        ),
        (
            "sensor",
            "battery",
            _POSTURE,
            {
                "name": "Sensor battery",
                "state_topic": state_topic,
                "value_template": "{{ value_json.battery_pct }}",
                "device_class": "battery",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "entity_category": "diagnostic",
            },
        ),
        (
            "binary_sensor",
            "sensor_connected",
            _APP,
            {
                "name": "Sensor connected",
                "state_topic": f"{base_topic}/link",
                "value_template": "{{ value_json.state }}",
                "payload_on": "connected",
                "payload_off": "disconnected",
                "json_attributes_topic": f"{base_topic}/link",
                "device_class": "connectivity",
                "entity_category": "diagnostic",
            },
        ),
        (
            "binary_sensor",
            "calibrated",
            _POSTURE,
            {
                "name": "Calibrated",
                "state_topic": state_topic,
                "value_template": "{{ 'ON' if value_json.calibrated else 'OFF' }}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "entity_category": "diagnostic",
                "icon": "mdi:tune-vertical",
            },
        ),
        (
            "sensor",
            "goal_progress",
            _APP,
            {
                "name": "Goal progress",
                "state_topic": f"{base_topic}/goals",
                # Share of goal-days met so far in the goals' period, over every goal.
                "value_template": (
                    "{% set met = value_json.goals | map(attribute='days_met') | sum %}"
                    "{% set counted = value_json.goals | map(attribute='days_counted') | sum %}"
                    "{{ (100 * met / counted) | round(0) if counted else None }}"
                ),
                "json_attributes_topic": f"{base_topic}/goals",
                "unit_of_measurement": "%",
                "state_class": "measurement",
                "icon": "mdi:flag-checkered",
            },
        ),
        (
            "sensor",
            "last_alert",
            _APP,
            {
                "name": "Last alert",
                "state_topic": f"{base_topic}/alert/last",
                "value_template": "{{ value_json.message[:255] }}",
                "json_attributes_topic": f"{base_topic}/alert/last",
                "icon": "mdi:bell-ring",
            },
        ),
        (
            "event",
            "alerts",
            _APP,
            {
                "name": "Alerts",
                "state_topic": f"{base_topic}/alert",
                "event_types": list(ALERT_EVENT_TYPES),
                "qos": 1,
                "icon": "mdi:bell-alert",
            },
        ),
    ]
    return [
        DiscoveryMessage(
            topic=f"{prefix}/{component}/{node}/{key}/config",
            payload={**fields, "unique_id": f"{node}_{key}", **availability[group], **common},
        )
        for component, key, group, fields in entities
    ]
