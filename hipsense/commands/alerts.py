"""``hipsense alerts``: print alerts from the MQTT broker as they come, one line each.

For people without a dashboard. Subscribes to ``<base>/alert`` (QoS 1) of one wearer, or of every wearer under
the ``hipsense`` prefix when no wearer is given. An alert re-sent after a reconnect carries the same ``id`` and
is printed once.

Every input is bounded: the broker sends no packet above :data:`MAX_ALERT_BYTES` (MQTT v5 Maximum Packet Size),
the subscription holds at most :data:`MAX_WAITING_ALERTS` alerts not yet printed and drops the rest on arrival
(reported in one log line a minute), each payload is parsed with a size and depth bound, and text is cleaned of
control characters before it reaches the terminal. With every wearer, only topics whose wearer level is a valid
wearer id are taken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import threading
import uuid
from collections import OrderedDict
from typing import Any

from hipsense.commands._mqtt import add_broker_flags, broker_settings
from hipsense.config import config_path, load_config
from hipsense.inbound import InboundError, clean_text, loads_bounded
from hipsense.mqtt import BrokerError, Subscription, base_topic_for, validate_base_topic
from hipsense.mqtt.connection import Connection
from processing.errors import ConfigError

_SEEN_IDS = 10_000  # ids remembered for dropping duplicates


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "alerts",
        help="print alerts from the MQTT broker as they come, one line each",
        description=(
            "Subscribe to the alert topic on the MQTT broker and print each alert on one line: its time "
            "(ISO 8601 with offset), event type, wearer and message. Runs until interrupted (Ctrl-C) unless "
            "--count is given. "
            "Broker settings not given as flags come from the config file ([mqtt]) and the environment "
            "(HIPSENSE_MQTT_USER, HIPSENSE_MQTT_PASSWORD)."
        ),
    )
    add_broker_flags(p, required=True)
    p.add_argument(
        "--wearer",
        metavar="ID",
        default=None,
        help="only this wearer's alerts (letters a-z, digits, '_', '-'); default: every wearer",
    )
    p.add_argument(
        "--base-topic",
        metavar="T",
        default=None,
        help="the wearer's base topic, if not hipsense/<wearer>; alerts are read from T/alert",
    )
    p.add_argument("--json", action="store_true", help="print each alert as its raw JSON instead")
    p.add_argument(
        "--count", type=int, metavar="N", default=None, help="exit after N alerts (default: run until Ctrl-C)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        default=10.0,
        help="seconds to wait for the first connection before giving up (default: 10)",
    )
    p.set_defaults(func=run)


#: The largest alert payload printed, bytes, and its nesting (an alert is a flat object).
MAX_ALERT_BYTES = 64 * 1024
MAX_ALERT_DEPTH = 4
#: Alerts received and not yet printed; more are dropped on arrival (and reported).
MAX_WAITING_ALERTS = 1000


def _text(value: Any, max_chars: int) -> str:
    """A field as printable text: only strings and numbers are shown; control characters removed."""
    if isinstance(value, str):
        return clean_text(value, max_chars=max_chars) or "?"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return "?"


def format_alert(alert: dict[str, Any], topic: str) -> str:
    """One line: time, event type, wearer (from the topic), message. Text from the broker is cleaned of
    terminal control characters (an alert could hold escape sequences that rewrite the terminal)."""
    levels = topic.split("/")
    wearer = clean_text(levels[-2], max_chars=64) if len(levels) >= 2 else "?"
    when = _text(alert.get("time"), 40)
    kind = _text(alert.get("event_type"), 40)
    message = _text(alert.get("message"), 500) if "message" in alert else ""
    return f"{when}  {kind:<20}  {wearer}  {message}"


def run(args: argparse.Namespace) -> int:
    cfg = load_config(config_path()).mqtt
    settings = broker_settings(args, cfg)
    if settings is None:
        raise ConfigError("no MQTT broker given", hint="pass --mqtt mqtt://host:port or set [mqtt] url in the config")
    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count must be >= 1, got {args.count}")
    prefix = validate_base_topic(cfg.base_topic)
    limits = {"max_bytes": MAX_ALERT_BYTES, "max_waiting": MAX_WAITING_ALERTS}
    if args.base_topic is not None:
        subscription = Subscription(validate_base_topic(args.base_topic) + "/alert", **limits)
    elif args.wearer is not None:
        subscription = Subscription(base_topic_for(args.wearer, f"{prefix}/{args.wearer}") + "/alert", **limits)
    else:
        subscription = Subscription.every_wearer(prefix, "alert", **limits)

    connection = Connection(
        settings,
        client_id=f"hipsense-alerts-{uuid.uuid4().hex[:8]}",
        availability_topic=None,  # a reader: no Last Will, no availability
        reconnect_min_s=1.0,
        reconnect_max_s=30.0,
        max_packet_bytes=MAX_ALERT_BYTES + 1024,  # the broker drops larger messages for us
    )
    connection.attach(subscription)
    subscribed = threading.Event()
    connection.when_subscribed(subscribed.set)
    connection.open_or_fail()  # BrokerError if the broker cannot be reached
    try:
        connection.wait_first_outcome(args.timeout)  # BrokerError if it refused us
        if not subscribed.wait(args.timeout):
            raise BrokerError(f"{settings.url}: no answer from the broker within {args.timeout:g} s")
        print(f"listening for alerts on {settings.url} {subscription.topic}", file=sys.stderr, flush=True)
        return asyncio.run(_print_loop(subscription, connection, args))
    finally:
        connection.close()


async def _print_loop(subscription: Subscription, connection: Connection, args: argparse.Namespace) -> int:
    """Print each alert as it arrives (duplicates by ``id`` once) until ``--count`` alerts are printed."""
    seen: OrderedDict[str, None] = OrderedDict()
    printed = 0
    async for message in subscription.messages():
        failure = connection.thread_failure()
        if failure is not None:
            raise failure
        shown_topic = clean_text(message.topic)
        try:
            alert = loads_bounded(message.payload, max_bytes=MAX_ALERT_BYTES, max_depth=MAX_ALERT_DEPTH)
        except InboundError as exc:
            print(f"warning: {shown_topic}: ignored a message ({exc})", file=sys.stderr, flush=True)
            continue
        if not isinstance(alert, dict):
            print(f"warning: {shown_topic}: ignored a message that is not a JSON object", file=sys.stderr, flush=True)
            continue
        alert_id = alert.get("id") if isinstance(alert.get("id"), str) else ""
        if alert_id:
            if alert_id in seen:
                continue
            seen[alert_id] = None
            if len(seen) > _SEEN_IDS:
                seen.popitem(last=False)
        # --json: ASCII only, so that no control character (C1 included) reaches the terminal raw.
        text = json.dumps(alert, ensure_ascii=True) if args.json else format_alert(alert, message.topic)
        print(text, flush=True)
        printed += 1
        if args.count is not None and printed >= args.count:
            break
    return 0
