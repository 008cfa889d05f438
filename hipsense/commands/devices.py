"""``hipsense devices``: scan for Bluetooth LE devices and say which ones hipsense can use."""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from sensor.ble import Found


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "devices",
        help="scan for Bluetooth LE sensors and list what is in range",
        description=(
            "Scan for Bluetooth LE devices for a few seconds and list them, strongest first, with the sensor "
            "profile each one matches (use it with 'hipsense live --profile P --device ADDRESS')."
        ),
    )
    p.add_argument("--timeout", type=float, default=5.0, metavar="S", help="scan time in seconds (default: 5)")
    p.add_argument("--all", action="store_true", help="also list devices that match no sensor profile")
    p.set_defaults(func=run_devices)


def print_devices(found: list[Found], *, show_all: bool, stream: TextIO | None = None) -> int:
    """Print a table; returns how many supported sensors were listed."""
    rows = [f for f in found if show_all or f.profile is not None]
    if not rows:
        print("no supported sensor found (is it on and not connected elsewhere? try --all)", file=stream)
        return 0
    print(f"{'address':<20} {'rssi':>5}  {'profile':<10} name", file=stream)
    for f in rows:
        print(f"{f.address:<20} {f.rssi:>5}  {f.profile.name if f.profile else '-':<10} {f.name or ''}", file=stream)
    return sum(1 for f in rows if f.profile is not None)


def run_devices(args: argparse.Namespace) -> int:
    from sensor.ble import scan  # bleak is imported only by the commands that use it

    found = asyncio.run(scan(timeout_s=args.timeout))
    print_devices(found, show_all=args.all)
    return 0
