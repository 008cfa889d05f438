"""Flags and helpers shared by the commands that read recordings."""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import tzinfo
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from processing.errors import ConfigError


def add_recording_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--accel-unit",
        choices=("auto", "m/s2", "g"),
        default="auto",
        help="unit of the accelerometer columns; 'auto' detects g vs m/s² from the data (default: auto)",
    )
    parser.add_argument(
        "--gyro-unit",
        choices=("auto", "rad/s", "deg/s"),
        default="auto",
        help="unit of the gyroscope columns; 'auto' detects deg/s vs rad/s from the data (default: auto)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        metavar="HZ",
        default=None,
        help="nominal sample rate in Hz, when the recording does not say (default: from its metadata or times)",
    )
    parser.add_argument(
        "--tz",
        metavar="ZONE",
        default=None,
        help="IANA time zone for days and alerts, e.g. Europe/Berlin (default: config, else the recording's "
        "start offset)",
    )
    parser.add_argument(
        "--no-progress", action="store_true", help="do not show a progress bar (default: shown on a terminal)"
    )


def parse_tz(name: str | None) -> tzinfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"unknown time zone {name!r}", hint="use an IANA name such as Europe/Berlin") from exc


def parse_window(text: str, flag: str) -> tuple[float, float]:
    """Parse ``START:END`` seconds."""
    try:
        start_text, end_text = text.split(":")
        start, end = float(start_text), float(end_text)
    except ValueError as exc:
        raise ConfigError(
            f"{flag} {text!r} is not START:END", hint=f"give seconds of the recording, e.g. {flag} 5:25"
        ) from exc
    if not 0 <= start < end:
        raise ConfigError(f"{flag} {text!r}: START must be >= 0 and below END (seconds)")
    return start, end


@contextmanager
def atomic_write(path: Path) -> Iterator[TextIO]:
    """Write a text file through a temporary file in the same folder, renamed into place on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
