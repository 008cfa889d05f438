"""Device profiles (``firmware_config/*.toml``): how to find a sensor, configure it and lay out its packets.

A profile says how to find a sensor (advertised names and services), which GATT characteristics to use, what
to write at connect (rate and ranges), and the layout of its notifications as ``struct`` formats with scale
factors (:class:`~sensor.decode.PacketLayout`; decoding a notification is :mod:`sensor.decode`).

>>> wit = load_profile("witmotion")
>>> frame = bytes.fromhex("5561") + wit.packet.record.pack(0, 0, 2048, 0, 0, 0, 0, 0, 0)
>>> packet = wit.packet.decode(frame)
>>> round(float(packet.acc[0, 2]), 3)  # 2048 * 16 g / 32768 = 1 g
9.807
>>> wit.configure_commands(100)[1][1].hex(" ")
'ff aa 03 09 00'
"""

from __future__ import annotations

import fnmatch
import struct
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processing.errors import ConfigError
from sensor.decode import PacketLayout, compiled_struct

PROFILE_DIR = Path(__file__).resolve().parents[1] / "firmware_config"
BATTERY_SERVICE_UUID = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"


@dataclass(frozen=True)
class Command:
    """Bytes written to characteristic ``uuid`` at connect; ``hex`` may hold ``{rate_code}``, ``values`` may
    hold the names "rate_code" and "rate_hz"."""

    uuid: str
    hex: str = ""
    format: str = ""
    values: tuple[int | str, ...] = ()
    #: the device stores this write in flash: write it only when it differs from what was last written
    persistent: bool = False

    def payload(self, rate_hz: int, rate_code: int) -> bytes:
        if self.hex:
            return bytes.fromhex(self.hex.replace("{rate_code}", f"{rate_code:02X}"))
        names = {"rate_code": rate_code, "rate_hz": rate_hz}
        return compiled_struct(self.format).pack(*(names[v] if isinstance(v, str) else v for v in self.values))


@dataclass(frozen=True)
class Profile:
    """A supported sensor. UUIDs are lower-case 128-bit strings; ``battery`` is "" without a Battery Level."""

    name: str
    title: str
    name_patterns: tuple[str, ...]
    advertised_services: tuple[str, ...]
    service: str
    notify: str
    characteristics: Mapping[str, str]
    battery: str
    packet: PacketLayout
    default_hz: int
    rate_codes: Mapping[int, int]
    configure: tuple[Command, ...]
    path: Path | None = None

    @property
    def rates_hz(self) -> tuple[int, ...]:
        return tuple(sorted(self.rate_codes))

    def matches(self, name: str | None, service_uuids: Sequence[str] = ()) -> bool:
        """True if an advertisement (local name, service UUIDs) looks like this sensor."""
        if any(u.lower() in self.advertised_services for u in service_uuids):
            return True
        return bool(name) and any(fnmatch.fnmatchcase(name or "", p) for p in self.name_patterns)

    def check_rate(self, rate_hz: float) -> int:
        rate = round(rate_hz)
        if rate != rate_hz or rate not in self.rate_codes:
            raise ConfigError(
                f"{self.name}: rate {rate_hz:g} Hz is not supported",
                hint=f"choose one of {', '.join(str(r) for r in self.rates_hz)} Hz",
            )
        return rate

    def configure_commands(self, rate_hz: float) -> list[tuple[str, bytes]]:
        """(characteristic UUID, bytes) to write at connect, in order, for ``rate_hz``."""
        return [(uuid, data) for uuid, data, _ in self.configure_writes(rate_hz)]

    def configure_writes(self, rate_hz: float) -> list[tuple[str, bytes, bool]]:
        """(characteristic UUID, bytes, persistent) to write at connect, in order, for ``rate_hz``; persistent
        writes go to the device's flash and are skipped when the device already holds them."""
        rate = self.check_rate(rate_hz)
        return [(c.uuid, c.payload(rate, self.rate_codes[rate]), c.persistent) for c in self.configure]


