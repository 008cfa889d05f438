"""``hipsense live``: a Bluetooth LE sensor through the live path (the same as ``replay``), optionally recorded.

``--virtual`` runs the same path against a Bumble virtual sensor that streams a simulated wearer, so anyone
can see it work without hardware.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from hipsense.commands._common import parse_tz
from hipsense.commands._mqtt import add_broker_flags, broker_settings
from hipsense.commands._session import add_session_flags, stored_calibration, wearer_id
from hipsense.config import data_dir, load_config
from hipsense.runtime import RunStats
from hipsense.session import open_session
from hipsense.sinks import Sink
from hipsense.store import HistoryStore
from processing.errors import ConfigError
from processing.pipeline import Pipeline, PipelineParams
from sensor.profiles import Profile, load_profile, profile_paths
from sensor.recording import RecordingWriter

if TYPE_CHECKING:
    from sensor.ble import BleSource

VIRTUAL_SCENARIO = "stand 30, walk 60, sit 35min, walk 60, stand 30"


def add_sensor_flags(
    p: argparse.ArgumentParser, *, scenario: str = VIRTUAL_SCENARIO, device: bool = True, rate: bool = True
) -> None:
    """Which sensor to use: a Bluetooth LE device, or a virtual one streaming a simulated wearer.

    device, rate: add ``--device`` and ``--rate`` (a command that has them already passes False).
    """
    profiles = [p.stem for p in profile_paths()]
    if device:
        p.add_argument(
            "--device", metavar="NAME|ADDRESS", default=None, help="advertised name (wildcards allowed) or address"
        )
    p.add_argument(
        "--profile",
        choices=profiles,
        default="witmotion",
        help="sensor type, from firmware_config/ (default: witmotion)",
    )
    if rate:
        p.add_argument("--rate", type=float, metavar="HZ", default=None, help="sample rate (default: the profile's)")
    v = p.add_argument_group("virtual sensor (no hardware)")
    v.add_argument("--virtual", action="store_true", help="use a virtual sensor streaming a simulated wearer")
    v.add_argument("--scenario", default=scenario, metavar="TEXT", help=f"the wearer's day (default: {scenario!r})")
    v.add_argument("--speed", type=float, default=1.0, metavar="X", help="times real time (default: 1)")
    v.add_argument("--seed", type=int, default=0, metavar="S", help="simulator seed (default: 0)")
    v.add_argument(
        "--drop-link-at",
        default="",
        metavar="S[,S...]",
        help="stream seconds at which the virtual sensor drops the link",
    )


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "live",
        help="stream a Bluetooth LE sensor through the live path, with a status line and alerts",
        description=(
            "Connect to a Bluetooth LE IMU (or, with --virtual, a simulated one), feed it through the live path "
            "(the same code as 'replay'), show a status line and alerts, publish to MQTT and record the raw "
            "stream. The link is re-established automatically when it drops. Ctrl-C stops it cleanly."
        ),
    )
    add_sensor_flags(p)
    p.add_argument(
        "--record", type=Path, metavar="FILE", default=None, help="also record the raw stream (.csv, .csv.gz, .hsb)"
    )
    add_session_flags(p)
    p.add_argument("--tz", metavar="ZONE", default=None, help="IANA time zone for days and alerts (default: config)")
    p.add_argument(
        "--no-store",
        action="store_true",
        help="do not write the day to the history store (default: written, for 'hipsense report')",
    )
    add_broker_flags(p)
    p.set_defaults(func=run_live)


def run_live(args: argparse.Namespace) -> int:
    stats = asyncio.run(live_main(args))
    print(
        f"live: {stats.samples} samples, {stats.epochs} epochs, {stats.alerts} alerts"
        + (" (interrupted)" if stats.interrupted else ""),
        file=sys.stderr,
    )
    return 130 if stats.interrupted else 0


def _drop_times(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError as exc:
        raise ConfigError(f"--drop-link-at {text!r}: give seconds separated by commas, e.g. 600,1200") from exc


async def open_source(
    args: argparse.Namespace, stack: contextlib.AsyncExitStack[bool | None]
) -> tuple[BleSource, Profile, float]:
    """The sensor the flags of :func:`add_sensor_flags` name (a virtual one is started on ``stack``)."""
    from sensor.ble import BleSource, ConfigMemory  # bleak is imported only by the commands that use it

    profile = load_profile(args.profile)
    rate = float(profile.check_rate(args.rate if args.rate is not None else profile.default_hz))
    if args.speed <= 0:
        raise ConfigError(f"--speed {args.speed}: must be a positive factor of real time")
    if args.virtual:
        from sensor.simulate import SensorModel, parse_scenario
        from sensor.virtual import Faults, VirtualLink, VirtualSensor

        try:
            segments = parse_scenario(args.scenario)
        except ValueError as exc:
            raise ConfigError(f"--scenario: {exc}") from exc
        link = await stack.enter_async_context(VirtualLink())
        sensor = VirtualSensor(
            link,
            profile,
            segments,
            model=SensorModel(rate_hz=profile.default_hz),
            seed=args.seed,
            speed=args.speed,
            faults=Faults(drop_link_at_s=_drop_times(args.drop_link_at)),
        )
        await stack.enter_async_context(sensor)
        source = BleSource(
            profile,
            device=args.device,
            rate_hz=rate,
            clock_scale=args.speed,
            client_backend=link.client_backend,
            scanner_backend=link.scanner_backend,
        )

        async def stop_when_done() -> None:
            await sensor.finished.wait()
            await asyncio.sleep(0.5)
            source.stop()

        stopper = asyncio.get_running_loop().create_task(stop_when_done())
        stack.callback(stopper.cancel)
    else:
        memory = ConfigMemory(data_dir() / "device_config.json")  # flash-stored settings written once per device
        source = BleSource(profile, device=args.device, rate_hz=rate, config_memory=memory)
    return source, profile, rate


async def live_main(args: argparse.Namespace, *, extra_sinks: Sequence[Sink] = ()) -> RunStats:
    """The whole command inside one event loop (Bumble's virtual link needs it)."""
    config = load_config()
    wearer = wearer_id(args, config)
    tz = parse_tz(args.tz or config.wearer.timezone or None)
    broker = broker_settings(args, config.mqtt)
    async with contextlib.AsyncExitStack() as stack:
        history = None if args.no_store else stack.enter_context(contextlib.closing(HistoryStore()))
        source, profile, rate = await open_source(args, stack)
        source.start = datetime.now(UTC).astimezone()
        if args.virtual and history is not None:
            # A fast-forwarded virtual sensor's clock runs ahead of the wall clock: its day goes on where the
            # stored history ends, so that a restarted run continues it (a real sensor is always behind now).
            last = history.last_epoch_ts()
            if last is not None and last + 1.0 > source.start.timestamp():
                source.start = datetime.fromtimestamp(math.ceil(last) + 1.0, UTC).astimezone()
        device_key = args.device or profile.name
        calibration = stored_calibration(args, wearer, device_key)
        params = PipelineParams(
            calibration=calibration, rate_hz=rate, wearer=wearer, start=source.start, tz=tz, alerts=config.alerts
        )
        recording = None
        if args.record is not None:
            meta = {
                "start": source.start.isoformat(timespec="milliseconds"),
                "device": device_key,
                "profile": profile.name,
                "rate_hz": f"{rate:g}",
                "wearer": wearer,
            }
            recording = RecordingWriter(args.record, metadata=meta, flush_s=1.0)
        session = open_session(
            source,
            Pipeline(params),
            kind="sensor",
            config=config,
            broker=broker,
            history=history,
            recording=recording,
            extra_sinks=extra_sinks,
        )
        return await session.run()
    raise AssertionError("unreachable")
