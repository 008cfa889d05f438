"""The connection to the broker: one MQTT v5 session over paho's network thread (docs/contracts.md, MQTT).

:class:`Connection` connects (TLS, credentials, the MQTT v5 Maximum Packet Size of
:data:`~hipsense.inbound.MAX_INBOUND_PACKET_BYTES` unless told otherwise), leaves the Last Will ``offline``
(retained) on ``<base>/availability`` and publishes ``online`` there on every connect (a publisher; a mere reader
such as ``hipsense alerts`` has no availability), and reconnects with paho's exponential
backoff between ``reconnect_min_s`` and ``reconnect_max_s``. A broker that cannot be reached is not an error (paho
keeps trying in the background); a broker that refuses the login, or a TLS certificate that does not verify, is a
:class:`~hipsense.mqtt.settings.BrokerError`.

The other parts of the publisher attach to it, all on paho's network thread (short work only, never the outbox):
:meth:`Connection.subscribe` (a topic re-subscribed on every connect, each message handed to a function),
:meth:`Connection.attach` (a :class:`~hipsense.mqtt.subscription.Subscription`, a per-wearer wildcard allowed),
:meth:`Connection.when_connected` (after ``online`` and the subscriptions, on every accepted connect, in the
order attached), :meth:`Connection.when_subscribed` (SUBACKs), :meth:`Connection.when_disconnected` and
:meth:`Connection.when_acknowledged` (PUBACKs). An exception in any of them is noted instead of killing the
network thread; :meth:`Connection.thread_failure` hands it on once, so the next call of the application fails the
run (never exit 0 with a dead client).
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hipsense.inbound import MAX_INBOUND_PACKET_BYTES
from hipsense.mqtt.settings import BrokerError, BrokerSettings, refusal_error
from hipsense.mqtt.subscription import Subscription

log = logging.getLogger("hipsense.mqtt")  # one logger name for the whole package

#: ``handler(payload, retained)`` for the messages of one subscribed topic (network thread).
MessageHandler = Callable[[bytes, bool], None]


def _connect_properties(max_packet_bytes: int) -> Properties:
    """MQTT v5 CONNECT properties: the broker must not send us packets above ``max_packet_bytes``."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.MaximumPacketSize = max_packet_bytes
    return props


