"""The publisher of one wearer: its connection, retained state, durable alerts, Home Assistant discovery and
inbound messages, put together (docs/contracts.md, MQTT; topics under ``<base>`` = ``hipsense/<wearer>``).

The parts, each in its own module:

- :mod:`~hipsense.mqtt.connection`: the MQTT v5 session (TLS, credentials, Last Will and ``<base>/availability``,
  reconnect with backoff).
- :mod:`~hipsense.mqtt.state`: ``<base>/state`` (retained, de-duplicated, never queued offline) and the other
  retained documents.
- :mod:`~hipsense.mqtt.delivery`: ``<base>/alert`` (QoS 1), durable (the outbox first, out only on PUBACK), in
  order, at least once.
- :mod:`~hipsense.mqtt.homeassistant`: discovery configs, re-sent when Home Assistant comes online.
- :mod:`~hipsense.mqtt.subscription`: ``<base>/exercise/log`` as a bounded :class:`Subscription` that the runtime
  iterates (:attr:`Publisher.exercise_log`).

Threads: paho's network thread and the pump. :meth:`Publisher.publish_state` and :meth:`Publisher.publish_alert`
may be called from any one application thread, or from asyncio code (``async with Publisher(...)``; both calls
are short: a SQLite insert for an alert, a socket write for state).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from hipsense.config import Config, check_topic, data_dir
from hipsense.discovery import DEFAULT_DISCOVERY_PREFIX, discovery_messages
from hipsense.inbound import MAX_EXERCISE_BYTES
from hipsense.mqtt.connection import Connection
from hipsense.mqtt.delivery import AlertSender
from hipsense.mqtt.homeassistant import DiscoveryPublisher
from hipsense.mqtt.payloads import _alert_body
from hipsense.mqtt.settings import BrokerError, BrokerSettings, base_topic_for, settings_from_config
from hipsense.mqtt.state import StatePublisher
from hipsense.mqtt.subscription import Subscription
from processing.errors import ConfigError

log = logging.getLogger("hipsense.mqtt")  # one logger name for the whole package


class Publisher:
    """Publishes one wearer's state and alerts, with Home Assistant discovery, and receives its exercise log.

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
        self.broker = broker
        self.wearer = wearer
        self.base_topic = base_topic_for(wearer, base_topic)
        if discovery_prefix is not None:
            try:
                check_topic("discovery_prefix", discovery_prefix)
            except ValueError as exc:
                raise ConfigError(str(exc), hint="for example homeassistant") from exc
        self.discovery_prefix = discovery_prefix
        self.startup_wait_s = startup_wait_s
        self.availability_topic = f"{self.base_topic}/availability"
        self.alert_topic = f"{self.base_topic}/alert"
        self._started = False
        self._closed = False

        # The parts attach to the connection in this order; on every connect they run in the same order:
        # ``online``, the subscriptions, discovery, the latest state and kept documents, then the alert pump.
        self.connection = Connection(
            broker,
            client_id=client_id or f"hipsense-{wearer}-{uuid.uuid4().hex[:8]}",
            availability_topic=self.availability_topic,
            reconnect_min_s=reconnect_min_s,
            reconnect_max_s=reconnect_max_s,
        )
        #: Exercise logged by hand from a phone or dashboard: JSON {"minutes": 5, "what": "bridges"} (QoS 1), for
        #: the runtime to iterate (:class:`hipsense.exercise_log.ExerciseLog` checks and logs each message).
        self.exercise_log = Subscription(f"{self.base_topic}/exercise/log", max_bytes=MAX_EXERCISE_BYTES)
        self.connection.attach(self.exercise_log)
        #: Home Assistant discovery, or None without a discovery prefix.
        self.discovery = (
            DiscoveryPublisher(
                self.connection,
                discovery_messages(
                    wearer=wearer, base_topic=self.base_topic, prefix=discovery_prefix, sitting_limit_s=sitting_limit_s
                ),
                prefix=discovery_prefix,
            )
            if discovery_prefix is not None
            else None
        )
        self._state = StatePublisher(
            self.connection, base_topic=self.base_topic, expiry_s=state_expiry_s, heartbeat_s=state_heartbeat_s
        )
        self.state_topic = self._state.state_topic  # ``<base>/state``
        self._alerts = AlertSender(
            self.connection, outbox_path=Path(outbox_path), topic=self.alert_topic, window=window
        )

    # -- public API --------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the broker has accepted the connection."""
        return self.connection.connected

    @property
    def exercise_topic(self) -> str:
        """Where exercise is logged by hand (``<base>/exercise/log``)."""
        return self.exercise_log.topic

    @property
    def outbox_path(self) -> Path:
        """The SQLite outbox file (in the data folder)."""
        return self._alerts.outbox_path

    @property
    def pending_alerts(self) -> int:
        """Alerts in the outbox not yet acknowledged by the broker."""
        return self._alerts.pending

    def start(self) -> Publisher:
        """Open the outbox, connect (in the background if the broker is away) and start sending.

        Waits up to ``startup_wait_s`` for the broker's answer. Raises BrokerError if it refuses the login or
        the TLS certificate does not verify; returns normally if it simply cannot be reached yet.
        """
        if self._started:
            raise RuntimeError("Publisher.start() called twice")
        self._started = True
        try:
            self._alerts.open()
            self.connection.open()
            self._alerts.wake()  # alerts left from an earlier run go to paho now, in order
            self.connection.wait_first_outcome(self.startup_wait_s)
        except BaseException:
            self._abort()
            raise
        return self

    def publish_state(self, state: Mapping[str, Any]) -> bool:
        """Publish ``state`` (retained, QoS 0) if it changed or the heartbeat is due. Returns True if sent
        (see :meth:`hipsense.mqtt.state.StatePublisher.publish_state`)."""
        self._check_running()
        return self._state.publish_state(state)

    def publish_retained(self, name: str, document: Mapping[str, Any]) -> bool:
        """Publish ``document`` as retained JSON on ``<base>/<name>`` (QoS 1) if connected; never queued.

        For slowly changing documents such as goal progress (``goals``). Returns True if handed to the broker.
        """
        self._check_running()
        return self._state.publish_retained(name, document)

    def publish_kept(self, name: str, document: Mapping[str, Any]) -> bool:
        """Publish ``document`` retained (QoS 1) on ``<base>/<name>`` and keep it: it is published again on
        every (re)connect, so the broker holds the latest one even after an outage. ``name`` is one of
        :data:`~hipsense.mqtt.state.KEPT_TOPICS`. Returns True if handed to the broker now."""
        self._check_running()
        return self._state.publish_kept(name, document)

    def publish_alert(self, alert: Mapping[str, Any]) -> str:
        """Store ``alert`` durably, queue it for the broker and return its ``id``.

        The alert needs ``event_type`` (one of :data:`~hipsense.discovery.ALERT_EVENT_TYPES`), ``time``
        (ISO 8601 with offset, or an aware datetime) and ``message``; any further fields are published as they
        are. An ``id`` is created if there is none. Returns once the alert is on disk; delivery follows.
        """
        self._check_running(thread=False)  # the alert goes to the outbox even if the network thread died
        alert_id = self._alerts.put(_alert_body(alert))
        self._check_thread()
        return alert_id

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the connection; raises BrokerError if the broker refused us."""
        return self.connection.wait_connected(timeout_s)

    def flush(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every alert is acknowledged. Returns True if the outbox is empty."""
        return self._alerts.flush(timeout_s)

    def close(self, timeout_s: float = 2.0) -> None:
        """Deliver what can be delivered within ``timeout_s``, say ``offline`` and disconnect (idempotent).

        Alerts still waiting stay in the outbox for the next run.
        """
        if self._closed or not self._started:
            self._closed = True
            return
        self._closed = True
        if self.connection.connected:
            self.flush(timeout_s)
            self.connection.say_offline(timeout_s)
        left = self.pending_alerts
        self._abort()
        if left:
            log.info("%s: %d alert(s) stay in the outbox for the next run", self.outbox_path, left)
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

    def _check_thread(self, waiting: int | None = None) -> None:
        """Raise BrokerError (once) if the network thread failed: the connection can no longer be trusted."""
        exc = self.connection.thread_failure()
        if exc is None:
            return
        left = self.pending_alerts if waiting is None else waiting
        raise BrokerError(
            f"{self.broker.url}: the MQTT client thread failed ({type(exc).__name__}: {exc}); "
            f"{left} alert(s) wait in the outbox for the next run",
            hint="report this as a bug in hipsense, with the lines above",
        )

    def _abort(self) -> None:
        """Stop threads and close the outbox without waiting for anything."""
        self._closed = True
        if self.discovery is not None:
            self.discovery.close()
        self.connection.close()
        self._alerts.close()


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
