"""Broker settings: URL, TLS and credentials (:class:`BrokerSettings`), base topics, refusal errors.

User name and password come from the URL, the arguments, or ``HIPSENSE_MQTT_USER`` /
``HIPSENSE_MQTT_PASSWORD``; they are never logged nor shown in a repr. Plain-text credentials to a host that
is not loopback are refused unless ``insecure=True``. :func:`settings_from_config` is the one place where flags
and the ``[mqtt]`` config combine.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from paho.mqtt.reasoncodes import ReasonCode

from hipsense.config import MqttConfig, split_credentials
from hipsense.discovery import validate_wearer
from processing.errors import ConfigError, SensorConnectionError

DEFAULT_PORTS: dict[str, int] = {"mqtt": 1883, "mqtts": 8883}

ENV_USER = "HIPSENSE_MQTT_USER"
ENV_PASSWORD = "HIPSENSE_MQTT_PASSWORD"

# CONNACK reason codes that mean "your credentials are wrong" (MQTT v5 numbering; paho maps the v3 codes
# 4 and 5 onto 134 and 135).
_LOGIN_REFUSED = {134, 135, 140}


class BrokerError(SensorConnectionError):
    """The MQTT broker refused us (login, TLS) or cannot be used as configured."""


def _is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Where and how to connect. Build it with :meth:`from_url`.

    host, port: the broker. tls: use TLS (``mqtts://``).
    username, password: credentials or None; never shown by repr().
    ca_file: PEM file of CA certificates for TLS (None: the system's CAs).
    certfile, keyfile: client certificate and key (PEM) for TLS client authentication, or None.
    insecure: allow credentials in plain text to a host that is not loopback.
    keepalive_s: MQTT keep-alive, seconds; an abrupt death is noticed after about 1.5 times this.
    """

    host: str
    port: int
    tls: bool = False
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    insecure: bool = False
    keepalive_s: int = 30

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("MQTT broker URL has no host", hint="use mqtt://host:port or mqtts://host:port")
        if not 0 < self.port < 65536:
            raise ConfigError(f"{self.url}: port {self.port} is out of range", hint="use a port in 1..65535")
        if self.keepalive_s < 5:
            raise ConfigError(f"{self.url}: keep-alive {self.keepalive_s} s is too short", hint="use >= 5 s")
        if self.password is not None and self.username is None:
            raise ConfigError(f"{self.url}: a password was given without a user name", hint="pass --mqtt-user")
        if not self.tls and (self.ca_file or self.certfile or self.keyfile):
            raise ConfigError(
                f"{self.url}: TLS files were given for a plain-text broker URL",
                hint="use an mqtts:// URL to connect with TLS",
            )
        if (self.certfile is None) != (self.keyfile is None):
            raise ConfigError(
                f"{self.url}: a TLS client certificate needs both a certificate and a key file",
                hint="pass both --mqtt-cert and --mqtt-key",
            )
        for name, path in (("CA", self.ca_file), ("certificate", self.certfile), ("key", self.keyfile)):
            if path is not None and not Path(path).is_file():
                raise ConfigError(f"{path}: TLS {name} file not found", hint="check the path")
        if self.username is not None and not self.tls and not self.insecure and not _is_loopback(self.host):
            raise ConfigError(
                f"{self.url}: refusing to send the MQTT password in plain text to a host that is not loopback",
                hint="use an mqtts:// URL (TLS), or pass --insecure if you trust this network",
            )

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        ca_file: Path | str | None = None,
        certfile: Path | str | None = None,
        keyfile: Path | str | None = None,
        insecure: bool = False,
        keepalive_s: int = 30,
        env: Mapping[str, str] | None = None,
    ) -> BrokerSettings:
        """Parse ``mqtt://[user[:password]@]host[:port]`` or ``mqtts://...``.

        Credentials come from the arguments first, then the URL, then the environment
        (``HIPSENSE_MQTT_USER``, ``HIPSENSE_MQTT_PASSWORD``; pass ``env={}`` to ignore it).

        >>> BrokerSettings.from_url("mqtt://alice:s3cret@127.0.0.1", env={})
        BrokerSettings(host='127.0.0.1', port=1883, tls=False, username='***', password='***')
        """
        env = os.environ if env is None else env
        # Credentials are split off first (at the last '@'), so that no parse error can show the password.
        url, url_user, url_password = split_credentials(url.strip())
        try:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            host = parts.hostname or ""
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"MQTT broker URL is not valid ({exc})", hint="use mqtt://host:port") from exc
        if scheme not in DEFAULT_PORTS:
            raise ConfigError(
                f"MQTT broker URL must start with mqtt:// or mqtts://, got {scheme or 'no scheme'!r}",
                hint="for example mqtt://127.0.0.1:1883",
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ConfigError(
                f"{scheme}://{host}: the broker URL must not have a path or query",
                hint="set the topic with --base-topic instead",
            )
        user = username or (unquote(url_user) if url_user else None) or env.get(ENV_USER) or None
        pw = password or (unquote(url_password) if url_password else None) or env.get(ENV_PASSWORD) or None
        return cls(
            host=host,
            port=port or DEFAULT_PORTS[scheme],
            tls=scheme == "mqtts",
            username=user,
            password=pw,
            ca_file=Path(ca_file) if ca_file else None,
            certfile=Path(certfile) if certfile else None,
            keyfile=Path(keyfile) if keyfile else None,
            insecure=insecure,
            keepalive_s=keepalive_s,
        )

    @property
    def url(self) -> str:
        """The broker URL without credentials, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{host}:{self.port}"

    def __repr__(self) -> str:
        shown = [f"host={self.host!r}", f"port={self.port}", f"tls={self.tls}"]
        if self.username is not None:
            shown.append("username='***'")
        if self.password is not None:
            shown.append("password='***'")
        for name in ("ca_file", "certfile", "keyfile"):
            if getattr(self, name) is not None:
                shown.append(f"{name}={str(getattr(self, name))!r}")
        if self.insecure:
            shown.append("insecure=True")
        return f"BrokerSettings({', '.join(shown)})"

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context (server certificate and host name are always verified)."""
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.certfile is not None and self.keyfile is not None:
                context.load_cert_chain(str(self.certfile), str(self.keyfile))
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"{self.url}: cannot load the TLS files ({exc})",
                hint="check that --mqtt-ca, --mqtt-cert and --mqtt-key are PEM files",
            ) from exc
        return context


