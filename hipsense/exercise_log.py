"""Exercise logged by hand over MQTT (``<base>/exercise/log``) into the history store and the day's total.

The runtime iterates the publisher's :class:`~hipsense.mqtt.Subscription` and hands every message to
:meth:`ExerciseLog.handle` (see :func:`hipsense.runtime.run`). Payload: JSON ``{"minutes": 5, "what": "glute
bridges", "day": "2026-03-02", "id": "..."}``; ``day`` defaults to the wearer's current day, ``id`` (optional)
drops a message delivered twice. Every message is bounded and validated first (:mod:`hipsense.inbound`: size,
depth, types, 1-180 minutes, a day within a week of today), and the log is protected against floods (a rate per
minute, a daily cap, a retained message logged once); a refused message is logged as one line and ignored.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Protocol

from hipsense.inbound import ExerciseGate, InboundError, exercise_seen_path, parse_exercise
from hipsense.mqtt import InboundMessage, Publisher, Subscription
from hipsense.store import HistoryStore
from processing.clock import LocalClock

log = logging.getLogger(__name__)


class ExerciseDays(Protocol):
    """Where logged exercise counts: the :class:`~processing.pipeline.Pipeline` of the run."""

    @property
    def clock(self) -> LocalClock:
        """Stream time <-> the wearer's local wall time (the default day of a message)."""
        ...

    def log_exercise(self, day: date, seconds: float) -> None:
        """``seconds`` of exercise count toward the local ``day``."""


class ExerciseLog:
    """Takes the messages of ``subscription`` into ``store`` (source ``mqtt``) and the day totals of ``days``.

    gate: the flood protection (rate, daily cap, messages already logged; see :class:`~hipsense.inbound.ExerciseGate`).
    """

    def __init__(
        self, subscription: Subscription, store: HistoryStore, days: ExerciseDays, *, gate: ExerciseGate
    ) -> None:
        self.subscription = subscription
        self.store = store
        self.days = days
        self.gate = gate
        self._capped: set[date] = set()  # days whose cap was reported

    @classmethod
    def for_publisher(cls, publisher: Publisher, store: HistoryStore, days: ExerciseDays) -> ExerciseLog:
        """The exercise log of ``publisher``'s wearer, remembering the messages already logged in the data folder
        (next to the outbox), so that a retained message is not logged again at every restart."""
        seen = exercise_seen_path(publisher.outbox_path.parent, publisher.wearer)
        return cls(publisher.exercise_log, store, days, gate=ExerciseGate(seen_path=seen))

    def handle(self, message: InboundMessage, *, t: float) -> None:
        """Check one message and log it, or log one line saying why not. t: the stream time of the latest epoch, s
        (its local day is the default ``day``)."""
        topic = self.subscription.topic
        if not self.gate.allow_rate():
            return
        try:
            msg = parse_exercise(message.payload, today=self.days.clock.day(t), limits=self.gate.limits)
        except InboundError as exc:
            log.warning('%s: ignored a message that is not {"minutes": N, "what": TEXT} (%s)', topic, exc)
            return
        key = self.gate.key(message.payload, msg, retained=message.retained)
        if self.gate.seen(key):
            return
        logged_s = sum(d for d, _, source in self.store.exercise_log(msg.day) if source == "mqtt")
        if not self.gate.within_cap(msg, logged_s):
            if msg.day in self._capped:
                return
            self._capped.add(msg.day)  # one line per day, not one per message
            log.warning(
                "%s: ignored %g min on %s, and any more that day: over the daily cap of %g min logged over MQTT",
                topic,
                msg.minutes,
                msg.day,
                self.gate.limits.daily_cap_minutes,
            )
            return
        self.store.add_exercise(msg.day, msg.minutes * 60.0, what=msg.what, source="mqtt")
        self.gate.remember(key)
        self.days.log_exercise(msg.day, msg.minutes * 60.0)
        log.info("%s: logged %g min of %s on %s", topic, msg.minutes, msg.what, msg.day)
