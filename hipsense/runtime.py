"""The live loop: source -> pipeline -> sinks, shared by ``replay`` and ``live``.

One consumer task runs the pipeline over whatever the source yields; sinks (console, MQTT, ...) receive each
batch of epochs and alerts. SIGINT and SIGTERM stop the loop cleanly: the pipeline is flushed and every sink
closed, so no alert is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import signal
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TextIO

from hipsense.inbound import ExerciseGate, InboundError, exercise_seen_path, parse_exercise
from hipsense.mqtt import Publisher, state_payload
from hipsense.private import StorageError, write_private_text
from hipsense.store import HistoryStore
from processing.alerts import Alert
from processing.bouts import Bout
from processing.clock import LocalClock
from processing.errors import HipsenseWarning
from processing.exercise import ExerciseBout
from processing.pipeline import Epochs, Pipeline, PipelineOutput, PostureTracker
from sensor.source import Source, SourceEvent

log = logging.getLogger(__name__)


def _no_epochs() -> Epochs:
    return Epochs.concat([])


def link_document(connected: bool, when: datetime, *, device: str = "", detail: str = "") -> dict[str, Any]:
    """The retained ``<base>/link`` JSON (docs/contracts.md): ``state`` (``connected`` / ``disconnected``),
    ``time`` of the change (ISO 8601 with offset), ``device``, ``detail``."""
    return {
        "state": "connected" if connected else "disconnected",
        "time": when.isoformat(timespec="seconds"),
        "device": device,
        "detail": detail[:200],
    }


def last_alert_document(alert: Alert, alert_id: str | None = None) -> dict[str, Any]:
    """The retained ``<base>/alert/last`` JSON: ``id``, ``kind`` (the event type), ``time``, ``message``."""
    return {
        "id": alert_id or alert.id,
        "kind": alert.event_type,
        "time": alert.time.isoformat(timespec="seconds"),
        "message": alert.message,
    }


class Sink(Protocol):
    def handle(self, output: PipelineOutput, states: list[dict[str, Any]]) -> None: ...

    def event(self, event: SourceEvent) -> None: ...

    def close(self) -> None: ...


@dataclass
class RunStats:
    samples: int = 0
    epochs: int = 0
    alerts: int = 0
    interrupted: bool = False


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


class StoreSink:
    """1 s epochs, sitting bouts and alerts into the history store, written in batches.

    flush_s: wall-clock seconds between writes (and at close), so the store sees a live day as it goes.
    retention_days: 1 s epochs older than this are pruned at close (day summaries stay).
    on_flush: called with the store after each write (e.g. to publish goal progress).
    alert_state, rules_key: the alert rules' whole state (``alert_state(origin_s)``, e.g.
        :meth:`Pipeline.alert_state`) is kept in the store (key ``rules_key``) with every write, so that a
        restart restores it consistently with the stored epochs (:func:`restore_day`).
    refresh_s: wall-clock seconds between recounts of the day summaries (and at close); the epochs themselves
        are written every ``flush_s``. ``on_flush`` follows each recount.

    A batch that fired alerts is written with the next batch (or at close), after the MQTT sink has put its
    alerts in the durable outbox: a kill in between may send such an alert again, but never loses one.
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
    ) -> None:
        self.store = store
        self.alert_state = alert_state
        self.rules_key = rules_key
        self._rules_state: dict[str, Any] | None = None
        self._alerts_waiting = False
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
            self.flush()  # the earlier batch's alerts are in the outbox by now
        if len(output.epochs):
            self._epochs.append(output.epochs)
            self._handled_through_t = float(output.epochs.t[-1]) + 1.0
        self._bouts += output.bouts
        self._alerts += output.alerts
        self._exercise += output.exercise
        if self.alert_state is not None and (len(output.epochs) or output.alerts):
            self._rules_state = self.alert_state(self.clock.start.timestamp())
        if output.alerts:
            self._alerts_waiting = True
        elif time.monotonic() - self._last_flush >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        self._alerts_waiting = False
        if not (self._epochs or self._bouts or self._alerts or self._exercise):
            return
        written = self.store.add_run(
            epochs=Epochs.concat(self._epochs),
            clock=self.clock,
            bouts=self._bouts,
            alerts=self._alerts,
            anterior_tilt_deg=self.anterior_tilt_deg,
            refresh=False,
        )
        self._days |= written
        self._stale_days |= written
        self.store.add_detected_exercise(self._exercise, self.clock)
        if self.rules_key is not None and self._rules_state is not None:
            as_of = self.clock.start.timestamp() + max(self._handled_through_t, 0.0)
            self.store.save_state(self.rules_key, self._rules_state, ts=as_of)
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


