"""The retained documents of one wearer: the ``state`` (de-duplicated, with a heartbeat) and the others.

- ``<base>/state``: retained JSON, QoS 0. Never queued while offline: the latest state wins and is published on
  reconnect. With MQTT v5 it carries a message expiry (``expiry_s``) so a stale state disappears from the broker;
  it is sent when it changes (apart from ``time`` and ``seq``) or, unchanged, every ``heartbeat_s``.
- ``<base>/link`` and ``<base>/alert/last`` (:meth:`StatePublisher.publish_kept`): retained, QoS 1, kept and
  published again on every connect, so the broker holds the latest one even after an outage.
- ``<base>/<name>`` (:meth:`StatePublisher.publish_retained`, e.g. ``goals``): retained, QoS 1, only while
  connected.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from hipsense.mqtt.connection import Connection
from hipsense.mqtt.payloads import to_json

#: Sub-topics of :meth:`StatePublisher.publish_kept`: the sensor link and the last alert.
KEPT_TOPICS = ("link", "alert/last")


class StatePublisher:
    """Publishes one wearer's retained documents on ``connection`` under ``base_topic``.

    expiry_s: MQTT v5 message expiry of the retained state, seconds.
    heartbeat_s: re-publish an unchanged state after this many seconds.
    """

    def __init__(self, connection: Connection, *, base_topic: str, expiry_s: int, heartbeat_s: float) -> None:
        self.connection = connection
        self.base_topic = base_topic
        self.state_topic = f"{base_topic}/state"
        self.heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self._latest: str | None = None
        self._last_key: str | None = None
        self._last_sent = -math.inf
        self._seq = 0
        self._props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self._props.MessageExpiryInterval = expiry_s
        self._kept: dict[str, str] = {}  # retained documents re-sent on every connect (publish_kept)
        connection.when_connected(self._resend)

    def publish_state(self, state: Mapping[str, Any]) -> bool:
        """Publish ``state`` (retained, QoS 0) if it changed or the heartbeat is due. Returns True if sent.

        While offline nothing is queued: the latest state is kept and sent on reconnect. ``seq`` is added
        (counting from 1) if missing.
        """
        body = dict(state)
        with self._lock:
            self._seq += 1
            body.setdefault("seq", self._seq)
            payload = to_json(body)
            key = to_json({k: v for k, v in body.items() if k not in ("time", "seq")})
            now = time.monotonic()
            due = key != self._last_key or now - self._last_sent >= self.heartbeat_s
            self._latest = payload
            if not due or not self.connection.connected:
                return False
            info = self.connection.publish(self.state_topic, payload, qos=0, retain=True, properties=self._props)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return False
            self._last_key = key
            self._last_sent = now
            return True

    def publish_retained(self, name: str, document: Mapping[str, Any]) -> bool:
        """Publish ``document`` as retained JSON on ``<base>/<name>`` (QoS 1) if connected; never queued.

        For slowly changing documents such as goal progress (``goals``). Returns True if handed to the broker.
        """
        if not re.fullmatch(r"[a-z0-9_-]+", name) or name in ("state", "alert", "availability"):
            raise ValueError(f"{name!r} is not a free topic name under {self.base_topic}")
        if not self.connection.connected:
            return False
        info = self.connection.publish(f"{self.base_topic}/{name}", to_json(document), qos=1, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def publish_kept(self, name: str, document: Mapping[str, Any]) -> bool:
        """Publish ``document`` retained (QoS 1) on ``<base>/<name>`` and keep it: it is published again on
        every (re)connect. ``name`` is one of :data:`KEPT_TOPICS`. Returns True if handed to the broker now."""
        if name not in KEPT_TOPICS:
            raise ValueError(f"{name!r} is not one of {KEPT_TOPICS}")
        payload = to_json(document)
        with self._lock:
            self._kept[name] = payload
        if not self.connection.connected:
            return False
        info = self.connection.publish(f"{self.base_topic}/{name}", payload, qos=1, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def _resend(self) -> None:
        """On every connect (network thread): the latest state and the kept documents."""
        with self._lock:
            latest = self._latest
            self._last_sent = time.monotonic()
            self._last_key = None  # let the next publish_state through whatever it holds
            kept = list(self._kept.items())
        if latest is not None:
            self.connection.publish(self.state_topic, latest, qos=0, retain=True, properties=self._props)
        for name, payload in kept:
            self.connection.publish(f"{self.base_topic}/{name}", payload, qos=1, retain=True)
