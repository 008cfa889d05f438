"""Alert delivery: the pump that hands alerts from the durable outbox to the MQTT client, oldest first.

Every alert goes to the durable :class:`~hipsense.outbox.Outbox` first and leaves it only when
the broker's PUBACK arrives (tracked with ``on_publish``; paho's ``publish()`` returns ``MQTT_ERR_NO_CONN``
while offline even though it queues the message). One thread (the *pump*) owns the hand-over: it gives paho
at most ``window`` alerts at a time, oldest first, and never overtakes alerts that paho still holds from an
earlier connection (paho re-sends those itself right after the reconnect, in order). So alerts reach the
broker in outbox order across broker outages and process restarts. Delivery is at least once: an alert can
reach a subscriber twice (an in-flight alert re-sent after a reconnect, or a process killed between the
broker's receipt and the PUBACK being recorded). The ``id`` is the same on every re-send, so subscribers
drop duplicates by ``id`` (``hipsense alerts`` does).

:func:`pump_alerts` is the pump itself (tested without a broker); :class:`AlertSender` runs it on its own thread
over a :class:`~hipsense.mqtt.connection.Connection`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from hipsense.outbox import Outbox

if TYPE_CHECKING:
    from hipsense.mqtt.connection import Connection

log = logging.getLogger("hipsense.mqtt")  # one logger name for the whole package, as before the split


@dataclass(frozen=True, slots=True)
class Ack:
    mid: int
    reason: ReasonCode


@dataclass(frozen=True, slots=True)
class Link:
    connected: bool


WAKE = "wake"
STOP = "stop"


class Handed(Protocol):
    """What the MQTT client returns for a publish: its result code and message id (paho's MQTTMessageInfo)."""

    @property
    def rc(self) -> int: ...

    @property
    def mid(self) -> int: ...


def pump_alerts(
    events: queue.SimpleQueue[object],
    outbox: Outbox,
    publish: Callable[[str, str], Handed],
    *,
    window: int,
    progress: threading.Condition,
    broker_url: str,
) -> None:
    """Run the pump until :data:`STOP` arrives: the only code that hands alerts to the client and records acks.

    events: :data:`WAKE` (new alerts in the outbox), :class:`Ack` (PUBACK of a message id), :class:`Link`
    (connected or not) and :data:`STOP`. publish(topic, payload) hands one alert to the client (QoS 1, not
    retained). At most ``window`` alerts are in flight; ``progress`` is notified after each batch of work.
    """
    inflight: dict[int, int] = {}  # paho mid -> outbox seq, for alerts paho holds
    cursor = 0  # highest outbox seq handed to paho
    connected = False
    # After a reconnect paho re-sends the alerts it still holds, right after on_connect returns. A new
    # alert handed over before that would overtake them, so new ones wait for the first PUBACK (which
    # comes after the re-sends) unless paho holds none.
    settled = False
    while True:
        try:
            event = events.get(timeout=1.0)
        except queue.Empty:
            continue
        stop = False
        while True:
            if event is STOP:
                stop = True
            elif isinstance(event, Ack):
                seq = inflight.pop(event.mid, None)
                if seq is not None:
                    settled = True
                    if event.reason.is_failure:
                        log.warning(
                            "%s refused alert #%d (%s); it stays in the outbox for the next run",
                            broker_url,
                            seq,
                            event.reason,
                        )
                    else:
                        outbox.ack(seq)
            elif isinstance(event, Link):
                connected = event.connected
                settled = connected and not inflight
            try:
                event = events.get_nowait()
            except queue.Empty:
                break
        if stop:
            break
        if not inflight or (connected and settled):
            free = window - len(inflight)
            for entry in outbox.pending(after_seq=cursor, limit=free) if free > 0 else []:
                info = publish(entry.topic, entry.payload)
                if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                    log.warning("MQTT client could not queue alert #%d (%s)", entry.seq, info.rc)
                    break
                inflight[info.mid] = entry.seq
                cursor = entry.seq
        with progress:
            progress.notify_all()


class AlertSender:
    """The durable alert channel of one connection: the outbox on disk and the pump thread that empties it.

    connection: the MQTT connection (its connects, disconnects and PUBACKs reach the pump as events).
    outbox_path: the SQLite outbox file. topic: where alerts go. window: alerts in flight without PUBACK.
    """

    def __init__(self, connection: Connection, *, outbox_path: Path, topic: str, window: int) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.connection = connection
        self.outbox_path = outbox_path
        self.topic = topic
        self.window = window
        self._outbox: Outbox | None = None
        # Messages for the pump thread: Ack, Link, WAKE, STOP.
        self._events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._progress = threading.Condition()  # notified by the pump after each batch of work
        connection.when_connected(lambda: self._events.put(Link(connected=True)))
        connection.when_disconnected(lambda: self._events.put(Link(connected=False)))
        connection.when_acknowledged(lambda mid, reason: self._events.put(Ack(mid, reason)))

    @property
    def pending(self) -> int:
        """Alerts in the outbox not yet acknowledged by the broker."""
        return len(self._outbox) if self._outbox is not None else 0

    def open(self) -> None:
        """Open the outbox and start the pump (before the connection opens: it hears of the first connect)."""
        self._outbox = Outbox(self.outbox_path)
        self._thread = threading.Thread(target=self._pump, name="hipsense-mqtt-pump", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Let the pump look at the outbox (after the connection opens: alerts left from an earlier run go out
        first, in order)."""
        self._events.put(WAKE)

    def put(self, body: Mapping[str, Any]) -> str:
        """Store one validated alert body durably and wake the pump; returns the alert's id."""
        assert self._outbox is not None
        entry = self._outbox.put(self.topic, body)
        self._events.put(WAKE)
        return entry.alert_id

    def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every alert is acknowledged. Returns True if the outbox is empty."""
        deadline = time.monotonic() + timeout_s
        with self._progress:
            while self.pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(min(left, 0.1))
        return True

    def close(self) -> None:
        """Stop the pump and close the outbox, without waiting for acknowledgements."""
        self._events.put(STOP)
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        if self._outbox is not None:
            self._outbox.close()

    def _pump(self) -> None:
        assert self._outbox is not None
        pump_alerts(
            self._events,
            self._outbox,
            lambda topic, payload: self.connection.publish(topic, payload, qos=1, retain=False),
            window=self.window,
            progress=self._progress,
            broker_url=self.connection.broker.url,
        )
