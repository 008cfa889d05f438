"""MQTT output: retained state, durable alerts and Home Assistant discovery for one wearer.

Topics (docs/contracts.md, MQTT), under the base topic ``hipsense/<wearer>``:

- ``<base>/availability``: ``online`` (retained) on every connect; the Last Will is ``offline`` (retained),
  and a clean :meth:`Publisher.close` publishes ``offline`` itself.
- ``<base>/state``: retained JSON, QoS 0. Never queued while offline: the latest state wins and is published
  on reconnect. With MQTT v5 it carries a message expiry (``state_expiry_s``) so a stale state disappears
  from the broker; while the state does not change it is re-published every ``state_heartbeat_s``.
- ``<base>/alert``: QoS 1, not retained, JSON with a stable ``id``.
- ``homeassistant/...``: discovery configs (see :mod:`hipsense.discovery`), retained, re-sent on every
  connect and whenever ``homeassistant/status`` says ``online``.

Alert delivery: durable (the outbox first, out only on PUBACK), in order, at least once; see
:mod:`hipsense.mqtt.delivery`.

Connection. ``mqtt://host[:1883]`` or ``mqtts://host[:8883]``; user name and password from the URL, the
arguments, or ``HIPSENSE_MQTT_USER`` / ``HIPSENSE_MQTT_PASSWORD``. They are never logged nor shown in a repr.
Plain-text credentials to a host that is not loopback are refused unless ``insecure=True``. A broker that
cannot be reached is not an error: alerts wait in the outbox and paho reconnects with exponential backoff. A
broker that refuses the login, or a TLS certificate that does not verify, is a :class:`BrokerError`.

Threads: paho's network thread (``loop_start``) and the pump. :meth:`Publisher.publish_state` and
:meth:`Publisher.publish_alert` may be called from any one application thread, or from asyncio code
(``async with Publisher(...)``; both calls are short: a SQLite insert for an alert, a socket write for state).
"""

from __future__ import annotations

import asyncio
import logging
import math
import queue
import re
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hipsense.config import Config, check_topic, data_dir
from hipsense.discovery import DEFAULT_DISCOVERY_PREFIX, discovery_messages
from hipsense.inbound import MAX_EXERCISE_BYTES, MAX_INBOUND_PACKET_BYTES, Coalescer
from hipsense.mqtt.delivery import STOP, WAKE, Ack, Link, pump_alerts
from hipsense.mqtt.payloads import _alert_body, to_json
from hipsense.mqtt.settings import (
    BrokerError,
    BrokerSettings,
    base_topic_for,
    refusal_error,
    settings_from_config,
)
from hipsense.outbox import Outbox
from processing.errors import ConfigError

log = logging.getLogger("hipsense.mqtt")  # one logger name for the whole package, as before the split

