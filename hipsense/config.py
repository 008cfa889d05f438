"""Where things live, and the TOML configuration.

The config file and the data folder sit at the platform's user locations (XDG on Linux, via platformdirs).
The environment variable ``HIPSENSE_HOME`` moves both: ``$HIPSENSE_HOME/config.toml`` and
``$HIPSENSE_HOME/data/``.

Every key is checked when the file is read: a misspelt option fails at once, naming the file and the key.
"""

from __future__ import annotations

import math
import os
import re
import secrets
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

from processing.alerts import AlertParams
from processing.errors import ConfigError

APP = "hipsense"
WEARER_RE = re.compile(r"^[a-z0-9_-]{1,64}$")
_TOPIC_LEVEL_RE = re.compile(r"[^+#/\x00-\x1f\x7f]+")
#: Retention of 1 s epochs, days: 1 to 100 years.
RETENTION_DAYS_MAX = 36500.0


def check_topic(key: str, topic: str) -> str:
    """``topic`` if it can be published to: no wildcards, no empty levels, no control characters, no leading
    '$', at most 200 characters. Raises ValueError naming ``key``."""
    if (
        not topic
        or len(topic) > 200
        or topic.startswith("$")
        or not all(_TOPIC_LEVEL_RE.fullmatch(level) for level in topic.split("/"))
    ):
        raise ValueError(
            f"{key} = {topic[:200]!r} is not a valid MQTT topic: no wildcards (+ #), no empty levels, no leading '$'"
        )
    return topic


def home_override() -> Path | None:
    value = os.environ.get("HIPSENSE_HOME")
    return Path(value).expanduser() if value else None


def config_path() -> Path:
    """The config file: ``$HIPSENSE_HOME/config.toml`` or the user config dir (``~/.config/hipsense``)."""
    home = home_override()
    if home is not None:
        return home / "config.toml"
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def data_dir() -> Path:
    """The data folder (calibrations, outbox, history): ``$HIPSENSE_HOME/data`` or ``~/.local/share/hipsense``."""
    home = home_override()
    if home is not None:
        return home / "data"
    return Path(platformdirs.user_data_dir(APP))


@dataclass(frozen=True)
class WearerConfig:
    """Who wears the sensor. ``id`` names MQTT topics and calibration files: ``[a-z0-9_-]``."""

    id: str = "me"
    timezone: str = ""  # IANA name such as "Europe/Berlin"; empty: the machine's local zone

    def __post_init__(self) -> None:
        if not WEARER_RE.match(self.id):
            raise ConfigError(
                f"wearer id {self.id!r} is invalid",
                hint="use 1-64 characters among a-z, 0-9, '_' and '-'",
            )


@dataclass(frozen=True)
class MqttConfig:
    """Broker connection. ``url`` is ``mqtt://host:port`` or ``mqtts://host:port``; empty disables MQTT."""

    url: str = ""
    username: str = ""
    password: str = ""
    base_topic: str = "hipsense"
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure: bool = False
    discovery: bool = True
    discovery_prefix: str = "homeassistant"

    def __post_init__(self) -> None:
        check_topic("base_topic", self.base_topic)
        check_topic("discovery_prefix", self.discovery_prefix)


@dataclass(frozen=True)
class StoreConfig:
    """The history store: ``path`` of the SQLite file (empty: history.sqlite3 in the data folder) and how many
    days of 1 s epochs to keep (day summaries, bouts and alerts are kept for good)."""

    path: str = ""
    retention_days: float = 365.0

    def __post_init__(self) -> None:
        if not 1 <= self.retention_days <= RETENTION_DAYS_MAX:
            raise ValueError(f"retention_days = {self.retention_days:g} must be 1 to {RETENTION_DAYS_MAX:g} days")


@dataclass(frozen=True)
class GoalsConfig:
    """``file``: the goals TOML (empty: goals.toml beside the config file)."""

    file: str = ""


