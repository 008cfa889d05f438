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

Alert delivery. Every alert goes to the durable :class:`~hipsense.outbox.Outbox` first and leaves it only when
the broker's PUBACK arrives (tracked with ``on_publish``; paho's ``publish()`` returns ``MQTT_ERR_NO_CONN``
while offline even though it queues the message). One thread (the *pump*) owns the hand-over: it gives paho
at most ``window`` alerts at a time, oldest first, and never overtakes alerts that paho still holds from an
earlier connection (paho re-sends those itself right after the reconnect, in order). So alerts reach the
broker in outbox order across broker outages and process restarts. Delivery is at least once: an alert can
reach a subscriber twice (an in-flight alert re-sent after a reconnect, or a process killed between the
broker's receipt and the PUBACK being recorded). The ``id`` is the same on every re-send, so subscribers
drop duplicates by ``id`` (``hipsense alerts`` does).

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
import ipaddress
import json
import logging
import math
import os
import queue
import re
import ssl
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hipsense.config import Config, check_topic, data_dir, split_credentials
from hipsense.discovery import ALERT_EVENT_TYPES, DEFAULT_DISCOVERY_PREFIX, discovery_messages, validate_wearer
from hipsense.inbound import MAX_EXERCISE_BYTES, MAX_INBOUND_PACKET_BYTES, Coalescer
from hipsense.outbox import Outbox
from processing.errors import ConfigError, SensorConnectionError

__all__ = [
    "DEFAULT_PORTS",
    "STATE_FIELDS",
    "BrokerError",
    "BrokerSettings",
    "Publisher",
    "base_topic_for",
    "publisher_from_config",
    "refusal_error",
    "to_json",
    "validate_base_topic",
]

log = logging.getLogger(__name__)

DEFAULT_PORTS: dict[str, int] = {"mqtt": 1883, "mqtts": 8883}

#: Fields of the ``<base>/state`` JSON (docs/contracts.md).
STATE_FIELDS: tuple[str, ...] = (
    "time",
    "activity",
    "tilt_deg",
    "obliquity_deg",
    "sitting_bout_s",
    "sitting_today_s",
    "calibrated",
    "battery_pct",
    "seq",
    "sitting_bout_min",
    "sitting_today_min",
)

ENV_USER = "HIPSENSE_MQTT_USER"
ENV_PASSWORD = "HIPSENSE_MQTT_PASSWORD"

# CONNACK reason codes that mean "your credentials are wrong" (MQTT v5 numbering; paho maps the v3 codes
# 4 and 5 onto 134 and 135).
_LOGIN_REFUSED = {134, 135, 140}


class BrokerError(SensorConnectionError):
    """The MQTT broker refused us (login, TLS) or cannot be used as configured."""


# ------------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and how to connect. Build it with :meth:`from_url`.

    host, port: the broker. tls: use TLS (``mqtts://``).
    username, password: credentials or None; never shown by repr().
    ca_file: PEM file of CA certificates for TLS (None: the system's CAs).
    certfile, keyfile: client certificate and key (PEM) for TLS client authentication, or None.
    insecure: allow credentials in plain text to a host that is not loopback.
    keepalive_s: MQTT keep-alive, seconds; an abrupt death is noticed after about 1.5 times this.
    """

    host: str
    port: int
    tls: bool = False
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False
    keepalive_s: int = 30

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("MQTT broker URL has no host", hint="use mqtt://host:port or mqtts://host:port")
        if not 0 < self.port < 65536:
            raise ConfigError(f"{self.url}: port {self.port} is out of range", hint="use a port in 1..65535")
        if self.keepalive_s < 5:
            raise ConfigError(f"{self.url}: keep-alive {self.keepalive_s} s is too short", hint="use >= 5 s")
        if self.password is not None and self.username is None:
            raise ConfigError(f"{self.url}: a password was given without a user name", hint="pass --mqtt-user")
        if not self.tls and (self.ca_file or self.certfile or self.keyfile):
            raise ConfigError(
                f"{self.url}: TLS files were given for a plain-text broker URL",
                hint="use an mqtts:// URL to connect with TLS",
            )
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError(
                f"{self.url}: a TLS client certificate needs both a certificate and a key file",
                hint="pass both --mqtt-cert and --mqtt-key",
            )
        for name, path in (("CA", self.ca_file), ("certificate", self.certfile), ("key", self.keyfile)):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{path}: TLS {name} file not found", hint="check the path")
        if self.username is not None and not self.tls and not self.insecure and not _is_loopback(self.host):
            raise ConfigError(
                f"{self.url}: refusing to send the MQTT password in plain text to a host that is not loopback",
                hint="use an mqtts:// URL (TLS), or pass --insecure if you trust this network",
            )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | str | None = None,
        certfile: Path | str | None = None,
        keyfile: Path | str | None = None,
        insecure: bool = False,
        keepalive_s: int = 30,
        env: Mapping[str, str] | None = None,
    ) -> BrokerSettings:
        """Parse ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...``.

        Credentials come from the arguments first, then the URL, then the environment
        (``HIPSENSE_MQTT_USER``, ``HIPSENSE_MQTT_PASSWORD``; pass ``env={}`` to ignore it).

        >>> BrokerSettings.from_url("mqtt://alice:s3cret@127.0.0.1", env={})
        BrokerSettings(host='127.0.0.1', port=1883, tls=False, username='***', password='***')
        """
        env = os.environ if env is None else env
        # Credentials are split off first (at the last '@'), so that no parse error can show the password.
        url, url_user, url_password = split_credentials(url.strip())
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            host = parts.hostname or ""
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"MQTT broker URL is not valid ({exc})", hint="use mqtt://host:port") from exc
        if scheme not in DEFAULT_PORTS:
            raise ConfigError(
                f"MQTT broker URL must start with mqtt:// or mqtts://, got {scheme or 'no scheme'!r}",
                hint="for example mqtt://127.0.0.1:1883",
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(
                f"{scheme}://{host}: the broker URL must not have a path or query",
                hint="set the topic with --base-topic instead",
            )
        user = username or (unquote(url_user) if url_user else None) or env.get(ENV_USER) or None
        pw = password or (unquote(url_password) if url_password else None) or env.get(ENV_PASSWORD) or None
        return cls(
            host=host,
            port=port or DEFAULT_PORTS[scheme],
            tls=scheme == "mqtts",
            username=user,
            password=pw,
            ca_file=Path(ca_file) if ca_file else None,
            certfile=Path(certfile) if certfile else None,
            keyfile=Path(keyfile) if keyfile else None,
            insecure=insecure,
            keepalive_s=keepalive_s,
        )

    @property
    def url(self) -> str:
        """The broker URL without credentials, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    def __repr__(self) -> str:
        shown = [f"host={self.host!r}", f"port={self.port}", f"tls={self.tls}"]
        if self.username is not None:
            shown.append("username='***'")
        if self.password is not None:
            shown.append("password='***'")
        for name in ("ca_file", "certfile", "keyfile"):
            if getattr(self, name) is not None:
                shown.append(f"{name}={str(getattr(self, name))!r}")
        if self.insecure:
            shown.append("insecure=True")
        return f"BrokerSettings({', '.join(shown)})"

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context (server certificate and host name are always verified)."""
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.certfile is not None and self.keyfile is not None:
                context.load_cert_chain(str(self.certfile), str(self.keyfile))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"{self.url}: cannot load the TLS files ({exc})",
                hint="check that --mqtt-ca, --mqtt-cert and --mqtt-key are PEM files",
            ) from exc
        return context


_TOPIC_LEVEL_RE = re.compile(r"[^+#/\x00]+")


def base_topic_for(wearer: str, base_topic: str | None = None) -> str:
    """``base_topic`` validated, or ``hipsense/<wearer>``. Raises ConfigError on a bad wearer or topic."""
    try:
        validate_wearer(wearer)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="pass --wearer with letters a-z, digits, '_' or '-'") from exc
    return validate_base_topic(base_topic if base_topic is not None else f"hipsense/{wearer}")


def validate_base_topic(topic: str) -> str:
    """Return ``topic`` if it can be a base topic (no wildcards, no empty levels, no leading '$')."""
    if topic.startswith("$") or not all(_TOPIC_LEVEL_RE.fullmatch(level) for level in topic.split("/")):
        raise ConfigError(
            f"base topic {topic!r} is not valid: no wildcards, no empty levels, no leading '$'",
            hint="for example hipsense/anna",
        )
    return topic


def refusal_error(broker: BrokerSettings, reason: ReasonCode) -> BrokerError:
    """The one-line error for a CONNACK that refused us."""
    if reason.value in _LOGIN_REFUSED:
        if broker.username is None:
            text = f"{broker.url}: broker requires a login ({reason}); pass --mqtt-user/--mqtt-password"
        else:
            text = (
                f"{broker.url}: broker refused the login (bad user name or password); check --mqtt-user/--mqtt-password"
            )
        return BrokerError(text, hint=f"credentials can also come from {ENV_USER} and {ENV_PASSWORD}")
    return BrokerError(f"{broker.url}: broker refused the connection ({reason})", hint="check the broker's log")


# ------------------------------------------------------------------------------------------------------
# JSON
# ------------------------------------------------------------------------------------------------------


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


# ------------------------------------------------------------------------------------------------------
# Publisher
# ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Ack:
    mid: int
    reason: ReasonCode


@dataclass(frozen=True, slots=True)
class _Link:
    connected: bool


_WAKE = "wake"
_STOP = "stop"

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

        # Messages for the pump thread: _Ack, _Link, _WAKE, _STOP.
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
        self._events.put(_WAKE)  # alerts left from an earlier run go to paho now, in order
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
        self._events.put(_WAKE)
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
        self._events.put(_STOP)
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
        self._events.put(_Link(connected=True))
        self._first_outcome.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._events.put(_Link(connected=False))
        if not self._closed and self._connect_error is None:
            self._report(f"{self.broker.url}: connection lost ({reason}); reconnecting", "warning")

    def _on_publish(
        self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode, properties: Properties
    ) -> None:
        self._events.put(_Ack(mid, reason))

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
        inflight: dict[int, int] = {}  # paho mid -> outbox seq, for alerts paho holds
        cursor = 0  # highest outbox seq handed to paho
        connected = False
        # After a reconnect paho re-sends the alerts it still holds, right after on_connect returns. A new
        # alert handed over before that would overtake them, so new ones wait for the first PUBACK (which
        # comes after the re-sends) unless paho holds none.
        settled = False
        outbox = self._outbox
        assert outbox is not None
        while True:
            try:
                event = self._events.get(timeout=1.0)
            except queue.Empty:
                continue
            stop = False
            while True:
                if event is _STOP:
                    stop = True
                elif isinstance(event, _Ack):
                    seq = inflight.pop(event.mid, None)
                    if seq is not None:
                        settled = True
                        if event.reason.is_failure:
                            log.warning(
                                "%s refused alert #%d (%s); it stays in the outbox for the next run",
                                self.broker.url,
                                seq,
                                event.reason,
                            )
                        else:
                            outbox.ack(seq)
                elif isinstance(event, _Link):
                    connected = event.connected
                    settled = connected and not inflight
                try:
                    event = self._events.get_nowait()
                except queue.Empty:
                    break
            if stop:
                break
            if not inflight or (connected and settled):
                free = self.window - len(inflight)
                for entry in outbox.pending(after_seq=cursor, limit=free) if free > 0 else []:
                    info = self._client.publish(entry.topic, entry.payload, qos=1, retain=False)
                    if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                        log.warning("MQTT client could not queue alert #%d (%s)", entry.seq, info.rc)
                        break
                    inflight[info.mid] = entry.seq
                    cursor = entry.seq
            with self._progress:
                self._progress.notify_all()


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
    settings = broker
    if settings is None:
        url = url or m.url
        if not url:
            return None
        settings = BrokerSettings.from_url(
            url,
            username=username or m.username or None,
            password=password or m.password or None,
            ca_file=m.ca_file or None,
            certfile=m.cert_file or None,
            keyfile=m.key_file or None,
            insecure=insecure or m.insecure,
        )
    wearer = wearer or config.wearer.id
    return Publisher(
        settings,
        wearer=wearer,
        outbox_path=outbox_path or data_dir() / "mqtt-outbox.sqlite3",
        base_topic=f"{m.base_topic}/{wearer}",
        discovery_prefix=m.discovery_prefix if m.discovery else None,
        sitting_limit_s=config.alerts.prolonged_sitting_s,
    )
