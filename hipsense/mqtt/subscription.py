"""Inbound messages: one subscribed topic as a bounded queue that the runtime iterates.

Like aiomqtt's ``async for message in client.messages``: paho's network thread only checks a message's size and
enqueues it (:meth:`Subscription.deliver`); the application iterates :meth:`Subscription.messages` in its own
event loop (or takes what waits with :meth:`Subscription.take`) and validates each payload there
(:mod:`hipsense.inbound`: depth, types, ranges, rates, daily caps). What does not fit is dropped on arrival, counted,
and reported in one log line a minute: a payload above ``max_bytes``, or a message when ``max_waiting`` wait
already. A subscription may stand for every wearer (``hipsense/+/alert``, :meth:`Subscription.every_wearer`): its
one wildcard level must then be a valid wearer id in every message (:func:`~hipsense.discovery.validate_wearer`),
or the message is dropped as well. The broker itself drops anything above
:data:`~hipsense.inbound.MAX_INBOUND_PACKET_BYTES` (MQTT v5 Maximum Packet Size, see :mod:`~hipsense.mqtt.connection`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hipsense.discovery import validate_wearer
from hipsense.inbound import Coalescer

log = logging.getLogger("hipsense.mqtt")  # one logger name for the whole package

#: Messages held for the application at a time, per subscription; more are dropped on arrival.
MAX_WAITING_MESSAGES = 100


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message received on a subscribed topic: ``topic`` (the topic it came on; for a per-wearer subscription
    its wearer level is a valid wearer id), ``payload`` (bounded in size) and whether the broker delivered it as
    retained (stored before we subscribed)."""

    topic: str
    payload: bytes
    retained: bool


class Subscription:
    """The messages of one topic, oldest first, for one consumer.

    topic: the topic; no wildcards, except a ``+`` at ``wearer_level`` (see :meth:`every_wearer`).
    max_bytes: larger payloads are dropped on arrival.
    max_waiting: messages held until the consumer takes them; more are dropped on arrival.
    wearer_level: the index of the topic level that stands for any wearer (a ``+`` there), or None.
    """

    def __init__(
        self, topic: str, *, max_bytes: int, max_waiting: int = MAX_WAITING_MESSAGES, wearer_level: int | None = None
    ) -> None:
        levels = topic.split("/")
        for i, level in enumerate(levels):
            if level == "+" and i == wearer_level:
                continue
            if any(c in level for c in "+#"):
                raise ValueError(f"{topic!r}: a subscription is one topic, not a wildcard (but for one wearer level)")
        if wearer_level is not None and not (0 <= wearer_level < len(levels) and levels[wearer_level] == "+"):
            raise ValueError(f"{topic!r}: level {wearer_level} is not '+'")
        if max_bytes < 1 or max_waiting < 1:
            raise ValueError("max_bytes and max_waiting must be positive")
        self.topic = topic
        self.max_bytes = max_bytes
        self.max_waiting = max_waiting
        self.wearer_level = wearer_level
        self._levels = levels
        self._queue: queue.Queue[InboundMessage] = queue.Queue(maxsize=max_waiting)
        self._lock = threading.Lock()
        self._dropped = 0  # messages dropped on arrival since the last report
        self._report = Coalescer(60.0)  # one log line a minute about them
        self._waiter: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    @classmethod
    def every_wearer(
        cls, prefix: str, suffix: str, *, max_bytes: int, max_waiting: int = MAX_WAITING_MESSAGES
    ) -> Subscription:
        """``<prefix>/+/<suffix>``: the topic ``suffix`` of every wearer under ``prefix`` (e.g. ``hipsense``,
        ``alert``); a message whose wearer level is not a valid wearer id is dropped on arrival."""
        return cls(
            f"{prefix}/+/{suffix}",
            max_bytes=max_bytes,
            max_waiting=max_waiting,
            wearer_level=len(prefix.split("/")),
        )

    def matches(self, topic: str) -> bool:
        """Whether a message on ``topic`` belongs here: the topic itself, or for a per-wearer subscription the
        same levels with a valid wearer id at the wearer level."""
        if self.wearer_level is None:
            return topic == self.topic
        levels = topic.split("/")
        if len(levels) != len(self._levels):
            return False
        for i, (got, want) in enumerate(zip(levels, self._levels, strict=True)):
            if i == self.wearer_level:
                try:
                    validate_wearer(got)
                except ValueError:
                    return False
            elif got != want:
                return False
        return True

    def deliver(self, payload: bytes | bytearray, retained: bool, topic: str | None = None) -> None:
        """Enqueue one received message, or drop it (too large, the queue full, or a topic that does not belong
        here). topic: the topic it came on (None: this subscription's own topic). Called on paho's thread."""
        if len(payload) > self.max_bytes:  # dropped at once, before any copy
            self._count_dropped()
            return
        if topic is None:
            topic = self.topic
        if not self.matches(topic):
            self._count_dropped()
            return
        try:
            self._queue.put_nowait(InboundMessage(topic, bytes(payload), retained))
        except queue.Full:
            self._count_dropped()
            return
        with self._lock:
            waiter = self._waiter
        if waiter is not None:
            loop, ready = waiter
            with contextlib.suppress(RuntimeError):  # the consumer's loop has closed
                loop.call_soon_threadsafe(ready.set)

    def take(self) -> list[InboundMessage]:
        """The messages waiting now (oldest first), without blocking."""
        out = []
        while True:
            try:
                out.append(self._queue.get_nowait())
            except queue.Empty:
                break
        with self._lock:
            dropped = self._dropped if self._dropped and self._report.allow() else 0
            self._dropped -= dropped
        if dropped:
            log.warning(
                "%s: dropped %d message(s) on arrival (larger than %d bytes, or more than %d waiting%s)",
                self.topic,
                dropped,
                self.max_bytes,
                self.max_waiting,
                "" if self.wearer_level is None else ", or not on a wearer's topic",
            )
        return out

    async def messages(self) -> AsyncIterator[InboundMessage]:
        """Every message as it arrives, oldest first, until the consuming task is cancelled (one consumer)."""
        ready = asyncio.Event()
        with self._lock:
            if self._waiter is not None:
                raise RuntimeError(f"{self.topic}: a subscription has one consumer")
            self._waiter = (asyncio.get_running_loop(), ready)
        try:
            while True:
                ready.clear()
                for message in self.take():
                    yield message
                await ready.wait()
        finally:
            with self._lock:
                self._waiter = None

    def _count_dropped(self) -> None:
        with self._lock:
            self._dropped += 1