#: Exercise-log messages held between two :meth:`Publisher.take_exercise_logs` calls; more are dropped.
INBOX_MAX_MESSAGES = 100
#: Discovery is re-sent on ``homeassistant/status`` ``online`` at most once per this many seconds (the configs
#: are retained, so a re-send dropped within the interval loses nothing).
DISCOVERY_RESEND_MIN_S = 5.0


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message received on a subscribed topic: ``payload`` (bounded in size) and whether the broker
    delivered it as retained (stored before we subscribed)."""

    payload: bytes
    retained: bool


def _connect_properties() -> Properties:
    """MQTT v5 CONNECT properties: the broker must not send us packets above MAX_INBOUND_PACKET_BYTES."""
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.MaximumPacketSize = MAX_INBOUND_PACKET_BYTES
    return props


class Publisher:
    """Publishes one wearer's state and alerts, with Home Assistant discovery.

    Example (``data_dir`` is the data folder)::

        settings = BrokerSettings.from_url("mqtt://127.0.0.1:1883")
        with Publisher(settings, wearer="anna", outbox_path=data_dir / "outbox.sqlite3") as pub:
            pub.publish_state({"time": "...", "activity": "sitting", "tilt_deg": -18.2})
            pub.publish_alert({"event_type": "prolonged_sitting", "time": "...", "message": "..."})

    broker: where to connect. wearer: the wearer id (``[a-z0-9_-]``).
    outbox_path: the SQLite outbox file (in the data folder).
    base_topic: defaults to ``hipsense/<wearer>``.
    discovery_prefix: Home Assistant discovery prefix, or None to publish no discovery.
    sitting_limit_s: seconds of sitting from which "sitting too long" is on in Home Assistant.
    client_id: MQTT client id; defaults to ``hipsense-<wearer>-<random>``.
    window: alerts handed to paho at a time (in flight without PUBACK).
    state_expiry_s: MQTT v5 message expiry of the retained state, seconds.
    state_heartbeat_s: re-publish an unchanged state after this many seconds.
    reconnect_min_s, reconnect_max_s: reconnect backoff bounds, seconds (doubling in between).
    startup_wait_s: how long :meth:`start` waits for the first connection before going on in the background.
    """

    def __init__(
        self,
        broker: BrokerSettings,
        *,
        wearer: str,
        outbox_path: Path | str,
        base_topic: str | None = None,
        discovery_prefix: str | None = DEFAULT_DISCOVERY_PREFIX,
        sitting_limit_s: float = 1800.0,
        client_id: str | None = None,
        window: int = 10,
        state_expiry_s: int = 600,
        state_heartbeat_s: float = 60.0,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        startup_wait_s: float = 5.0,
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        self.broker = broker
        self.wearer = wearer
        self.base_topic = base_topic_for(wearer, base_topic)
        if discovery_prefix is not None:
            try:
                check_topic("discovery_prefix", discovery_prefix)
            except ValueError as exc:
                raise ConfigError(str(exc), hint="for example homeassistant") from exc
        self.discovery_prefix = discovery_prefix
        self.window = window
        self.state_expiry_s = state_expiry_s
        self.state_heartbeat_s = state_heartbeat_s
        self.startup_wait_s = startup_wait_s
        self.availability_topic = f"{self.base_topic}/availability"
        self.state_topic = f"{self.base_topic}/state"
        self.alert_topic = f"{self.base_topic}/alert"
        #: Exercise logged by hand from a phone or dashboard: JSON {"minutes": 5, "what": "bridges"} (QoS 1).
        self.exercise_topic = f"{self.base_topic}/exercise/log"
        self._inbox: queue.Queue[InboundMessage] = queue.Queue(maxsize=INBOX_MAX_MESSAGES)
        self._inbox_dropped = 0  # messages dropped (too large, or the inbox full) since the last report
        self._inbox_report = Coalescer(60.0)  # one log line a minute about them
        self._discovery_gate = Coalescer(DISCOVERY_RESEND_MIN_S)
        self._discovery_lock = threading.Lock()
        self._discovery_timer: threading.Timer | None = None
        self._thread_error: BaseException | None = None  # an exception raised in a paho callback
        self._thread_error_raised = False
        self._discovery = (
            discovery_messages(
                wearer=wearer, base_topic=self.base_topic, prefix=discovery_prefix, sitting_limit_s=sitting_limit_s
            )
            if discovery_prefix is not None
            else []
        )
        self._outbox_path = Path(outbox_path)
        self._outbox: Outbox | None = None

        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"hipsense-{wearer}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5,
        )
        self._client.reconnect_delay_set(
            min_delay=max(1, round(reconnect_min_s)), max_delay=max(1, round(reconnect_max_s))
        )
        self._client.on_connect = self._guarded(self._on_connect)
        self._client.on_disconnect = self._guarded(self._on_disconnect)
        self._client.on_publish = self._guarded(self._on_publish)
        self._client.on_message = self._guarded(self._on_message)

        # Messages for the pump thread (hipsense.mqtt.delivery): Ack, Link, WAKE, STOP.
        self._events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._pump_thread: threading.Thread | None = None
        self._progress = threading.Condition()  # notified by the pump after each batch of work
        self._first_outcome = threading.Event()
        self._connect_error: BrokerError | None = None
        self._reported: str | None = None  # last connection problem logged (log each once)

        self._state_lock = threading.Lock()
        self._latest_state: str | None = None
        self._last_state_key: str | None = None
        self._last_state_sent = -math.inf
        self._state_seq = 0
        self._state_props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        self._state_props.MessageExpiryInterval = state_expiry_s
        self._started = False
        self._closed = False
        self._kept: dict[str, str] = {}  # retained documents re-sent on every connect (publish_kept)

    # -- public API --------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self._client.is_connected()

    @property
    def outbox_path(self) -> Path:
        """The SQLite outbox file (in the data folder)."""
        return self._outbox_path

    @property
    def pending_alerts(self) -> int:
        """Alerts in the outbox not yet acknowledged by the broker."""
        return len(self._outbox) if self._outbox is not None else 0

    def start(self) -> Publisher:
        """Open the outbox, connect (in the background if the broker is away) and start sending.

        Waits up to ``startup_wait_s`` for the broker's answer. Raises BrokerError if it refuses the login or
        the TLS certificate does not verify; returns normally if it simply cannot be reached yet.
        """
        if self._started:
            raise RuntimeError("Publisher.start() called twice")
        self._started = True
        try:
            self._start()
        except BaseException:
            self._abort()
            raise
        return self

    def _start(self) -> None:
        client = self._client
        client.will_set(self.availability_topic, "offline", qos=1, retain=True)
        if self.broker.tls:
            client.tls_set_context(self.broker.ssl_context())
        if self.broker.username is not None:
            client.username_pw_set(self.broker.username, self.broker.password)
        self._outbox = Outbox(self._outbox_path)
        self._pump_thread = threading.Thread(target=self._pump_loop, name="hipsense-mqtt-pump", daemon=True)
        self._pump_thread.start()
        try:
            client.connect(
                self.broker.host,
                self.broker.port,
                self.broker.keepalive_s,
                clean_start=True,
                properties=_connect_properties(),
            )
        except ssl.SSLError as exc:
            raise BrokerError(
                f"{self.broker.url}: TLS handshake failed ({getattr(exc, 'reason', None) or exc})",
                hint="check --mqtt-ca (the CA that signed the broker's certificate) and the host name",
            ) from exc
        except OSError as exc:
            self._report(f"{self.broker.url}: broker not reachable ({exc}); alerts wait in the outbox", "warning")
            client.connect_async(
                self.broker.host,
                self.broker.port,
                self.broker.keepalive_s,
                clean_start=True,
                properties=_connect_properties(),
            )
            self._first_outcome.set()  # nothing to wait for: paho retries in the background
        client.loop_start()
        self._events.put(WAKE)  # alerts left from an earlier run go to paho now, in order
        if self._first_outcome.wait(self.startup_wait_s) and self._connect_error is not None:
            raise self._connect_error

    def publish_state(self, state: Mapping[str, Any]) -> bool:
        """Publish ``state`` (retained, QoS 0) if it changed or the heartbeat is due. Returns True if sent.

        While offline nothing is queued: the latest state is kept and sent on reconnect. ``seq`` is added
        (counting from 1) if missing.
        """
        self._check_running()
        body = dict(state)
        with self._state_lock:
            self._state_seq += 1
            body.setdefault("seq", self._state_seq)
            payload = to_json(body)
            key = to_json({k: v for k, v in body.items() if k not in ("time", "seq")})
            now = time.monotonic()
            due = key != self._last_state_key or now - self._last_state_sent >= self.state_heartbeat_s
            self._latest_state = payload
            if not due or not self._client.is_connected():
                return False
            info = self._client.publish(self.state_topic, payload, qos=0, retain=True, properties=self._state_props)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return False
            self._last_state_key = key
            self._last_state_sent = now
            return True

    def take_exercise_logs(self) -> list[InboundMessage]:
        """The exercise-log messages received since the last call (raw payloads, oldest first).

        At most :data:`INBOX_MAX_MESSAGES` are held between two calls, each at most
        :data:`~hipsense.inbound.MAX_EXERCISE_BYTES`; others are dropped on arrival and counted in one log line.
        """
        out = []
        while True:
            try:
                out.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        if self._inbox_dropped and self._inbox_report.allow():
            dropped, self._inbox_dropped = self._inbox_dropped, 0
            log.warning(
                "%s: dropped %d message(s) on arrival (larger than %d bytes, or more than %d waiting)",
                self.exercise_topic,
                dropped,
                MAX_EXERCISE_BYTES,
                INBOX_MAX_MESSAGES,
            )
        return out

    def publish_retained(self, name: str, document: Mapping[str, Any]) -> bool:
        """Publish ``document`` as retained JSON on ``<base>/<name>`` (QoS 1) if connected; never queued.

        For slowly changing documents such as goal progress (``goals``). Returns True if handed to the broker.
        """
        self._check_running()
        if not re.fullmatch(r"[a-z0-9_-]+", name) or name in ("state", "alert", "availability"):
            raise ValueError(f"{name!r} is not a free topic name under {self.base_topic}")
        if not self._client.is_connected():
            return False
        info = self._client.publish(f"{self.base_topic}/{name}", to_json(document), qos=1, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    #: Sub-topics of :meth:`publish_kept`: the sensor link and the last alert.
    KEPT_TOPICS = ("link", "alert/last")

    def publish_kept(self, name: str, document: Mapping[str, Any]) -> bool:
        """Publish ``document`` retained (QoS 1) on ``<base>/<name>`` and keep it: it is published again on
        every (re)connect, so the broker holds the latest one even after an outage. ``name`` is one of
        :data:`KEPT_TOPICS`. Returns True if handed to the broker now."""
        self._check_running()
        if name not in self.KEPT_TOPICS:
            raise ValueError(f"{name!r} is not one of {self.KEPT_TOPICS}")
        payload = to_json(document)
        with self._state_lock:
            self._kept[name] = payload
        if not self._client.is_connected():
            return False
        info = self._client.publish(f"{self.base_topic}/{name}", payload, qos=1, retain=True)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def publish_alert(self, alert: Mapping[str, Any]) -> str:
        """Store ``alert`` durably, queue it for the broker and return its ``id``.

        The alert needs ``event_type`` (one of :data:`~hipsense.discovery.ALERT_EVENT_TYPES`), ``time``
        (ISO 8601 with offset, or an aware datetime) and ``message``; any further fields are published as they
        are. An ``id`` is created if there is none. Returns once the alert is on disk; delivery follows.
        """
        self._check_running(thread=False)  # the alert goes to the outbox even if the network thread died
        body = _alert_body(alert)
        assert self._outbox is not None
        entry = self._outbox.put(self.alert_topic, body)
        self._events.put(WAKE)
        self._check_thread()
        return entry.alert_id

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

    def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every alert is acknowledged. Returns True if the outbox is empty."""
        deadline = time.monotonic() + timeout_s
        with self._progress:
            while self.pending_alerts:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(min(left, 0.1))
        return True

    def close(self, timeout_s: float = 2.0) -> None:
        """Deliver what can be delivered within ``timeout_s``, say ``offline`` and disconnect (idempotent).

        Alerts still waiting stay in the outbox for the next run.
        """
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        if self._client.is_connected():
            self.flush(timeout_s)
            info = self._client.publish(self.availability_topic, "offline", qos=1, retain=True)
            deadline = time.monotonic() + timeout_s
            while not info.is_published() and self._client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.01)
        left = self.pending_alerts
        self._abort()
        if left:
            log.info("%s: %d alert(s) stay in the outbox for the next run", self._outbox_path, left)
        self._check_thread(left)

    def __enter__(self) -> Publisher:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> Publisher:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        return f"Publisher({self.broker.url}, base_topic={self.base_topic!r}, connected={self.connected})"

    # -- internals ---------------------------------------------------------------------------------------

    def _check_running(self, *, thread: bool = True) -> None:
        if not self._started or self._closed:
            raise RuntimeError("the MQTT publisher is not running (use it inside 'with Publisher(...)')")
        if thread:
            self._check_thread()

    def _guarded(self, callback: Any) -> Any:
        """``callback`` with any exception noted instead of killing paho's network thread with a traceback; the
        next :meth:`publish_state`, :meth:`publish_alert` or :meth:`close` then fails the run (never exit 0)."""

        def guarded(*args: Any) -> None:
            try:
                callback(*args)
            except Exception as exc:
                if self._thread_error is None:
                    self._thread_error = exc
                    log.error("MQTT client thread failed: %s: %s", type(exc).__name__, exc)

        return guarded

    def _check_thread(self, waiting: int | None = None) -> None:
        """Raise BrokerError (once) if a paho callback failed: the connection can no longer be trusted."""
        exc = self._thread_error
        if exc is None or self._thread_error_raised:
            return
        self._thread_error_raised = True
        left = self.pending_alerts if waiting is None else waiting
        raise BrokerError(
            f"{self.broker.url}: the MQTT client thread failed ({type(exc).__name__}: {exc}); "
            f"{left} alert(s) wait in the outbox for the next run",
            hint="report this as a bug in hipsense, with the lines above",
        )

    def _abort(self) -> None:
        """Stop threads and close the outbox without waiting for anything."""
        self._closed = True
        with self._discovery_lock:
            if self._discovery_timer is not None:
                self._discovery_timer.cancel()
        self._client.disconnect()
        self._client.loop_stop()
        self._events.put(STOP)
        if self._pump_thread is not None:
            self._pump_thread.join(timeout=5.0)
        if self._outbox is not None:
            self._outbox.close()

    def _report(self, message: str, level: str) -> None:
        """Log a connection problem once (not again until it changes or the link comes back)."""
        if message != self._reported:
            self._reported = message
            getattr(log, level)(message)

    def _publish_discovery(self) -> None:
        for msg in self._discovery:
            self._client.publish(msg.topic, to_json(msg.payload), qos=1, retain=True)

    # paho callbacks: network thread. They only publish small fixed messages and post events to the pump;
    # they never touch the outbox (paho holds its message lock while calling on_publish).

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
            self._connect_error = error
            self._report(error.message, "error")
            self._first_outcome.set()
            return
        self._connect_error = None
        if self._reported is not None:
            log.info("%s: connected", self.broker.url)
        self._reported = None
        client.publish(self.availability_topic, "online", qos=1, retain=True)
        client.subscribe(self.exercise_topic, qos=1)
        if self.discovery_prefix is not None:
            client.subscribe(f"{self.discovery_prefix}/status", qos=1)
            with self._discovery_lock:
                self._publish_discovery()
                self._discovery_gate.mark()
        with self._state_lock:
            latest = self._latest_state
            self._last_state_sent = time.monotonic()
            self._last_state_key = None  # let the next publish_state through whatever it holds
        if latest is not None:
            client.publish(self.state_topic, latest, qos=0, retain=True, properties=self._state_props)
        with self._state_lock:
            kept = list(self._kept.items())
        for name, payload in kept:
            client.publish(f"{self.base_topic}/{name}", payload, qos=1, retain=True)
        self._events.put(Link(connected=True))
        self._first_outcome.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._events.put(Link(connected=False))
        if not self._closed and self._connect_error is None:
            self._report(f"{self.broker.url}: connection lost ({reason}); reconnecting", "warning")

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        self._events.put(Ack(mid, reason))

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        # Inbound data is hostile until checked (docs/robustness.md): only the size here, the rest in the
        # runtime's thread (hipsense.inbound). Anything larger is dropped at once, not kept.
        if message.topic == self.exercise_topic:
            if len(message.payload) > MAX_EXERCISE_BYTES:
                self._inbox_dropped += 1
                return
            try:
                self._inbox.put_nowait(InboundMessage(bytes(message.payload), bool(message.retain)))
            except queue.Full:
                self._inbox_dropped += 1
            return
        if message.topic == f"{self.discovery_prefix}/status" and message.payload.strip() == b"online":
            self._discovery_requested()

    def _discovery_requested(self) -> None:
        """Re-send discovery now, or once at the end of the interval if one was sent within the last
        DISCOVERY_RESEND_MIN_S (a flood of "online" gives one re-send per interval, and the last "online" is
        always answered)."""
        with self._discovery_lock:
            if self._discovery_gate.allow():
                log.info("Home Assistant came online; re-sending discovery")
                self._publish_discovery()
            elif self._discovery_timer is None and not self._closed:
                timer = threading.Timer(self._discovery_gate.wait_s(), self._guarded(self._discovery_due))
                timer.daemon = True
                self._discovery_timer = timer
                timer.start()

    def _discovery_due(self) -> None:
        with self._discovery_lock:
            self._discovery_timer = None
            if self._closed or not self._client.is_connected():
                return
            self._discovery_gate.mark()
            log.info("Home Assistant came online; re-sending discovery")
            self._publish_discovery()

    # The pump: the only code that hands alerts to paho and records their acknowledgements.

    def _pump_loop(self) -> None:
        assert self._outbox is not None
        pump_alerts(
            self._events,
            self._outbox,
            lambda topic, payload: self._client.publish(topic, payload, qos=1, retain=False),
            window=self.window,
            progress=self._progress,
            broker_url=self.broker.url,
        )


def publisher_from_config(
    config: Config,
    *,
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    insecure: bool = False,
    outbox_path: Path | None = None,
    broker: BrokerSettings | None = None,
    wearer: str | None = None,
) -> Publisher | None:
    """The Publisher the config describes (flags, when given, win), or None if no broker URL is set.

    ``broker`` (settings already built from the command's flags) replaces url/username/password/insecure.
    Base topic ``<[mqtt] base_topic>/<wearer id>``; outbox ``<data folder>/mqtt-outbox.sqlite3``.
    """
    m = config.mqtt
    settings = broker or settings_from_config(m, url=url, username=username, password=password, insecure=insecure)
    if settings is None:
        return None
    wearer = wearer or config.wearer.id
    return Publisher(
        settings,
        wearer=wearer,
        outbox_path=outbox_path or data_dir() / "mqtt-outbox.sqlite3",
        base_topic=f"{m.base_topic}/{wearer}",
        discovery_prefix=m.discovery_prefix if m.discovery else None,
        sitting_limit_s=config.alerts.prolonged_sitting_s,
    )