class Connection:
    """One MQTT v5 session with the broker, kept up by paho's network thread.

    broker: where and how to connect. client_id: the MQTT client id. availability_topic: where ``online`` is
    published on every connect and the Last Will ``offline`` is left (both retained, QoS 1); None for neither.
    reconnect_min_s, reconnect_max_s: reconnect backoff bounds, seconds (doubling in between).
    max_packet_bytes: the largest packet the broker may send us (MQTT v5 Maximum Packet Size; it drops larger ones).
    """

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        client_id: str,
        availability_topic: str | None,
        reconnect_min_s: float,
        reconnect_max_s: float,
        max_packet_bytes: int = MAX_INBOUND_PACKET_BYTES,
    ) -> None:
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        if max_packet_bytes < 1024:
            raise ValueError("max_packet_bytes must be at least 1024")
        self.broker = broker
        self.availability_topic = availability_topic
        self.max_packet_bytes = max_packet_bytes
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        self._client.reconnect_delay_set(
            min_delay=max(1, round(reconnect_min_s)), max_delay=max(1, round(reconnect_max_s))
        )
        self._client.on_connect = self.guarded(self._on_connect)
        self._client.on_disconnect = self.guarded(self._on_disconnect)
        self._client.on_publish = self.guarded(self._on_publish)
        self._client.on_message = self.guarded(self._on_message)
        self._client.on_subscribe = self.guarded(self._on_subscribe)
        self._routes: dict[str, MessageHandler] = {}
        self._subscriptions: list[Subscription] = []
        self._on_up: list[Callable[[], None]] = []
        self._on_subscribed: list[Callable[[], None]] = []
        self._on_down: list[Callable[[], None]] = []
        self._on_ack: list[Callable[[int, ReasonCode], None]] = []
        self._first_outcome = threading.Event()
        self._connect_error: BrokerError | None = None
        self._outcome_lock = threading.Lock()
        self._first_wait_over = False  # wait_first_outcome has returned: a first refusal after it is logged
        self._reported: str | None = None  # last connection problem logged (log each once)
        self._thread_error: BaseException | None = None  # an exception raised on the network thread
        self._thread_error_taken = False
        self.closing = False

    # -- attaching (before open) ------------------------------------------------------------------------

    def subscribe(self, topic: str, handler: MessageHandler) -> None:
        """Subscribe to ``topic`` (QoS 1, no wildcards) on every connect; ``handler(payload, retained)`` gets each
        message on the network thread (it must be short: check the size, enqueue)."""
        self._routes[topic] = handler

    def attach(self, subscription: Subscription) -> None:
        """Subscribe to ``subscription.topic`` (QoS 1; a per-wearer wildcard allowed) on every connect and deliver
        each message that belongs to it (:meth:`Subscription.deliver`, on the network thread: bounded, never
        blocking)."""
        self._subscriptions.append(subscription)

    def when_subscribed(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` for every subscription the broker acknowledges (SUBACK), on every connect."""
        self._on_subscribed.append(hook)

    def when_connected(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` after every accepted connect (after ``online`` and the subscriptions)."""
        self._on_up.append(hook)

    def when_disconnected(self, hook: Callable[[], None]) -> None:
        """Call ``hook()`` whenever the connection is lost or closed."""
        self._on_down.append(hook)

    def when_acknowledged(self, hook: Callable[[int, ReasonCode], None]) -> None:
        """Call ``hook(mid, reason)`` for every acknowledged publish (PUBACK for QoS 1)."""
        self._on_ack.append(hook)

    # -- use -------------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self._client.is_connected()

    def publish(
        self, topic: str, payload: str, *, qos: int, retain: bool, properties: Properties | None = None
    ) -> mqtt.MQTTMessageInfo:
        """Hand one message to paho (queued by paho while offline for QoS 1; see :mod:`~hipsense.mqtt.delivery`)."""
        return self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def open(self) -> None:
        """Set the Last Will, TLS and credentials, connect (in the background if the broker is away) and start
        paho's network thread. Raises BrokerError if the TLS handshake fails, ConfigError on unreadable TLS files."""
        self._open(keep_trying=True)

    def open_or_fail(self) -> None:
        """As :meth:`open`, but a broker that cannot be reached now is a BrokerError (for a command run by hand)."""
        self._open(keep_trying=False)

    def _open(self, *, keep_trying: bool) -> None:
        client = self._client
        if self.availability_topic is not None:
            client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        if self.broker.tls:
            client.tls_set_context(self.broker.ssl_context())
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        address = (self.broker.host, self.broker.port, self.broker.keepalive_s)
        try:
            client.connect(*address, clean_start=True, properties=_connect_properties(self.max_packet_bytes))
        except ssl.SSLError as exc:
            raise BrokerError(
                f"{self.broker.url}: TLS handshake failed ({getattr(exc, 'reason', None) or exc})",
                hint="check --mqtt-ca (the CA that signed the broker's certificate) and the host name",
            ) from exc
        except OSError as exc:
            if not keep_trying:
                raise BrokerError(f"{self.broker.url}: cannot connect ({exc})", hint="is the broker running?") from exc
            self._report(f"{self.broker.url}: broker not reachable ({exc}); alerts wait in the outbox", "warning")
            client.connect_async(*address, clean_start=True, properties=_connect_properties(self.max_packet_bytes))
            self._first_outcome.set()  # nothing to wait for: paho retries in the background
        client.loop_start()

    def wait_first_outcome(self, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` for the broker's first answer; raise BrokerError if it refused us (then the
        refusal is this error, not a log line as well)."""
        self._first_outcome.wait(timeout_s)
        with self._outcome_lock:
            self._first_wait_over = True
            error = self._connect_error
        if error is not None:
            raise error

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the connection; raises BrokerError if the broker refused us."""
        deadline = time.monotonic() + timeout_s
        while not self._client.is_connected():
            if self._connect_error is not None:
                raise self._connect_error
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def say_offline(self, timeout_s: float) -> None:
        """Publish ``offline`` (retained) ourselves and wait up to ``timeout_s`` for it to leave (a clean close
        sends no Last Will). Nothing without an availability topic."""
        if self.availability_topic is None or not self._client.is_connected():
            return
        info = self._client.publish(self.availability_topic, "offline", qos=1, retain=True)
        deadline = time.monotonic() + timeout_s
        while not info.is_published() and self._client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        """Disconnect and stop the network thread, without waiting for anything."""
        self.closing = True
        self._client.disconnect()
        self._client.loop_stop()

    def guarded(self, callback: Callable[..., None]) -> Callable[..., None]:
        """``callback`` with any exception noted (see :meth:`thread_failure`) instead of raised on the thread
        that runs it (paho's network thread, a timer)."""

        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as exc:
                if self._thread_error is None:
                    self._thread_error = exc
                    log.error("MQTT client thread failed: %s: %s", type(exc).__name__, exc)

        return guarded

    def thread_failure(self) -> BaseException | None:
        """The exception that broke the network thread, handed out once (then None)."""
        if self._thread_error is None or self._thread_error_taken:
            return None
        self._thread_error_taken = True
        return self._thread_error

    # -- paho callbacks (network thread) ---------------------------------------------------------------

    def _report(self, message: str, level: str) -> None:
        """Log a connection problem once (not again until it changes or the link comes back)."""
        if message != self._reported:
            self._reported = message
            getattr(log, level)(message)

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            error = refusal_error(self.broker, reason)
            with self._outcome_lock:
                self._connect_error = error
                raised = not (self._first_wait_over or self._first_outcome.is_set())
            if raised:  # the first answer: wait_first_outcome raises it (one line, not two)
                self._reported = error.message
            else:
                self._report(error.message, "error")
            self._first_outcome.set()
            return
        self._connect_error = None
        if self._reported is not None:
            log.info("%s: connected", self.broker.url)
        self._reported = None
        if self.availability_topic is not None:
            client.publish(self.availability_topic, "online", qos=1, retain=True)
        for topic in [*self._routes, *(sub.topic for sub in self._subscriptions)]:
            client.subscribe(topic, qos=1)
        for hook in self._on_up:
            hook()
        self._first_outcome.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        for hook in self._on_down:
            hook()
        if not self.closing and self._connect_error is None:
            self._report(f"{self.broker.url}: connection lost ({reason}); reconnecting", "warning")

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        for hook in self._on_ack:
            hook(mid, reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # Inbound data is hostile until checked (docs/robustness.md): the handler checks the size at once and
        # enqueues; the rest is checked where the message is used (hipsense.inbound).
        handler = self._routes.get(message.topic)
        if handler is not None:
            handler(bytes(message.payload), bool(message.retain))
            return
        for subscription in self._subscriptions:  # a per-wearer one checks the wearer level (Subscription.deliver)
            if mqtt.topic_matches_sub(subscription.topic, message.topic):
                subscription.deliver(message.payload, bool(message.retain), message.topic)
                return

    def _on_subscribe(
        self, client: mqtt.Client, userdata: Any, mid: int, reasons: list[ReasonCode], properties: Properties | None
    ) -> None:
        for hook in self._on_subscribed:
            hook()
