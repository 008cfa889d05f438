"""``hipsense ha remove [--wearer ID]``: clear a wearer's retained Home Assistant discovery configs and state.

Home Assistant removes an MQTT-discovered entity when its retained config is replaced by an empty message; the
broker forgets a retained message likewise. This command does that for every discovery config of the wearer
(the ones this version publishes and any other under ``<prefix>/<component>/hipsense_<wearer>/``, e.g. from an
older version) and for the retained topics under the wearer's base topic (state, availability, link, goals,
last alert). Use it after renaming or removing a wearer.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from hipsense.commands._mqtt import add_broker_flags, broker_settings
from hipsense.config import load_config
from hipsense.discovery import entity_keys, validate_wearer
from hipsense.mqtt import BrokerError, BrokerSettings, base_topic_for, refusal_error
from processing.errors import ConfigError

#: Retained topics under the base topic.
RETAINED = ("state", "availability", "link", "goals", "alert/last")
#: Retained topics found under the wearer's node and base topic that one run clears at most (more are left for the
#: next run, and said so): what the broker sends is bounded like every input.
MAX_FOUND_TOPICS = 10_000


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("ha", help="Home Assistant: remove a wearer's entities (retained discovery and state)")
    actions = p.add_subparsers(dest="ha_action", metavar="ACTION", required=True, help="what to do")
    rm = actions.add_parser(
        "remove",
        help="clear a wearer's retained discovery configs and state from the broker",
        description=__doc__.split("\n\n")[1],
    )
    rm.add_argument("--wearer", metavar="ID", default=None, help="the wearer to remove (default: the config's)")
    rm.add_argument(
        "--listen-s", type=float, default=1.0, metavar="S", help="seconds to collect retained topics (default: 1)"
    )
    add_broker_flags(rm, required=True)
    rm.set_defaults(func=run_remove)


def run_remove(args: argparse.Namespace) -> int:
    config = load_config()
    wearer = args.wearer or config.wearer.id
    try:
        validate_wearer(wearer)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="pass --wearer with letters a-z, digits, '_' or '-'") from exc
    broker = broker_settings(args, config.mqtt)
    if broker is None:
        raise ConfigError("no broker given", hint="pass --mqtt mqtt://host:port or set [mqtt] url in the config")
    if not 0 < args.listen_s <= 60:
        raise ConfigError(f"--listen-s {args.listen_s:g}: give 0 to 60 s")
    base = base_topic_for(wearer, f"{config.mqtt.base_topic}/{wearer}")
    prefix = config.mqtt.discovery_prefix
    cleared = remove_wearer(broker, base_topic=base, wearer=wearer, prefix=prefix, listen_s=args.listen_s)
    print(f"cleared {cleared} retained topic(s) of wearer {wearer} on {broker.url}")
    return 0


def remove_wearer(broker: BrokerSettings, *, base_topic: str, wearer: str, prefix: str, listen_s: float = 1.0) -> int:
    """Publish an empty retained message on each of the wearer's retained topics; return how many.

    Known topics are always cleared; topics found retained under the wearer's discovery node and base topic
    within ``listen_s`` are cleared too. Raises BrokerError if the broker cannot be reached or refuses us.
    """
    node = f"hipsense_{wearer}"
    topics = {f"{prefix}/{component}/{node}/{key}/config" for component, key in entity_keys()}
    topics |= {f"{base_topic}/{name}" for name in RETAINED}
    found: set[str] = set()
    more = threading.Event()  # more than MAX_FOUND_TOPICS were found
    lock = threading.Lock()
    connected = threading.Event()
    refused: list[BaseException] = []

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            refused.append(refusal_error(broker, reason))
        else:
            client.subscribe([(f"{prefix}/+/{node}/#", 1), (f"{base_topic}/#", 1)])
        connected.set()

    def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.retain and msg.payload:
            with lock:
                if len(found) < MAX_FOUND_TOPICS:
                    found.add(msg.topic)
                elif msg.topic not in found:
                    more.set()

    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=f"hipsense-ha-remove-{uuid.uuid4().hex[:8]}", protocol=mqtt.MQTTv5
    )
    if broker.tls:
        client.tls_set_context(broker.ssl_context())
    if broker.username is not None:
        client.username_pw_set(broker.username, broker.password)
    client.on_connect = on_connect
    client.on_message = on_message
    try:
        client.connect(broker.host, broker.port, broker.keepalive_s)
    except OSError as exc:
        raise BrokerError(f"{broker.url}: broker not reachable ({exc})", hint="check --mqtt") from exc
    client.loop_start()
    try:
        if not connected.wait(10):
            raise BrokerError(f"{broker.url}: no answer from the broker within 10 s", hint="check --mqtt")
        if refused:
            raise refused[0]
        time.sleep(listen_s)  # retained messages arrive right after the subscription
        with lock:
            topics |= found
        infos = [client.publish(topic, b"", qos=1, retain=True) for topic in sorted(topics)]
        deadline = time.monotonic() + 10
        while not all(i.is_published() for i in infos):
            if time.monotonic() > deadline:
                raise BrokerError(f"{broker.url}: the broker did not confirm the removal within 10 s")
            time.sleep(0.01)
    finally:
        client.disconnect()
        client.loop_stop()
    print(f"{len(topics)} topic(s): " + ", ".join(sorted(topics)), file=sys.stderr)
    if more.is_set():
        print(f"warning: more than {MAX_FOUND_TOPICS} retained topics; run it again for the rest", file=sys.stderr)
    return len(topics)
