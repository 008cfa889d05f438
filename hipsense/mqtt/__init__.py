"""MQTT output for one wearer: retained state, durable alerts and Home Assistant discovery.

Modules: :mod:`~hipsense.mqtt.settings` (broker URL, TLS, credentials, base topics),
:mod:`~hipsense.mqtt.payloads` (the state and alert JSON, defined once), :mod:`~hipsense.mqtt.delivery` (the
alert pump over the outbox) and :mod:`~hipsense.mqtt.publisher` (:class:`Publisher`: the connection, state,
discovery and the inbound exercise inbox). Import the public names from here.
"""

from __future__ import annotations

from hipsense.mqtt.payloads import STATE_FIELDS, StateMessage, state_payload, to_json
from hipsense.mqtt.publisher import InboundMessage, Publisher, publisher_from_config
from hipsense.mqtt.settings import (
    DEFAULT_PORTS,
    BrokerError,
    BrokerSettings,
    base_topic_for,
    refusal_error,
    settings_from_config,
    validate_base_topic,
)

__all__ = [
    "DEFAULT_PORTS",
    "STATE_FIELDS",
    "BrokerError",
    "BrokerSettings",
    "InboundMessage",
    "Publisher",
    "StateMessage",
    "base_topic_for",
    "publisher_from_config",
    "refusal_error",
    "settings_from_config",
    "state_payload",
    "to_json",
    "validate_base_topic",
]
