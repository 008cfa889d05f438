"""The live loop: source -> pipeline -> sinks, shared by ``replay`` and ``live``; and the day restored from the
history store before it starts.

One consumer task runs the pipeline over whatever the source yields; sinks (console, store, MQTT, ...; see
:mod:`hipsense.sinks`) receive each batch of epochs and alerts. Inbound messages (exercise logged over MQTT) are
subscriptions the loop iterates in tasks of its own (:class:`InboundHandler`). SIGINT and SIGTERM stop the loop
cleanly: the pipeline is flushed, the inbound messages waiting are handled, and every sink closed in list order,
so no alert is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from hipsense.mqtt import InboundMessage, Subscription, state_payload
from hipsense.private import StorageError, write_private_text
from hipsense.sinks import AlertsNotQueued, Sink
from hipsense.store import HistoryStore
from processing.pipeline import Epochs, Pipeline, PipelineOutput
from sensor.source import Source, SourceEvent

log = logging.getLogger(__name__)


def _no_epochs() -> Epochs:
    return Epochs.concat([])


class InboundHandler(Protocol):
    """Takes the messages of one subscription (e.g. :class:`hipsense.exercise_log.ExerciseLog`)."""

    @property
    def subscription(self) -> Subscription: ...

    def handle(self, message: InboundMessage, *, t: float) -> None:
        """One message; t: the stream time of the latest epoch, s."""


@dataclass
class RunStats:
    samples: int = 0
    epochs: int = 0
    alerts: int = 0
    interrupted: bool = False


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
    origin = pipeline.clock.start.timestamp()
    day = pipeline.clock.day(0.0)
    totals = store.day_totals_before(day, origin, anterior_tilt_deg=anterior_tilt_deg)
    ts, activity = store.epoch_activity(origin - lookback_s, origin)
    pipeline.continue_day(day, totals, recent_t=ts - origin, recent_activity=activity)
    as_of = None
    saved = store.load_state(rules_key(wearer))
    if saved is not None and saved[1] <= origin + 1.0:
        try:
            pipeline.restore_alert_state(saved[0], origin_s=origin)
            as_of = pipeline.clock.local(saved[1] - origin)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("%s: the saved alert rule state is unreadable (%s); starting it afresh", store.path, exc)
            pipeline.restore_alert_state({}, origin_s=origin)
    return Restored(day, totals.seconds["sitting"], pipeline.sitting_bout_s, as_of)


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
    sinks: Sequence[Sink],
    *,
    inbound: Sequence[InboundHandler] = (),
    rule_state: Path | None = None,
    save_every_s: float = 60.0,
) -> RunStats:
    """Run until the source ends or SIGINT/SIGTERM arrives; then flush the pipeline and close the sinks.

    sinks: each batch goes to every sink in this order, and they are closed in this order.
    inbound: subscriptions iterated while the source runs; each message goes to its handler between two batches
    (the same thread as the sinks), and those still waiting at the end are handled before the sinks close.
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
    seq = 0
    completed = False
    battery: float | None = None
    stream_t = 0.0  # the stream time of the latest epoch, s
    _load_rule_state(pipeline, rule_state)
    last_save = time.monotonic()

    def dispatch(out: PipelineOutput) -> None:
        nonlocal seq, stream_t
        if len(out.epochs):
            stream_t = float(out.epochs.t[-1])
        states = []
        for i in range(len(out.epochs)):
            seq += 1
            iso = pipeline.local_time(float(out.epochs.t[i])).isoformat(timespec="seconds")
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

    async def consume(handler: InboundHandler) -> None:
        async for message in handler.subscription.messages():
            handler.handle(message, t=stream_t)

    consumers = [asyncio.create_task(consume(handler)) for handler in inbound]
    try:
        async for item in source.stream():
            if isinstance(item, SourceEvent):
                alerts = []
                if item.battery_pct is not None:
                    battery = item.battery_pct
                    alerts = pipeline.battery(t=item.t, battery_pct=item.battery_pct)
                elif item.kind in ("connected", "disconnected"):
                    alerts = pipeline.link(t=item.t, connected=item.kind == "connected", device=source.name)
                elif item.kind == "tick":
                    alerts = pipeline.tick(t=item.t, device=source.name)
                for sink in sinks:
                    sink.event(item)
                if alerts:
                    dispatch(PipelineOutput(_no_epochs(), alerts, []))
            else:
                stats.samples += len(item)
                dispatch(pipeline.update(item))
            for task in consumers:  # an inbound message that failed (e.g. a full disk) stops the run
                if task.done():
                    task.result()
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
        for task in consumers:
            task.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
        failure: BaseException | None = None
        for handler in inbound:  # what arrived since the consumer last ran, before the store closes
            try:
                for message in handler.subscription.take():
                    handler.handle(message, t=stream_t)
            except Exception as exc:
                (log.error if completed else log.warning)("handling %s failed: %s", handler.subscription.topic, exc)
                failure = failure or exc
        # Close every sink even if one fails (nothing lost elsewhere), then report the first failure.
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
