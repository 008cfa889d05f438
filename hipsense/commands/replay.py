"""``hipsense replay``: a recording fed through the live path, paced like a sensor."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from hipsense.commands._common import add_recording_flags, parse_tz
from hipsense.commands._mqtt import add_broker_flags, broker_settings
from hipsense.commands._session import add_session_flags, stored_calibration, wearer_id
from hipsense.config import load_config
from hipsense.session import open_session
from hipsense.store import HistoryStore
from processing.errors import ConfigError
from processing.pipeline import Pipeline, PipelineParams
from sensor.recording import open_recording
from sensor.replay import ReplaySource


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "replay",
        help="feed a recording through the live path, with a status line and alerts",
        description=(
            "Feed a recording through the live path (the same code a Bluetooth sensor uses), paced at SPEED "
            "times real time, with a live status line and alerts on the console. Ctrl-C stops it cleanly."
        ),
    )
    p.add_argument("recording", type=Path, metavar="REC", help="the recording to replay")
    pace = p.add_mutually_exclusive_group()
    pace.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="X",
        help="times real time: 1 = as recorded, 60 = one minute per second (default: 1)",
    )
    pace.add_argument("--fast", action="store_true", help="no pacing: as fast as possible")
    add_session_flags(p)
    p.add_argument(
        "--store",
        nargs="?",
        const="",
        metavar="DB",
        help="also write the epochs, bouts, alerts and day summaries to the history store (default file: "
        "[store] path from the config, else history.sqlite3 in the data folder)",
    )
    add_recording_flags(p)
    add_broker_flags(p)
    p.set_defaults(func=run_replay)


def run_replay(args: argparse.Namespace) -> int:
    if not args.fast and args.speed <= 0:
        raise ConfigError(f"--speed {args.speed}: must be a positive factor of real time, e.g. 1 or 60")
    config = load_config()
    wearer = wearer_id(args, config)
    tz = parse_tz(args.tz or config.wearer.timezone or None)
    broker = broker_settings(args, config.mqtt)
    with open_recording(args.recording, accel_unit=args.accel_unit, gyro_unit=args.gyro_unit, rate_hz=args.rate) as rec:
        source = ReplaySource(rec, speed=None if args.fast else args.speed)
        calibration = stored_calibration(args, wearer, rec.info.metadata.get("device") or "default")
        params = PipelineParams(
            calibration=calibration,
            rate_hz=source.rate_hz,
            wearer=wearer,
            start=source.start,
            tz=tz,
            alerts=config.alerts,
        )
        history = None if args.store is None else HistoryStore(Path(args.store) if args.store else None)
        session = open_session(
            source, Pipeline(params), kind="recording", config=config, broker=broker, history=history
        )
        stats = asyncio.run(session.run())
    print(
        f"{args.recording}: replayed {stats.samples} samples, {stats.epochs} epochs, {stats.alerts} alerts"
        + (" (interrupted)" if stats.interrupted else ""),
        file=sys.stderr,
    )
    return 130 if stats.interrupted else 0
