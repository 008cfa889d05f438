"""The sinks a run writes to, and the recording tee on its source (see :func:`hipsense.session.open_session` for
how ``live`` and ``replay`` put them together, and in which order).

- :class:`ConsoleSink`: a status line and one line per alert.
- :class:`StoreSink`: 1 s epochs, bouts, alerts and the alert rules' state into the history store.
- :class:`MqttSink`: state, alerts, the last alert and the sensor link to the broker (a
  :class:`~hipsense.mqtt.Publisher`).
- :class:`RecordingTee`: a source that also writes the raw samples to a recording.

Every sink has ``handle(output, states)`` (one batch of epochs and alerts, with their ``state`` JSON), ``event``
(a source event: connected, disconnected, battery, tick) and ``close``.
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, TextIO

from hipsense.mqtt import Publisher, last_alert_document, link_document
from hipsense.private import StorageError
from hipsense.store import HistoryStore
from processing.alerts import Alert
from processing.bouts import Bout
from processing.clock import LocalClock
from processing.errors import HipsenseWarning
from processing.exercise import ExerciseBout
from processing.pipeline import Epochs, PipelineOutput
from processing.samples import Samples
from sensor.recording import RecordingWriter
from sensor.source import Source, SourceEvent

log = logging.getLogger(__name__)


class Sink(Protocol):
    def handle(self, output: PipelineOutput, states: list[dict[str, Any]]) -> None: ...

    def event(self, event: SourceEvent) -> None: ...

    def close(self) -> None: ...


class ConsoleSink:
    """A live status line (on a terminal) and one line per alert."""

    def __init__(self, *, stream: TextIO | None = None, status_every_s: float = 600.0) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.status_every_s = status_every_s
        self._last_status_t = -math.inf
        self._line_open = False

    def _status(self, state: dict[str, Any]) -> str:
        tilt = "  --  " if state["tilt_deg"] is None else f"{state['tilt_deg']:+5.1f}°"
        bout = int(state["sitting_bout_s"])
        today = int(state["sitting_today_s"])
        return (
            f"{state['time'][11:19]}  {state['activity']:<8}  tilt {tilt}  bout {bout // 60:3d} min  "
            f"sitting today {today // 3600}h{today % 3600 // 60:02d}"
            + ("" if state["calibrated"] else "  (uncalibrated)")
        )

    def handle(self, output: PipelineOutput, states: list[dict[str, Any]]) -> None:
        for alert in output.alerts:
            self._print_alert(alert)
        if not states:
            return
        state = states[-1]
        if self.tty:
            self.stream.write("\r\x1b[K" + self._status(state))
            self.stream.flush()
            self._line_open = True
        else:
            t = float(output.epochs.t[-1])
            if t - self._last_status_t >= self.status_every_s:
                self._last_status_t = t
                print(self._status(state), file=self.stream, flush=True)

    def _print_alert(self, alert: Alert) -> None:
        if self._line_open:
            self.stream.write("\r\x1b[K")
            self._line_open = False
        print(
            f"ALERT {alert.time.isoformat(timespec='seconds')} {alert.event_type}: {alert.message}",
            file=self.stream,
            flush=True,
        )

    def event(self, event: SourceEvent) -> None:
        if event.kind == "tick":
            return
        if self._line_open:
            self.stream.write("\n")
            self._line_open = False
        print(f"{event.kind}: {event.detail}".rstrip(": "), file=self.stream, flush=True)

    def close(self) -> None:
        if self._line_open:
            self.stream.write("\n")
            self.stream.flush()
            self._line_open = False


class AlertsNotQueued(StorageError):
    """Alerts shown on the console could not be put in the outbox (the message names them)."""


class MqttSink:
    """Live state (retained, about 1 Hz while it changes), alerts (durable outbox, QoS 1), the last alert
    (retained ``<base>/alert/last``) and the sensor link (retained ``<base>/link``) to a broker.

    clock: maps stream times to local time for the link document (None: the link is not published).
    link_connected: the link state to publish at start: False for a live sensor (until it connects), True for
        a recording (it is always "connected"), None to publish nothing.
    stored_through: a function giving the stream time up to which the history store holds the epochs (see
        :attr:`StoreSink.stored_through_t`); a state is published only once its epoch is stored, so that a
        restart (which restores the day from the store) never shows a subscriber smaller day totals.
    requeue: MQTT alert payloads that an earlier run stored but may not have put in the outbox (the history
        store sink's :attr:`StoreSink.unqueued`); they are put in the outbox at once, under their own ids.
    """

    def __init__(
        self,
        publisher: Publisher,
        *,
        min_interval_s: float = 1.0,
        clock: LocalClock | None = None,
        link_connected: bool | None = None,
        device: str = "",
        stored_through: Callable[[], float] | None = None,
        max_held: int = 4096,
        requeue: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.publisher = publisher
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.device = device
        self.stored_through = stored_through
        self._last_sent = -math.inf
        self._pending: dict[str, Any] | None = None
        self._held: deque[tuple[float, dict[str, Any]]] = deque(maxlen=max_held)
        if clock is not None and link_connected is not None:
            self._publish_link(link_connected, datetime.now(UTC).astimezone(clock.tz), "start")
        for payload in requeue:
            alert_id = self.publisher.publish_alert(payload)
            log.info("alert %s of an interrupted run put in the outbox", alert_id)
            last = {"id": alert_id, "kind": payload["event_type"], "time": payload["time"]}
            self.publisher.publish_kept("alert/last", {**last, "message": payload["message"]})

    def _publish_link(self, connected: bool, when: datetime, detail: str) -> None:
        self.publisher.publish_kept("link", link_document(connected, when, device=self.device, detail=detail))

    def handle(self, output: PipelineOutput, states: list[dict[str, Any]]) -> None:
        for i, alert in enumerate(output.alerts):
            try:
                alert_id = self.publisher.publish_alert(alert.to_payload())
            except StorageError as exc:  # disk full: say which alerts shown on the console are not queued
                lost = ", ".join(f"{a.event_type} of {a.time.isoformat(timespec='seconds')}" for a in output.alerts[i:])
                raise AlertsNotQueued(f"{exc.message}; shown but not queued for MQTT: {lost}", hint=exc.hint) from exc
            self.publisher.publish_kept("alert/last", last_alert_document(alert, alert_id))
        if states:
            if self.stored_through is None:
                self._pending = states[-1]
            else:
                self._held.extend(zip(output.epochs.t.tolist(), states, strict=True))
        if self.stored_through is not None and self._held:
            # The latest state whose epoch is in the history store.
            through = self.stored_through()
            while self._held and self._held[0][0] + 1.0 <= through:
                self._pending = self._held.popleft()[1]
        if self._pending is not None:
            # At most one state per wall-clock second (replays run faster than real time); the latest wins.
            now = time.monotonic()
            if now - self._last_sent >= self.min_interval_s:
                self._last_sent = now
                self.publisher.publish_state(self._pending)
                self._pending = None

    def event(self, event: SourceEvent) -> None:
        # Battery readings reach MQTT through the next state, and the alert rules.
        if event.kind in ("connected", "disconnected") and self.clock is not None:
            self._publish_link(event.kind == "connected", self.clock.local(event.t), event.detail)

    def close(self) -> None:
        if self._held:  # the store sink has been closed (everything is stored) or there is none
            self._pending = self._held[-1][1]
        if self._pending is not None:
            self.publisher.publish_state(self._pending)
        self.publisher.close()


def unqueued_key(wearer: str) -> str:
    """The history store's key listing a wearer's alerts that may not be in the MQTT outbox yet (:class:`StoreSink`)."""
    return f"outbox/{wearer}"


class StoreSink:
    """1 s epochs, sitting bouts and alerts into the history store, written in batches.

    flush_s: wall-clock seconds between writes (and at close), so the store sees a live day as it goes.
    retention_days: 1 s epochs older than this are pruned at close (day summaries stay).
    on_flush: called with the store after each write (e.g. to publish goal progress).
    alert_state, rules_key: the alert rules' whole state (``alert_state(origin_s)``, e.g.
        :meth:`processing.pipeline.Pipeline.alert_state`) is kept in the store (key ``rules_key``) with every
        write, in the same transaction as the epochs and alerts, so that a restart restores them consistently
        with the stored epochs (:func:`hipsense.runtime.restore_day`).
    refresh_s: wall-clock seconds between recounts of the day summaries (and at close); the epochs themselves
        are written every ``flush_s``. ``on_flush`` follows each recount.
    outbox_key: the store key listing the alerts written here that the MQTT sink (after this one) may not have
        put in its durable outbox yet (None: no MQTT sink follows).

    A batch that fires alerts is written at once, with the rule state that fired them, *before* the MQTT sink
    puts them in the outbox: an alert is never sent before the state that produced it is durable, so a restarted
    run never fires it again under a new id. The same write lists the alerts under ``outbox_key``; the next
    write (the next batch, or close), which comes after the MQTT sink has queued them, empties the list. A run
    killed in between finds them there: :attr:`unqueued` (their MQTT payloads) goes to
    :class:`MqttSink` ``requeue``, which puts them in the outbox under their own ids. So a kill never loses an
    alert and never sends one under a second id (it may send one twice under the same id, as the outbox may).
    """

    def __init__(
        self,
        store: HistoryStore,
        clock: LocalClock,
        *,
        anterior_tilt_deg: float,
        flush_s: float = 60.0,
        retention_days: float | None = None,
        on_flush: Callable[[HistoryStore], None] | None = None,
        alert_state: Callable[[float], dict[str, Any]] | None = None,
        rules_key: str | None = None,
        refresh_s: float = 60.0,
        outbox_key: str | None = None,
    ) -> None:
        self.store = store
        self.alert_state = alert_state
        self.rules_key = rules_key
        self.outbox_key = outbox_key
        self._rules_state: dict[str, Any] | None = None
        #: MQTT payloads of alerts an earlier run stored but may not have put in the outbox (see the class doc).
        self.unqueued: list[dict[str, Any]] = []
        if outbox_key is not None:
            saved = store.load_state(outbox_key)
            if saved is not None and isinstance(saved[0].get("alerts"), list):
                self.unqueued = [a for a in saved[0]["alerts"] if isinstance(a, dict)]
        # The alerts listed under outbox_key are queued once the MQTT sink has seen the batch: the next write
        # empties the list.
        self._alerts_waiting = bool(self.unqueued)
        #: Stream time (s) up to which the epochs handed to this sink are written.
        self.stored_through_t = -math.inf
        self._handled_through_t = -math.inf
        self.on_flush = on_flush
        self.clock = clock
        self.anterior_tilt_deg = anterior_tilt_deg
        self.flush_s = flush_s
        self.retention_days = retention_days
        self._epochs: list[Epochs] = []
        self._bouts: list[Bout] = []
        self._alerts: list[Alert] = []
        self._exercise: list[ExerciseBout] = []
        self._days: set[date] = set()  # local days this run wrote
        self._last_flush = time.monotonic()
        self.refresh_s = refresh_s
        self._stale_days: set[date] = set()
        self._last_refresh = time.monotonic()

    def handle(self, output: PipelineOutput, states: list[dict[str, Any]]) -> None:
        if self._alerts_waiting:
            self.flush()  # the earlier batch's alerts are in the outbox by now: the list of unqueued empties
        if len(output.epochs):
            self._epochs.append(output.epochs)
            self._handled_through_t = float(output.epochs.t[-1]) + 1.0
        self._bouts += output.bouts
        self._alerts += output.alerts
        self._exercise += output.exercise
        if self.alert_state is not None and (len(output.epochs) or output.alerts):
            self._rules_state = self.alert_state(self.clock.start.timestamp())
        if output.alerts or time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()  # alerts at once: before the MQTT sink sends them

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        confirm = self._alerts_waiting  # the alerts listed under outbox_key are in the outbox by now
        self._alerts_waiting = False
        if not (self._epochs or self._bouts or self._alerts or self._exercise or confirm):
            return
        as_of = self.clock.start.timestamp() + max(self._handled_through_t, 0.0)
        states: dict[str, tuple[dict[str, Any], float]] = {}
        if self.rules_key is not None and self._rules_state is not None:
            states[self.rules_key] = (self._rules_state, as_of)
        if self.outbox_key is not None and (self._alerts or confirm):
            states[self.outbox_key] = ({"alerts": [a.to_payload() for a in self._alerts]}, as_of)
            self._alerts_waiting = bool(self._alerts)
        written = self.store.add_run(
            epochs=Epochs.concat(self._epochs),
            clock=self.clock,
            bouts=self._bouts,
            alerts=self._alerts,
            anterior_tilt_deg=self.anterior_tilt_deg,
            refresh=False,
            states=states,
        )
        self._days |= written
        self._stale_days |= written
        self.store.add_detected_exercise(self._exercise, self.clock)
        self.stored_through_t = self._handled_through_t
        self._epochs, self._bouts, self._alerts, self._exercise = [], [], [], []
        if time.monotonic() - self._last_refresh >= self.refresh_s:
            self.refresh()

    def refresh(self) -> None:
        """Recount the summaries of the days written since the last recount, then call ``on_flush``."""
        self._last_refresh = time.monotonic()
        if not self._stale_days:
            return
        self.store.refresh_days(self._stale_days, anterior_tilt_deg=self.anterior_tilt_deg)
        self._stale_days = set()
        if self.on_flush is not None:
            self.on_flush(self.store)

    def event(self, event: SourceEvent) -> None:
        pass

    def close(self) -> None:
        try:
            self.flush()
            self.refresh()
            if self.retention_days is not None:
                today = self.clock.local(time.time() - self.clock.start.timestamp()).date()
                keep = round(self.retention_days)
                self.store.prune(keep_days=keep, today=today)
                dropped = sorted(d for d in self._days if d < today - timedelta(days=keep - 1))
                if dropped:  # e.g. the replay of an old recording: say so rather than keep nothing silently
                    warnings.warn(
                        HipsenseWarning(
                            f"the 1 s epochs of {dropped[0]}"
                            + (f" to {dropped[-1]}" if len(dropped) > 1 else "")
                            + f" are older than the retention ([store] retention_days = {keep}) and were not "
                            "kept; their day summaries, bouts and alerts are (raise retention_days to keep them)"
                        ),
                        stacklevel=2,
                    )
        finally:
            self.store.close()


class RecordingTee:
    """A source that passes everything through and writes the samples to a recording (flushed every 1 s)."""

    def __init__(self, source: Source, writer: RecordingWriter) -> None:
        self.source = source
        self.writer = writer
        self.name = source.name
        self.rate_hz = source.rate_hz
        self.start = source.start

    async def stream(self) -> AsyncIterator[Samples | SourceEvent]:
        try:
            async for item in self.source.stream():
                if isinstance(item, Samples):
                    self.writer.write(item)
                yield item
        finally:
            self.writer.close()
