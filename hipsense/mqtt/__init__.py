"""MQTT output for one wearer: retained state, durable alerts and Home Assistant discovery.

Modules: :mod:`~hipsense.mqtt.settings` (broker URL, TLS, credentials, base topics),
:mod:`~hipsense.mqtt.payloads` (the state, alert, link and last-alert JSON, defined once),
:mod:`~hipsense.mqtt.connection` (the MQTT v5 session: TLS, Last Will, reconnect), :mod:`~hipsense.mqtt.state`
(retained state, de-duplicated), :mod:`~hipsense.mqtt.delivery` (the alert pump over the outbox),
:mod:`~hipsense.mqtt.homeassistant` (discovery on the wire), :mod:`~hipsense.mqtt.subscription` (inbound
messages as a bounded subscription the runtime iterates) and :mod:`~hipsense.mqtt.publisher` (:class:`Publisher`:
the parts put together for one wearer). Import the public names from here.
"""

from __future__ import annotations

from hipsense.mqtt.payloads import (
    STATE_FIELDS,
    StateMessage,
    last_alert_document,
    link_document,
    state_payload,
    to_json,
)
from hipsense.mqtt.publisher import Publisher, publisher_from_config
from hipsense.mqtt.settings import (
    DEFAULT_PORTS,
    BrokerError,
    BrokerSettings,
    base_topic_for,
    refusal_error,
    settings_from_config,
    validate_base_topic,
)
from hipsense.mqtt.subscription import InboundMessage, Subscription

__all__ = [
    "DEFAULT_PORTS",
    "STATE_FIELDS",
    "BrokerError",
    "BrokerSettings",
    "InboundMessage",
    "Publisher",
    "StateMessage",
    "Subscription",
    "base_topic_for",
    "last_alert_document",
    "link_document",
    "publisher_from_config",
    "refusal_error",
    "settings_from_config",
    "state_payload",
    "to_json",
    "validate_base_topic",
]
