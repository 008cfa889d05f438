"""The flags ``replay`` and ``live`` share: the wearer and the stored calibration (the sinks they run with are
built in :func:`hipsense.session.open_session`)."""

from __future__ import annotations

import argparse
import sys

from hipsense.calstore import load_calibration
from hipsense.config import Config, WearerConfig, ensure_wearer_id
from processing.calibration import Calibration


def add_session_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wearer", metavar="ID", default=None, help="wearer id for MQTT topics and alert ids (a-z0-9_-)")
    p.add_argument(
        "--no-stored-calibration",
        action="store_true",
        help="ignore the calibration stored by 'hipsense calibrate' and calibrate from walking instead",
    )


def wearer_id(args: argparse.Namespace, config: Config) -> str:
    """``--wearer`` (checked), else the config's; without one there, a new id unique to this install is made
    and written to the config file (see :func:`hipsense.config.ensure_wearer_id`)."""
    return WearerConfig(id=args.wearer).id if args.wearer else ensure_wearer_id(config)


def stored_calibration(args: argparse.Namespace, wearer: str, device: str) -> Calibration | None:
    """The calibration ``hipsense calibrate`` stored for this wearer and device, unless --no-stored-calibration."""
    calibration = None if args.no_stored_calibration else load_calibration(wearer, device)
    if calibration is not None:
        print(f"using the stored {calibration.method} calibration of wearer {wearer}, device {device}", file=sys.stderr)
    return calibration
