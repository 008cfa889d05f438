"""MQTT flags shared by the commands that talk to a broker (replay, live, alerts)."""

from __future__ import annotations

import argparse

from hipsense.config import MqttConfig
from hipsense.mqtt import BrokerSettings, settings_from_config


def add_broker_flags(p: argparse.ArgumentParser, *, required: bool = False) -> None:
    p.add_argument(
        "--mqtt",
        metavar="URL",
        default=None,
        help="broker URL, mqtt://host[:port] (default port 1883) or mqtts://host[:port] (TLS, default 8883); "
        "default: [mqtt] url from the config file" + ("" if required else ", else no MQTT"),
    )
    p.add_argument("--mqtt-user", metavar="NAME", default=None, help="broker user name (default: config/env)")
    p.add_argument(
        "--mqtt-password",
        metavar="PW",
        default=None,
        help="broker password (default: config, or HIPSENSE_MQTT_PASSWORD; prefer those: flags show in ps)",
    )
    p.add_argument("--mqtt-ca", metavar="FILE", default=None, help="PEM file of the CA that signed the broker")
    p.add_argument("--mqtt-cert", metavar="FILE", default=None, help="PEM client certificate for TLS")
    p.add_argument("--mqtt-key", metavar="FILE", default=None, help="PEM key of the client certificate")
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow sending the password in plain text (mqtt://) to a host that is not this machine",
    )


def broker_settings(args: argparse.Namespace, cfg: MqttConfig) -> BrokerSettings | None:
    """Broker settings from the flags, then the config file; None when no broker URL is set anywhere."""
    return settings_from_config(
        cfg,
        url=args.mqtt,
        username=args.mqtt_user,
        password=args.mqtt_password,
        ca_file=args.mqtt_ca,
        certfile=args.mqtt_cert,
        keyfile=args.mqtt_key,
        insecure=args.insecure,
    )