@dataclass(frozen=True)
class Config:
    wearer: WearerConfig = field(default_factory=WearerConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    alerts: AlertParams = field(default_factory=AlertParams)
    store: StoreConfig = field(default_factory=StoreConfig)
    goals: GoalsConfig = field(default_factory=GoalsConfig)
    source: Path | None = None  # the file it was read from, if any

    def masked(self) -> dict[str, dict[str, Any]]:
        """The effective settings as plain data, with secrets masked (for ``hipsense config --show``)."""
        out: dict[str, dict[str, Any]] = {}
        for section in _SECTIONS:
            obj = getattr(self, section)
            values: dict[str, Any] = {}
            for f in fields(obj):
                value = getattr(obj, f.name)
                if f.name == "password" and value:
                    value = "********"
                if f.name == "url" and value:
                    value = mask_url(value)
                values[f.name] = value
            out[section] = values
        return out


_SECTIONS: dict[str, type] = {
    "wearer": WearerConfig,
    "mqtt": MqttConfig,
    "alerts": AlertParams,
    "store": StoreConfig,
    "goals": GoalsConfig,
}


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``scheme://user:password@host:port`` -> (``scheme://host:port``, user, password), user and password
    still %-encoded (None when absent).

    The credentials end at the *last* '@' (a broker URL has no path), so a password holding '/', '#', '?' or
    '@' is split off whole and never ends up in the host part, an error message or a log line.

    >>> split_credentials("mqtt://alice:S3cr/et@10.0.0.5:1883")
    ('mqtt://10.0.0.5:1883', 'alice', 'S3cr/et')
    """
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url, None, None
    userinfo, _, hostport = rest.rpartition("@")
    user, colon, password = userinfo.partition(":")
    return f"{scheme}://{hostport}", user, password if colon else None


def mask_url(url: str) -> str:
    """Hide any password in ``scheme://user:password@host`` (whatever characters it holds)."""
    bare, user, password = split_credentials(url)
    if user is None:
        return url
    scheme, _, hostport = bare.partition("://")
    return f"{scheme}://{user}{':********' if password is not None else ''}@{hostport}"


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for one-line errors."""
    text = repr(value) if not isinstance(value, int) or abs(value) < 10**50 else f"{str(value)[:20]}... (a huge number)"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _build(section: str, cls: type, raw: Any, path: Path) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: [{section}] must be a table")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(
                f"{path}: unknown key {key!r} in [{section}]",
                hint=f"known keys: {', '.join(sorted(known))}",
            )
        default = getattr(cls(), key) if key != "id" else ""
        if isinstance(default, dict):
            ok = isinstance(value, dict) and all(
                isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 1e300 for v in value.values()
            )
            value = {k: float(v) for k, v in value.items()} if ok else value
        elif isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, float):
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if ok and not (abs(value) < 1e300 and math.isfinite(value)):  # NaN, infinities, huge integers
                raise ConfigError(f"{path}: [{section}] {key} = {_short(value)} is not a finite number of a sane size")
            value = float(value) if ok else value
        else:
            ok = isinstance(value, str)
        if not ok:
            raise ConfigError(f"{path}: [{section}] {key} = {_short(value)} has the wrong type")
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{path}: [{section}] {exc}") from exc


MAX_CONFIG_BYTES = 1024 * 1024


def load_config(path: Path | None = None) -> Config:
    """Read the config file (``path`` or :func:`config_path`); a missing file gives the defaults."""
    path = path or config_path()
    if not path.exists():
        return Config()
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KB, not a hipsense config")
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})", hint="save the config file as UTF-8") from None
    except ValueError as exc:  # TOMLDecodeError, or an integer of thousands of digits
        raise ConfigError(f"{path}: invalid TOML: {str(exc)[:200]}", hint="fix the file or remove it") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    cfg = Config(source=path)
    for key, value in raw.items():
        if key not in _SECTIONS:
            raise ConfigError(f"{path}: unknown section [{key}]", hint=f"known sections: {', '.join(_SECTIONS)}")
        cfg = replace(cfg, **{key: _build(key, _SECTIONS[key], value, path)})
    return cfg


# -- the default wearer id (unique per install) ------------------------------------------------------------

_WEARER_HEADER = re.compile(r"^\s*\[wearer\]\s*(#.*)?$")

#: What an install that ran before unique ids existed left in the data folder under the old default "me".
_LEGACY_TRACES = ("calibrations/me", "rules/me.json", "history.sqlite3", "mqtt-outbox.sqlite3")


def ensure_wearer_id(config: Config, path: Path | None = None) -> str:
    """The config's wearer id; if the file sets none, make one unique to this install and write it there.

    Two installs on one broker then never share topics. An install that already ran with the old default
    ``me`` (its calibration, history or outbox is in the data folder) keeps ``me``, written down likewise, so
    its topics, calibrations and history stay as they were. ``path``: the config file (default: the one the
    config came from, else :func:`config_path`).
    """
    path = path or config.source or config_path()
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        raw = tomllib.loads(text)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config ({exc})") from exc
    section = raw.get("wearer")
    if isinstance(section, dict) and section.get("id"):
        return config.wearer.id
    legacy = any((data_dir() / trace).exists() for trace in _LEGACY_TRACES)
    wearer = "me" if legacy else f"wearer-{secrets.token_hex(3)}"
    line = f'id = "{wearer}"  # made on first run: names MQTT topics; change it before pairing Home Assistant'
    lines = text.splitlines()
    at = next((i for i, x in enumerate(lines) if _WEARER_HEADER.match(x)), None)
    if at is None:
        lines += ([""] if lines else []) + ["[wearer]", line]
    else:
        lines.insert(at + 1, line)
    new_text = "\n".join(lines) + "\n"
    tomllib.loads(new_text)  # still valid TOML
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(new_text, encoding="utf-8")
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot write the new wearer id ({exc.strerror})",
            hint='set one yourself: [wearer] id = "anna"',
        ) from exc
    return WearerConfig(id=wearer, timezone=config.wearer.timezone).id
