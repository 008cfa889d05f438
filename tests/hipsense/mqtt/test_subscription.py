"""Inbound messages (hipsense.mqtt.subscription) against a real Mosquitto: bounded on arrival, iterated in order."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from hipsense.mqtt import BrokerSettings, InboundMessage, Publisher, Subscription
from tests.support.broker import Broker
from tests.support.mqtt import publish_all


# issue 11, row 9: large inbound messages are not kept
def test_large_inbound_messages_are_dropped_not_kept(broker: Broker, tmp_path: Path) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    with Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3", discovery_prefix=None) as pub:
        assert pub.wait_connected(5)
        time.sleep(0.3)
        big = b"{" + b" " * (4 * 1024 * 1024) + b"}"
        publish_all(broker, pub.exercise_topic, [big] * 5 + [b'{"minutes": 5}'])
        got: list[bytes] = []
        deadline = time.monotonic() + 10
        while b'{"minutes": 5}' not in got and time.monotonic() < deadline:
            got += [m.payload for m in pub.exercise_log.take()]
            time.sleep(0.05)
    assert got == [b'{"minutes": 5}']
    # The broker itself never sent them (MQTT v5 Maximum Packet Size): nothing was received to be dropped.
    assert broker.log_text().count("Dropping too large outgoing PUBLISH") == 5


def test_messages_arrive_in_order_through_the_async_iterator(broker: Broker, tmp_path: Path) -> None:
    settings = BrokerSettings.from_url(broker.url, env={})
    publish_all(broker, "hipsense/anna/exercise/log", [b'{"minutes": 1}'], retain=True)  # before we subscribe
    payloads = [f'{{"minutes": {i}}}'.encode() for i in range(2, 7)]

    async def receive(pub: Publisher) -> list[InboundMessage]:
        got: list[InboundMessage] = []
        async for message in pub.exercise_log.messages():
            got.append(message)
            if len(got) == 1:  # the retained one: now publish the others, from another thread
                await asyncio.to_thread(publish_all, broker, pub.exercise_topic, payloads)
            if len(got) == 1 + len(payloads):
                break
        return got

    with Publisher(settings, wearer="anna", outbox_path=tmp_path / "o.sqlite3", discovery_prefix=None) as pub:
        got = asyncio.run(asyncio.wait_for(receive(pub), 20))
        assert pub.exercise_log.take() == []
    assert [m.payload for m in got] == [b'{"minutes": 1}', *payloads]
    assert [m.retained for m in got] == [True] + [False] * len(payloads)
    assert {m.topic for m in got} == {"hipsense/anna/exercise/log"}


def test_a_subscription_is_one_topic_with_one_consumer() -> None:
    with pytest.raises(ValueError, match="wildcard"):
        Subscription("hipsense/+/exercise/log", max_bytes=1024)
    sub = Subscription("hipsense/anna/exercise/log", max_bytes=1024)

    async def two_consumers() -> None:
        first = sub.messages()
        second = sub.messages()
        pending = asyncio.ensure_future(first.__anext__())
        await asyncio.sleep(0)  # the first consumer is waiting
        try:
            with pytest.raises(RuntimeError, match="one consumer"):
                await second.__anext__()
        finally:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)
        sub.deliver(b"{}", False)  # the first consumer has gone: a new one may iterate
        third = sub.messages()
        assert (await third.__anext__()).payload == b"{}"
        await third.aclose()

    asyncio.run(two_consumers())


def test_messages_beyond_the_bound_are_dropped_on_arrival_and_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    sub = Subscription("hipsense/anna/exercise/log", max_bytes=16, max_waiting=3)
    for i in range(5):
        sub.deliver(f"{i}".encode(), False)  # as paho's network thread does
    sub.deliver(b"x" * 17, False)  # too large
    with caplog.at_level(logging.WARNING):
        assert [m.payload for m in sub.take()] == [b"0", b"1", b"2"]
        sub.deliver(b"y" * 17, False)
        assert sub.take() == []  # the second drop is reported within the minute's one line, not now
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "hipsense/anna/exercise/log: dropped 3 message(s) on arrival (larger than 16 bytes, or more than 3 waiting)"
    ]


def test_a_per_wearer_subscription_takes_only_wearer_topics(caplog: pytest.LogCaptureFixture) -> None:
    sub = Subscription.every_wearer("hipsense", "alert", max_bytes=64, max_waiting=10)
    assert sub.topic == "hipsense/+/alert"
    topics = [
        "hipsense/anna/alert",
        "hipsense/Bad Name/alert",  # not a wearer id
        "hipsense/\x1b[2J/alert",  # a terminal escape as the wearer
        "hipsense/anna/x/alert",  # another level
        "other/anna/alert",
        "hipsense/bob/alert",
    ]
    for topic in topics:
        sub.deliver(b"{}", False, topic)  # as the connection does for a wildcard subscription
    with caplog.at_level(logging.WARNING):
        assert [m.topic for m in sub.take()] == ["hipsense/anna/alert", "hipsense/bob/alert"]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "hipsense/+/alert: dropped 4 message(s) on arrival "
        "(larger than 64 bytes, or more than 10 waiting, or not on a wearer's topic)"
    ]
    for bad in ("hipsense/+/alert/#", "hipsense/+/+"):
        with pytest.raises(ValueError, match="wildcard"):
            Subscription(bad, max_bytes=64, wearer_level=1)
