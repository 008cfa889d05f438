"""The live loop (hipsense.runtime.run) with a source that also sends sensor notices, and with inbound messages from
a real Mosquitto."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from hipsense.mqtt import BrokerSettings, InboundMessage, Publisher, Subscription
from hipsense.runtime import run
from hipsense.sinks import ConsoleSink
from processing.alerts import AlertParams
from processing.calibration import Calibration
from processing.pipeline import Pipeline, PipelineOutput, PipelineParams
from processing.samples import Samples
from sensor.simulate import SensorModel, parse_scenario, simulate
from sensor.source import SourceEvent
from tests.support.broker import Broker
from tests.support.mqtt import publish_all

START = datetime(2026, 2, 3, 9, 0, tzinfo=timezone(timedelta(hours=1)))


class ListSource:
    """A Source over items prepared in advance (simulated samples and notices), in order."""

    name = "virtual-test"
    rate_hz = 50.0
    start = START

    def __init__(self, items: list[Samples | SourceEvent]) -> None:
        self.items = items

    async def stream(self) -> AsyncIterator[Samples | SourceEvent]:
        for item in self.items:
            yield item
            await asyncio.sleep(0)


class Collect:
    def __init__(self) -> None:
        self.alerts: list[str] = []

    def handle(self, output: PipelineOutput, states: list[dict]) -> None:
        self.alerts += [a.event_type for a in output.alerts]

    def event(self, event: SourceEvent) -> None:
        pass

    def close(self) -> None:
        pass


def wearer(spec: str, seed: int) -> tuple[Samples, Calibration]:
    samples, truth = simulate(parse_scenario(spec), SensorModel(rate_hz=50.0, mounting_deg="random"), seed=seed)
    return samples, Calibration(truth.mounting, "guided", "assumed")


def pipeline(cal: Calibration, **alerts: float) -> Pipeline:
    return Pipeline(PipelineParams(rate_hz=50.0, start=START, calibration=cal, alerts=AlertParams(**alerts)))


def test_lost_sensor_and_low_battery_become_alerts():
    samples, cal = wearer("stand 20, walk 20", seed=2)
    items: list[Samples | SourceEvent] = [
        samples,
        SourceEvent("disconnected", 40.0, detail="link lost"),
        SourceEvent("tick", 70.0),
        SourceEvent("tick", 101.0),
        SourceEvent("connected", 120.0),
        SourceEvent("battery", 121.0, battery_pct=12.0),
    ]
    sink = Collect()
    console = io.StringIO()
    asyncio.run(run(ListSource(items), pipeline(cal), [sink, ConsoleSink(stream=console)]))
    assert sink.alerts == ["sensor_disconnected", "battery_low"]
    assert "ALERT 2026-02-03T09:01:41+01:00 sensor_disconnected" in console.getvalue()


def test_rule_state_survives_a_restart(tmp_path: Path):
    samples, cal = wearer("stand 10, walk 20, sit 90", seed=3)
    state = tmp_path / "rules.json"
    first, second = Collect(), Collect()
    asyncio.run(run(ListSource([samples]), pipeline(cal, daily_sitting_goal_s=60.0), [first], rule_state=state))
    assert first.alerts == ["daily_sitting_budget"]
    assert state.exists()
    # The process restarts the same day and sees more sitting: the day's budget alert is not sent again.
    asyncio.run(run(ListSource([samples]), pipeline(cal, daily_sitting_goal_s=60.0), [second], rule_state=state))
    assert second.alerts == []
    # Without the saved state it would have been sent twice.
    third = Collect()
    asyncio.run(run(ListSource([samples]), pipeline(cal, daily_sitting_goal_s=60.0), [third]))
    assert third.alerts == ["daily_sitting_budget"]


class Recorder:
    """An inbound handler noting each message's payload and the stream time it was handled at."""

    def __init__(self, subscription: Subscription) -> None:
        self.subscription = subscription
        self.got: list[tuple[bytes, float]] = []

    def handle(self, message: InboundMessage, *, t: float) -> None:
        self.got.append((message.payload, t))


class PublishingSource:
    """Yields ``samples``, has ``payloads`` published on the broker, then ticks (20 ms of wall clock apart) until
    ``recorder`` has them all (at most 10 s); last, one message arrives as the stream ends, without the loop getting
    a turn."""

    name = "virtual-test"
    rate_hz = 50.0
    start = START

    def __init__(self, samples: Samples, broker: Broker, recorder: Recorder, payloads: list[bytes]) -> None:
        self.samples, self.broker, self.recorder, self.payloads = samples, broker, recorder, payloads
        self.handled_while_streaming: list[bytes] = []

    async def stream(self) -> AsyncIterator[Samples | SourceEvent]:
        yield self.samples
        topic = self.recorder.subscription.topic
        await asyncio.to_thread(publish_all, self.broker, topic, self.payloads)
        t, deadline = float(self.samples.t[-1]), time.monotonic() + 10.0
        while len(self.recorder.got) < len(self.payloads) and time.monotonic() < deadline:
            t += 0.02
            yield SourceEvent("tick", t)
            await asyncio.sleep(0.02)
        self.handled_while_streaming = [p for p, _ in self.recorder.got]
        self.recorder.subscription.deliver(b'{"late": true}', False)  # as paho's thread does, at the very end


def test_the_loop_iterates_inbound_messages_while_the_source_runs_and_handles_the_rest_before_closing(
    broker: Broker, tmp_path: Path
) -> None:
    samples, cal = wearer("stand 10, walk 10", seed=4)
    settings = BrokerSettings.from_url(broker.url, env={})
    payloads = [b'{"minutes": 1}', b'{"minutes": 2}', b'{"minutes": 3}']
    with Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3", discovery_prefix=None) as pub:
        assert pub.wait_connected(5)
        recorder = Recorder(pub.exercise_log)
        source = PublishingSource(samples, broker, recorder, payloads)
        asyncio.run(run(source, pipeline(cal), [Collect()], inbound=[recorder]))
    assert source.handled_while_streaming == payloads  # iterated as they came, not polled at the end
    assert [p for p, _ in recorder.got] == [*payloads, b'{"late": true}']  # each once, in order
    assert all(t > 10.0 for _, t in recorder.got)  # the stream time of the latest epoch when handled
