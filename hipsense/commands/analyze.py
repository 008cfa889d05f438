"""``hipsense analyze``: the processing pipeline over a whole recording, as fast as possible."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from hipsense.analysis import analyze_recording
from hipsense.commands._common import add_recording_flags, atomic_write, parse_tz, parse_window
from hipsense.config import load_config
from hipsense.outputs import write_timeline
from hipsense.store import save_run
from processing.errors import RecordingError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "analyze",
        help="run the pipeline over a recording and write a timeline (and a summary)",
        description=(
            "Run the processing pipeline over a whole recording as fast as possible. Writes one row per 1 s "
            "epoch (t, activity, tilt_deg, ...) to the timeline CSV, and the day's sitting time, sitting bouts, "
            "anterior-tilt exposure and alerts to the summary JSON. Formats: canonical CSV (.csv, .csv.gz), "
            "compact binary (.hsb), HAPT raw pairs (acc_expXX_userYY.txt[.gz]) and phyphox exports."
        ),
    )
    p.add_argument("recording", type=Path, metavar="REC", help="the recording to analyze")
    p.add_argument(
        "--timeline", type=Path, metavar="OUT.csv", required=True, help="where to write the 1 s epoch timeline"
    )
    p.add_argument("--summary", type=Path, metavar="OUT.json", help="where to write the summary JSON")
    p.add_argument(
        "--neutral",
        metavar="START:END",
        help="seconds of the recording (from its t = 0) in which the wearer stood in neutral, e.g. 5:25; "
        "without it, hipsense calibrates itself from walking",
    )
    p.add_argument(
        "--store",
        nargs="?",
        const="",
        type=str,
        metavar="DB",
        help="also add the epochs, bouts, alerts and day summaries to the history store (default file: "
        "history.sqlite3 in the data folder)",
    )
    add_recording_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = load_config()
    neutral = parse_window(args.neutral, "--neutral") if args.neutral else None
    tz = parse_tz(args.tz or config.wearer.timezone or None)
    result = analyze_recording(
        args.recording,
        wearer=config.wearer.id,
        alerts=config.alerts,
        neutral=neutral,
        tz=tz,
        accel_unit=args.accel_unit,
        gyro_unit=args.gyro_unit,
        rate_hz=args.rate,
        progress=not args.no_progress,
    )
    with atomic_write(args.timeline) as fh:
        write_timeline(fh, result.epochs)
    if args.store is not None:
        save_run(
            Path(args.store) if args.store else None,
            epochs=result.epochs,
            clock=result.clock,
            bouts=result.bouts,
            alerts=result.alerts,
            anterior_tilt_deg=config.alerts.anterior_tilt_deg,
            exercise=result.exercise,
        )
    if args.summary:
        summary = result.summary(anterior_tilt_deg=config.alerts.anterior_tilt_deg)
        with atomic_write(args.summary) as fh:
            json.dump(summary, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
    for alert in result.alerts:
        print(f"{alert.time.isoformat(timespec='seconds')}  {alert.event_type}: {alert.message}")
    print(
        f"{args.recording}: {len(result.epochs)} epochs -> {args.timeline}"
        + (f", {args.summary}" if args.summary else ""),
        file=sys.stderr,
    )
    if result.error is not None:
        raise RecordingError(
            f"{result.error.message} (the timeline holds the {len(result.epochs)} epochs that were read)",
            hint=result.error.hint,
        )
    return 0