class ExerciseLogSink:
    """Exercise logged over MQTT (``<base>/exercise/log``) into the history store and the day's total.

    Payload: JSON ``{"minutes": 5, "what": "glute bridges", "day": "2026-03-02", "id": "..."}``; ``day`` defaults
    to the wearer's current day, ``id`` (optional) drops a message delivered twice. Every message is bounded and
    validated first (:mod:`hipsense.inbound`: size, depth, types, 1-180 minutes, a day within a week of today),
    and the log is protected against floods (a rate per minute, a daily cap, a retained message logged once);
    a refused message is logged as one line and ignored.
    """

    def __init__(
        self,
        publisher: Publisher,
        store: HistoryStore,
        tracker: PostureTracker,
        *,
        gate: ExerciseGate | None = None,
    ) -> None:
        self.publisher = publisher
        self.store = store
        self.tracker = tracker
        self.gate = gate or ExerciseGate(seen_path=exercise_seen_path(publisher.outbox_path.parent, publisher.wearer))
        self._t = 0.0
        self._capped: set[date] = set()  # days whose cap was reported

    def handle(self, output: PipelineOutput, states: list[dict[str, Any]]) -> None:
        if len(output.epochs):
            self._t = float(output.epochs.t[-1])
        for message in self.publisher.take_exercise_logs():
            self._log(message.payload, retained=message.retained)

    def _log(self, payload: bytes, *, retained: bool = False) -> None:
        topic = self.publisher.exercise_topic
        if not self.gate.allow_rate():
            return
        try:
            msg = parse_exercise(payload, today=self.tracker.clock.day(self._t), limits=self.gate.limits)
        except InboundError as exc:
            log.warning('%s: ignored a message that is not {"minutes": N, "what": TEXT} (%s)', topic, exc)
            return
        key = self.gate.key(payload, msg, retained=retained)
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
        self.tracker.log_exercise(msg.day, msg.minutes * 60.0)
        log.info("%s: logged %g min of %s on %s", topic, msg.minutes, msg.what, msg.day)

    def event(self, event: SourceEvent) -> None:
        pass

    def close(self) -> None:
        for message in self.publisher.take_exercise_logs():
            self._log(message.payload, retained=message.retained)


@dataclass(frozen=True)
class Restored:
    """What :func:`restore_day` took over from the history store. day: the local day; sitting_s: its sitting
    so far, s; bout_s: the sitting bout in progress, s; rules_as_of: when the restored rule state was saved
    (None: no saved state fitted)."""

    day: date
    sitting_s: float
    bout_s: float
    rules_as_of: datetime | None

    def describe(self) -> str:
        text = f"continuing {self.day}: {self.sitting_s / 60:.0f} min of sitting so far" + (
            f", a sitting bout of {self.bout_s / 60:.0f} min in progress" if self.bout_s > 0 else ""
        )
        if self.rules_as_of is not None:
            text += f", alert rules as of {self.rules_as_of.isoformat(timespec='seconds')}"
        return text


def rules_key(wearer: str) -> str:
    """The history store's key for a wearer's alert-rule state."""
    return f"rules/{wearer}"


def restore_day(
    pipeline: Pipeline,
    store: HistoryStore,
    *,
    wearer: str,
    anterior_tilt_deg: float,
    lookback_s: float = 12 * 3600.0,
) -> Restored:
    """Continue the local day from the history store before the first sample: the day's totals (sitting,
    standing, walking, lying, exercise, anterior tilt) from the epochs stored before this stream's start,
    the sitting bout in progress (rebuilt from the last ``lookback_s`` of stored epochs) and the alert rules'
    whole state (saved with the epochs; used only if saved no later than this stream's start). So a restart of
    ``live`` changes nothing a subscriber sees, and ``replay --store`` of a later part of a day continues it.
    """
    tracker = pipeline.tracker
    origin = tracker.clock.start.timestamp()
    day = tracker.clock.day(0.0)
    totals = store.day_totals_before(day, origin, anterior_tilt_deg=anterior_tilt_deg)
    ts, activity = store.epoch_activity(origin - lookback_s, origin)
    tracker.continue_day(day, totals, recent_t=ts - origin, recent_activity=activity)
    as_of = None
    saved = store.load_state(rules_key(wearer))
    if saved is not None and saved[1] <= origin + 1.0:
        try:
            pipeline.restore_alert_state(saved[0], origin_s=origin)
            as_of = tracker.clock.local(saved[1] - origin)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("%s: the saved alert rule state is unreadable (%s); starting it afresh", store.path, exc)
            pipeline.restore_alert_state({}, origin_s=origin)
    return Restored(day, totals.seconds["sitting"], tracker.bouts.current_s, as_of)