_TOPIC_LEVEL_RE = re.compile(r"[^+#/\x00]+")


def base_topic_for(wearer: str, base_topic: str | None = None) -> str:
    """``base_topic`` validated, or ``hipsense/<wearer>``. Raises ConfigError on a bad wearer or topic."""
    try:
        validate_wearer(wearer)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="pass --wearer with letters a-z, digits, '_' or '-'") from exc
    return validate_base_topic(base_topic if base_topic is not None else f"hipsense/{wearer}")


def validate_base_topic(topic: str) -> str:
    """Return ``topic`` if it can be a base topic (no wildcards, no empty levels, no leading '$')."""
    if topic.startswith("$") or not all(_TOPIC_LEVEL_RE.fullmatch(level) for level in topic.split("/")):
        raise ConfigError(
            f"base topic {topic!r} is not valid: no wildcards, no empty levels, no leading '$'",
            hint="for example hipsense/anna",
        )
    return topic


def refusal_error(broker: BrokerSettings, reason: ReasonCode) -> BrokerError:
    """The one-line error for a CONNACK that refused us."""
    if reason.value in _LOGIN_REFUSED:
        if broker.username is None:
            text = f"{broker.url}: broker requires a login ({reason}); pass --mqtt-user/--mqtt-password"
        else:
            text = (
                f"{broker.url}: broker refused the login (bad user name or password); check --mqtt-user/--mqtt-password"
            )
        return BrokerError(text, hint=f"credentials can also come from {ENV_USER} and {ENV_PASSWORD}")
    return BrokerError(f"{broker.url}: broker refused the connection ({reason})", hint="check the broker's log")


def settings_from_config(
    cfg: MqttConfig,
    *,
    url: str | None = None,
    username: str | None = None,
    password: str | None = None,
    ca_file: str | None = None,
    certfile: str | None = None,
    keyfile: str | None = None,
    insecure: bool = False,
) -> BrokerSettings | None:
    """Broker settings from the arguments (flags), then the ``[mqtt]`` config; None when no URL is set anywhere."""
    url = url or cfg.url
    if not url:
        return None
    return BrokerSettings.from_url(
        url,
        username=username or cfg.username or None,
        password=password or cfg.password or None,
        ca_file=ca_file or cfg.ca_file or None,
        certfile=certfile or cfg.cert_file or None,
        keyfile=keyfile or cfg.key_file or None,
        insecure=insecure or cfg.insecure,
    )
