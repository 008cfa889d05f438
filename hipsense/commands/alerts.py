"""``hipsense alerts``: print alerts from the MQTT broker as they come, one line each.

For people without a dashboard. Subscribes to ``<base>/alert`` (QoS 1) of one wearer, or of every wearer under
the ``hipsense`` prefix when no wearer is given. An alert re-sent after a reconnect carries the same ``id`` and
is printed once.
"""

from __future__ import annotations

import argparse
import json
import queue
import sys
import threading
import uuid
from collections import OrderedDict
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hipsense.commands._mqtt import add_broker_flags, broker_settings
from hipsense.config import config_path, load_config
from hipsense.inbound import InboundError, clean_text, loads_bounded
from hipsense.mqtt import BrokerError, base_topic_for, refusal_error, validate_base_topic
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
    if args.base_topic is not None:
        topic = validate_base_topic(args.base_topic) + "/alert"
    elif args.wearer is not None:
        topic = base_topic_for(args.wearer, f"{prefix}/{args.wearer}") + "/alert"
    else:
        topic = f"{prefix}/+/alert"

    lines: queue.SimpleQueue[tuple[str, bytes] | BaseException] = queue.SimpleQueue()
    subscribed = threading.Event()
    answered = threading.Event()  # subscribed, or the broker refused us
    refused: list[BrokerError] = []
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"hipsense-alerts-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password)
    if settings.tls:
        client.tls_set_context(settings.ssl_context())
    client.reconnect_delay_set(min_delay=1, max_delay=30)

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            error = refusal_error(settings, reason)
            if subscribed.is_set():
                lines.put(error)  # refused on a reconnect: say so and keep trying
            else:
                refused.append(error)
                answered.set()
            return
        c.subscribe(topic, qos=1)

    def on_subscribe(c: mqtt.Client, userdata: Any, mid: int, codes: list[ReasonCode], props: Any) -> None:
        if not subscribed.is_set():
            subscribed.set()
            answered.set()
            print(f"listening for alerts on {settings.url} {topic}", file=sys.stderr, flush=True)

    def on_message(c: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if len(msg.payload) > MAX_ALERT_BYTES:  # dropped at once, never kept
            lines.put(InboundError(f"{clean_text(msg.topic)}: ignored a message of {len(msg.payload)} bytes"))
            return
        lines.put((msg.topic, bytes(msg.payload)))

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    try:
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.MaximumPacketSize = MAX_ALERT_BYTES + 1024  # the broker drops larger messages for us
        client.connect(settings.host, settings.port, settings.keepalive_s, properties=props)
    except OSError as exc:
        raise BrokerError(f"{settings.url}: cannot connect ({exc})", hint="is the broker running?") from exc
    client.loop_start()
    try:
        answered.wait(args.timeout)
        if refused:
            raise refused[0]
        if not subscribed.is_set():
            raise BrokerError(f"{settings.url}: no answer from the broker within {args.timeout:g} s")
        return _print_loop(lines, args)
    finally:
        client.disconnect()
        client.loop_stop()


def _print_loop(lines: queue.SimpleQueue[tuple[str, bytes] | BaseException], args: argparse.Namespace) -> int:
    seen: OrderedDict[str, None] = OrderedDict()
    printed = 0
    while args.count is None or printed < args.count:
        try:
            item = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if isinstance(item, BaseException):
            print(f"warning: {item}", file=sys.stderr, flush=True)
            continue
        topic, payload = item
        shown_topic = clean_text(topic)
        try:
            alert = loads_bounded(payload, max_bytes=MAX_ALERT_BYTES, max_depth=MAX_ALERT_DEPTH)
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
        text = json.dumps(alert, ensure_ascii=True) if args.json else format_alert(alert, topic)
        print(text, flush=True)
        printed += 1
    return 0
