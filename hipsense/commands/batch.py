"""``hipsense batch``: a study's recordings into per-recording outputs and the day tables."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from hipsense.batch import Settings, StudyOptions, run_study
from hipsense.commands._common import parse_tz
from hipsense.config import load_config
from processing.days import DayParams
from processing.errors import ConfigError

_SCHEDULER = re.compile(r"(tcp|tls|inproc|ucx)://[^\s]{1,200}")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "batch",
        help="analyse a study (files, folders, globs) into days.csv, wearers.csv and report.html",
        description=(
            "Analyse every recording of a study (files, folders searched recursively, or globs; every format "
            "'analyze' reads) on all cores or a Dask cluster. Writes each recording's timeline and summary under "
            "DIR/recordings/WEARER/, and DIR/days.csv (one row per wearer and local day), DIR/wearers.csv (means "
            "over valid days), DIR/recordings.csv, DIR/errors.csv, DIR/warnings.csv and DIR/report.html. A "
            "recording that fails is listed in errors.csv and the rest goes on; run again to resume (recordings "
            "with the same content and settings are skipped). Exit status 1 when errors.csv lists any."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="recordings, folders or globs (quote globs)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        metavar="N",
        help="worker processes (default: the CPUs this process may use)",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        default=None,
        help="run on a Dask distributed cluster instead of local processes (pip install 'hipsense[dask]'); "
        "the workers must read the recordings at the same paths",
    )
    p.add_argument(
        "--wearer-from",
        metavar="REGEX",
        default=None,
        help=r"when a recording's metadata has no 'wearer': a regular expression searched in its path, whose "
        r"group 'wearer' (or first group) is the wearer, e.g. '(?P<wearer>p\d+)_'; an optional group 'start' "
        "(ISO 8601) gives the start when the metadata has none (default: the file name is the wearer)",
    )
    p.add_argument(
        "--min-wear-h",
        type=float,
        default=10.0,
        metavar="H",
        help="hours of wear that make a valid day (default: 10)",
    )
    p.add_argument(
        "--accel-unit", choices=("auto", "m/s2", "g"), default="auto", help="accelerometer unit (default: auto)"
    )
    p.add_argument(
        "--gyro-unit", choices=("auto", "rad/s", "deg/s"), default="auto", help="gyroscope unit (default: auto)"
    )
    p.add_argument("--rate", type=float, metavar="HZ", default=None, help="sample rate when a recording does not say")
    p.add_argument(
        "--tz",
        metavar="ZONE",
        default=None,
        help="IANA time zone for local days, e.g. Europe/Berlin (default: config, else each recording's offset)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown on a terminal)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config()
    jobs = args.jobs if args.jobs is not None else len(os.sched_getaffinity(0))
    if not 1 <= jobs <= 256:
        raise ConfigError(f"--jobs {jobs}: give 1 to 256 worker processes")
    if args.scheduler is not None and not _SCHEDULER.fullmatch(args.scheduler):
        raise ConfigError(f"--scheduler {args.scheduler!r} is not a scheduler address", hint="e.g. tcp://10.0.0.5:8786")
    try:
        days = DayParams(anterior_tilt_deg=config.alerts.anterior_tilt_deg, min_wear_h=args.min_wear_h)
    except ValueError as exc:
        raise ConfigError(f"--min-wear-h {args.min_wear_h:g}: give 0 to 25 hours") from exc
    tz = args.tz or config.wearer.timezone or None
    parse_tz(tz)  # an unknown zone fails now
    settings = Settings(
        alerts=config.alerts,
        tz=tz,
        wearer_from=args.wearer_from,
        accel_unit=args.accel_unit,
        gyro_unit=args.gyro_unit,
        rate_hz=args.rate,
    )
    options = StudyOptions(
        out=args.out,
        settings=settings,
        days=days,
        jobs=jobs,
        scheduler=args.scheduler,
        progress=not args.no_progress,
    )
    r = run_study(args.inputs, options)
    print(
        f"batch: {r.recordings} recordings ({r.analysed} analysed, {r.skipped} done before, {r.errors} errors) -> "
        f"{r.wearers} wearers, {r.days} days ({r.valid_days} valid); tables and report.html in {args.out}",
        file=sys.stderr,
    )
    if r.errors:
        print(f"see {args.out / 'errors.csv'} for the recordings that failed", file=sys.stderr)
        return 1
    return 0