def _load_rule_state(pipeline: Pipeline, path: Path | None) -> None:
    if path is None or not path.exists():
        return
    try:
        pipeline.restore_alert_state(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        log.warning("%s: alert rule state unreadable (%s); starting afresh", path, exc)


def _save_rule_state(pipeline: Pipeline, path: Path | None) -> None:
    if path is None:
        return
    try:
        write_private_text(path, json.dumps(pipeline.alert_state()))  # 0600, atomic
    except OSError as exc:  # disk full: the rules start afresh next time (an alert may come twice)
        log.warning("%s: cannot save the alert rule state (%s)", path, exc.strerror or exc)


async def run(
    source: Source,
    pipeline: Pipeline,
    sinks: list[Sink],
    *,
    rule_state: Path | None = None,
    save_every_s: float = 60.0,
) -> RunStats:
    """Run until the source ends or SIGINT/SIGTERM arrives; then flush the pipeline and close the sinks.

    rule_state: a JSON file keeping the alert rules' state across restarts (live use), so that no alert is
    sent twice; None (replays) starts afresh.
    """
    stats = RunStats()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    tracker = pipeline.tracker
    seq = 0
    completed = False
    battery: float | None = None
    _load_rule_state(pipeline, rule_state)
    last_save = time.monotonic()

    def dispatch(out: PipelineOutput) -> None:
        nonlocal seq
        states = []
        for i in range(len(out.epochs)):
            seq += 1
            iso = tracker.local_time(float(out.epochs.t[i])).isoformat(timespec="seconds")
            states.append(state_payload(out.epochs, i, time_iso=iso, seq=seq, battery_pct=battery))
        stats.epochs += len(out.epochs)
        stats.alerts += len(out.alerts)
        failed: StorageError | None = None
        for sink in sinks:  # a full disk in one sink does not keep the output from the others
            try:
                sink.handle(out, states)
            except StorageError as exc:
                if failed is None or isinstance(exc, AlertsNotQueued):  # the alerts lost matter most
                    if failed is not None:
                        log.warning("%s", failed.message)
                    failed = exc
                else:
                    log.warning("%s", exc.message)
        if failed is not None:
            raise failed

    try:
        async for item in source.stream():
            if isinstance(item, SourceEvent):
                alerts = []
                if item.battery_pct is not None:
                    battery = item.battery_pct
                    alerts = tracker.battery(t=item.t, battery_pct=item.battery_pct)
                elif item.kind in ("connected", "disconnected"):
                    alerts = tracker.link(t=item.t, connected=item.kind == "connected", device=source.name)
                elif item.kind == "tick":
                    alerts = tracker.tick(t=item.t, device=source.name)
                for sink in sinks:
                    sink.event(item)
                if alerts:
                    dispatch(PipelineOutput(_no_epochs(), alerts, []))
            else:
                stats.samples += len(item)
                dispatch(pipeline.update(item))
            if rule_state is not None and time.monotonic() - last_save >= save_every_s:
                _save_rule_state(pipeline, rule_state)
                last_save = time.monotonic()
            if stop.is_set():
                stats.interrupted = True
                break
        dispatch(pipeline.finish())
        completed = True
    finally:
        _save_rule_state(pipeline, rule_state)
        for sig in installed:
            loop.remove_signal_handler(sig)
        # Close every sink even if one fails (nothing lost elsewhere), then report the first failure.
        failure: BaseException | None = None
        for sink in sinks:
            try:
                sink.close()
            except Exception as exc:
                # After a failure (e.g. a full disk) this is a consequence: the first error is the one raised.
                (log.error if completed else log.warning)("closing %s failed: %s", type(sink).__name__, exc)
                failure = failure or exc
        if failure is not None and completed:
            raise failure
    return stats
