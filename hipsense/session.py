"""What ``live`` and ``replay`` run: a source, the pipeline, and the sinks built in one place (:func:`open_session`).

The sinks see every batch, and are closed, in this order (the one place it is stated):

1. the console: its status line ends before anything below prints;
2. the history store: a batch with alerts is written (with the rule state that fired them) before the MQTT sink
   puts them in the durable outbox, and its last write is done before the MQTT sink closes (the state published
   last is one the store holds);
3. any extra sinks the caller adds;
4. MQTT last: it publishes the final state and goal progress, then closes the publisher.

Inbound messages (exercise logged over MQTT) are not sinks: the runtime iterates them, and handles those still
waiting before the first sink closes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hipsense.config import Config, data_dir
from hipsense.exercise_log import ExerciseLog
from hipsense.goals import find_goals, progress, progress_payload
from hipsense.mqtt import BrokerSettings, Publisher, publisher_from_config
from hipsense.runtime import InboundHandler, RunStats, restore_day, rules_key, run
from hipsense.sinks import ConsoleSink, MqttSink, RecordingTee, Sink, StoreSink, unqueued_key
from hipsense.store import HistoryStore
from processing.pipeline import Pipeline
from sensor.recording import RecordingWriter
from sensor.source import Source

#: What feeds a session: a live ``sensor`` (the wearer's day as it happens) or a ``recording`` replayed.
SourceKind = Literal["sensor", "recording"]


@dataclass
class Session:
    """A source, the pipeline, and what the run writes to (see the module docstring for the order).

    rule_state: the JSON file keeping the alert rules' state across restarts, or None (see
    :func:`hipsense.runtime.run`).
    """

    source: Source
    pipeline: Pipeline
    sinks: list[Sink]
    inbound: list[InboundHandler] = field(default_factory=list)
    rule_state: Path | None = None

    async def run(self) -> RunStats:
        """Run until the source ends or SIGINT/SIGTERM arrives (:func:`hipsense.runtime.run`)."""
        return await run(self.source, self.pipeline, self.sinks, inbound=self.inbound, rule_state=self.rule_state)


def open_session(
    source: Source,
    pipeline: Pipeline,
    *,
    kind: SourceKind,
    config: Config,
    broker: BrokerSettings | None,
    history: HistoryStore | None,
    recording: RecordingWriter | None = None,
    extra_sinks: Sequence[Sink] = (),
) -> Session:
    """The sinks of one run of ``live`` (``kind="sensor"``) or ``replay`` (``kind="recording"``).

    broker: the MQTT broker, or None for no MQTT (the publisher is started here).
    history: the history store, or None: the day so far is restored from it (totals, sitting bout, alert rules)
        before the first sample, so a restart changes nothing a subscriber sees.
    recording: also write the raw samples there.

    A live sensor differs from a recording in four ways: its link starts as disconnected (until the sensor
    connects); goal progress is published after each recount of the day; exercise logged over MQTT is taken in
    (needs the history store); and without a history store the alert rules' state is kept in a file, so that no
    alert is sent twice after a restart.
    """
    live = kind == "sensor"
    clock = pipeline.clock
    if history is not None:
        restore_from_store(history, pipeline, config)
    publisher = started_publisher(config, broker, pipeline.params.wearer)
    sinks: list[Sink] = [ConsoleSink(status_every_s=600.0)]
    inbound: list[InboundHandler] = []
    store: StoreSink | None = None
    if history is not None:
        on_flush = goal_publishing(config, publisher, pipeline) if live and publisher is not None else None
        store = store_sink(
            history,
            pipeline,
            config,
            on_flush=on_flush,
            outbox_key=None if publisher is None else unqueued_key(pipeline.params.wearer),
        )
        sinks.append(store)
        if live and publisher is not None:
            inbound.append(ExerciseLog.for_publisher(publisher, history, pipeline))
    sinks += extra_sinks
    if publisher is not None:
        sinks.append(
            MqttSink(
                publisher,
                clock=clock,
                link_connected=not live,  # a recording has no link to lose
                device=source.name,
                stored_through=None if store is None else (lambda: store.stored_through_t),
                requeue=() if store is None else store.unqueued,
            )
        )
    rule_state = data_dir() / "rules" / f"{pipeline.params.wearer}.json" if live and history is None else None
    feed = source if recording is None else RecordingTee(source, recording)
    return Session(feed, pipeline, sinks, inbound, rule_state)


def started_publisher(config: Config, broker: BrokerSettings | None, wearer: str) -> Publisher | None:
    """The MQTT publisher, connected (or connecting in the background), or None without a broker."""
    publisher = publisher_from_config(config, broker=broker, wearer=wearer) if broker else None
    if publisher is not None:
        publisher.start()
    return publisher


def goal_publishing(config: Config, publisher: Publisher, pipeline: Pipeline) -> Callable[[HistoryStore], None] | None:
    """Publish goal progress (per day and toward the end date) retained on ``<base>/goals`` after each recount of
    the day summaries (about once a minute), or None without goals."""
    goals = find_goals(None, config.goals.file)
    if goals is None:
        return None
    clock = pipeline.clock

    def on_flush(store: HistoryStore) -> None:
        today = clock.local(time.time() - clock.start.timestamp()).date()
        publisher.publish_retained("goals", progress_payload(progress(goals, store.days(), today)))

    return on_flush


def store_sink(
    store: HistoryStore,
    pipeline: Pipeline,
    config: Config,
    *,
    on_flush: Callable[[HistoryStore], None] | None = None,
    outbox_key: str | None = None,
) -> StoreSink:
    """The sink writing the run to the history store, with the config's anterior-tilt threshold and retention.

    outbox_key: see :class:`StoreSink` (None: no MQTT sink follows).
    """
    return StoreSink(
        store,
        pipeline.clock,
        anterior_tilt_deg=config.alerts.anterior_tilt_deg,
        flush_s=1.0,
        retention_days=config.store.retention_days,
        on_flush=on_flush,
        alert_state=pipeline.alert_state,
        rules_key=rules_key(pipeline.params.wearer),
        outbox_key=outbox_key,
    )


def restore_from_store(store: HistoryStore, pipeline: Pipeline, config: Config) -> None:
    """Continue the local day from the history store (totals, sitting bout, alert rules) and say so."""
    restored = restore_day(
        pipeline, store, wearer=pipeline.params.wearer, anterior_tilt_deg=config.alerts.anterior_tilt_deg
    )
    if restored.sitting_s > 0 or restored.bout_s > 0 or restored.rules_as_of is not None:
        print(restored.describe(), file=sys.stderr)
