"""Home Assistant discovery on the wire: the configs :mod:`hipsense.discovery` builds, published retained (QoS 1)
on every connect and again whenever ``<prefix>/status`` says ``online`` (Home Assistant restarted).

A flood of ``online`` gives at most one re-send per :data:`DISCOVERY_RESEND_MIN_S`, and the last ``online`` is
always answered (a trailing re-send at the end of the interval): the configs are retained, so a re-send dropped
within the interval loses nothing.
"""

from __future__ import annotations

import logging
import threading

from hipsense.discovery import DiscoveryMessage
from hipsense.inbound import Coalescer
from hipsense.mqtt.connection import Connection
from hipsense.mqtt.payloads import to_json

log = logging.getLogger("hipsense.mqtt")  # one logger name for the whole package

#: Discovery is re-sent on ``homeassistant/status`` ``online`` at most once per this many seconds.
DISCOVERY_RESEND_MIN_S = 5.0
#: The largest ``<prefix>/status`` payload looked at, bytes (Home Assistant sends ``online`` or ``offline``).
MAX_STATUS_BYTES = 64


class DiscoveryPublisher:
    """Publishes ``messages`` (Home Assistant discovery configs) on ``connection`` and answers ``<prefix>/status``."""

    def __init__(self, connection: Connection, messages: list[DiscoveryMessage], *, prefix: str) -> None:
        self.connection = connection
        #: The discovery configs, sent as they are on every connect and re-send.
        self.messages = messages
        self.status_topic = f"{prefix}/status"
        self._gate = Coalescer(DISCOVERY_RESEND_MIN_S)
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False
        connection.subscribe(self.status_topic, self._status)
        connection.when_connected(self._connected)

    def close(self) -> None:
        """Cancel a pending re-send (idempotent)."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()

    def _publish(self) -> None:
        for msg in self.messages:
            self.connection.publish(msg.topic, to_json(msg.payload), qos=1, retain=True)

    def _connected(self) -> None:
        with self._lock:
            self._publish()
            self._gate.mark()

    def _status(self, payload: bytes, retained: bool) -> None:
        if len(payload) <= MAX_STATUS_BYTES and payload.strip() == b"online":
            self._requested()

    def _requested(self) -> None:
        """Re-send discovery now, or once at the end of the interval if one was sent within the last
        DISCOVERY_RESEND_MIN_S."""
        with self._lock:
            if self._gate.allow():
                log.info("Home Assistant came online; re-sending discovery")
                self._publish()
            elif self._timer is None and not self._closed:
                timer = threading.Timer(self._gate.wait_s(), self.connection.guarded(self._due))
                timer.daemon = True
                self._timer = timer
                timer.start()

    def _due(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed or not self.connection.connected:
                return
            self._gate.mark()
            log.info("Home Assistant came online; re-sending discovery")
            self._publish()
