"""The ``hipsense`` command.

Each sub-command lives in ``hipsense/commands/<name>.py`` and defines ``register(subparsers)``. Errors that
hipsense raises on purpose (:class:`~processing.errors.HipsenseError`) are printed as one line with a hint,
never as a traceback; warnings are printed as one line each.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
import warnings
from collections.abc import Sequence
from typing import TextIO

from hipsense import __version__
from processing.errors import HipsenseError, HipsenseWarning

COMMANDS = (
    "live",
    "devices",
    "analyze",
    "batch",
    "replay",
    "calibrate",
    "assess",
    "exercise",
    "report",
    "history",
    "simulate",
    "config",
    "alerts",
    "ha",
)


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    if issubclass(category, HipsenseWarning):
        text = f"warning: {message}"
    else:  # a third-party warning: keep it to one line too
        text = f"warning: {category.__name__}: {message}"
    print(text, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hipsense",
        description=(
            "hipsense: pelvic tilt and sitting time from a hip-worn IMU. Analyze or replay recordings, "
            "simulate a wearer, and send alerts over MQTT."
        ),
        epilog="Run 'hipsense COMMAND --help' for the flags of each command.",
    )
    parser.add_argument("--version", action="version", version=f"hipsense {__version__}")
    _add_log_flags(parser, default=0)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, help="what to do")
    for name in COMMANDS:
        importlib.import_module(f"hipsense.commands.{name}").register(sub)
    for command in sub.choices.values():
        # Also accepted after the sub-command (``hipsense analyze -v``); SUPPRESS keeps the value given before it.
        _add_log_flags(command, default=argparse.SUPPRESS)
    return parser


def _add_log_flags(parser: argparse.ArgumentParser, *, default: object) -> None:
    parser.add_argument(
        "-v", "--verbose", action="count", default=default, help="more log output (repeat for debug messages)"
    )
    parser.add_argument("-q", "--quiet", action="count", default=default, help="less log output: errors only")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.ERROR if args.quiet else logging.WARNING - 10 * min(args.verbose, 2),
        format="%(levelname)s %(name)s: %(message)s",
    )
    warnings.showwarning = _show_warning
    warnings.simplefilter("always", HipsenseWarning)
    try:
        code: int = args.func(args)
    except HipsenseError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"hint: {exc.hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return code