def _uuid(text: Any, where: str) -> str:
    s = str(text).strip().lower()
    if len(s) == 4:
        s = f"0000{s}-0000-1000-8000-00805f9b34fb"
    if len(s) != 36 or s.count("-") != 4:
        raise ConfigError(f"{where}: {text!r} is not a 128-bit UUID")
    return s


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {value!r} is not true or false")
    return value


def parse_profile(data: Mapping[str, Any], *, where: str = "profile", path: Path | None = None) -> Profile:
    """Build a :class:`Profile` from parsed TOML; :class:`ConfigError` naming ``where`` if anything is off."""
    try:
        gatt = {k: _uuid(v, f"{where} [gatt] {k}") for k, v in data["gatt"].items() if k != "battery"}
        battery = str(data["gatt"].get("battery", ""))
        pk = data["packet"]
        prefix_fmt = str(pk.get("prefix", ""))
        records = pk.get("records", 1)
        layout = PacketLayout(
            magic=bytes.fromhex(str(pk.get("magic", ""))),
            prefix=compiled_struct(prefix_fmt) if prefix_fmt else None,
            prefix_fields=tuple(pk.get("prefix_fields", ())),
            record=compiled_struct(str(pk["record"])),
            fields=tuple(pk["fields"]),
            records=records if isinstance(records, str) else int(records),
            acc_scale_g=float(pk["acc_scale_g"]),
            gyro_scale_dps=float(pk["gyro_scale_dps"]),
            counter=pk.get("counter"),
            counter_bits=int(pk.get("counter_bits", 16)),
            expect={str(k): int(v) for k, v in pk.get("expect", {}).items()},
            reassemble=_flag(pk.get("reassemble", False), f"{where} [packet] reassemble"),
        )
        configure = []
        for i, c in enumerate(data.get("configure", [])):
            to = str(c["to"])
            if to not in gatt:
                raise ConfigError(f"{where}: configure[{i}] writes to {to!r}, which is not in [gatt]")
            configure.append(
                Command(
                    gatt[to],
                    hex=str(c.get("hex", "")),
                    format=str(c.get("format", "")),
                    values=tuple(c.get("values", ())),
                    persistent=_flag(c.get("persistent", False), f"{where} configure[{i}] persistent"),
                )
            )
        rates = data["rates"]
        profile = Profile(
            name=str(data["name"]),
            title=str(data.get("title", data["name"])),
            name_patterns=tuple(data.get("name_patterns", ())),
            advertised_services=tuple(
                _uuid(u, f"{where} advertised_services") for u in data.get("advertised_services", ())
            ),
            service=gatt["service"],
            notify=gatt["notify"],
            characteristics=gatt,
            battery=_uuid(battery, f"{where} [gatt] battery") if battery else "",
            packet=layout,
            default_hz=int(rates["default_hz"]),
            rate_codes={int(k): int(v) for k, v in rates["codes"].items()},
            configure=tuple(configure),
            path=path,
        )
        profile.check_rate(profile.default_hz)
        for cmd in profile.configure:  # every command must be encodable for every rate
            for rate in profile.rates_hz:
                cmd.payload(rate, profile.rate_codes[rate])
    except ConfigError:
        raise
    except (KeyError, TypeError, ValueError, struct.error) as exc:
        raise ConfigError(f"{where}: invalid profile ({type(exc).__name__}: {exc})") from exc
    return profile


def profile_paths() -> list[Path]:
    return sorted(PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name (``witmotion``, ``thingy52``, ``hipsense``) or a TOML file by path."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = PROFILE_DIR / f"{name_or_path}.toml"
        if not path.exists():
            names = ", ".join(p.stem for p in profile_paths())
            raise ConfigError(f"unknown sensor profile {name_or_path!r}", hint=f"choose one of {names}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read profile ({exc})") from exc
    return parse_profile(data, where=str(path), path=path)


def load_profiles() -> list[Profile]:
    return [load_profile(p) for p in profile_paths()]
