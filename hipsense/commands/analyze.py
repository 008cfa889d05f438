"""``hipsense analyze``: the processing pipeline over a whole recording, as fast as possible."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from hipsense.commands._common import add_recording_flags, atomic_write, parse_tz, parse_window
from hipsense.config import load_config
from hipsense.outputs import build_summary, write_timeline
from hipsense.store import save_run
from processing.activity import ActivityParams
from processing.calibration import calibrate
from processing.errors import RecordingError, RecordingWarning
from processing.features import EpochFeatures, FeatureExtractor
from processing.gravity import HindsightUp
from processing.pipeline import DEFAULT_START, PipelineParams, PostureTracker
from sensor.recording import open_recording


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
    error: RecordingError | None = None
    parts: list[EpochFeatures] = []
    with open_recording(args.recording, accel_unit=args.accel_unit, gyro_unit=args.gyro_unit, rate_hz=args.rate) as rec:
        info = rec.info
        # A stored recording: the orientation uses hindsight (smoothing over 10 min windows).
        hindsight = HindsightUp(info.rate_hz)
        extractor = FeatureExtractor(rate_hz=info.rate_hz, up_estimator=hindsight)
        show = not args.no_progress and sys.stderr.isatty()
        total = getattr(rec, "bytes_total", None)
        with tqdm(
            total=total, unit="B", unit_scale=True, disable=not show, desc=args.recording.name, leave=False
        ) as bar:
            done = 0
            try:
                for chunk in rec:
                    parts.extend(extractor.update(ready) for ready in hindsight.push(chunk))
                    now = getattr(rec, "bytes_read", 0)
                    bar.update(now - done)
                    done = now
            except RecordingError as exc:
                error = exc
        parts.extend(extractor.update(ready) for ready in hindsight.finish())
        parts.append(extractor.flush())
        samples_read = rec.samples_read
    features = EpochFeatures.concat(parts)
    if neutral is not None and len(features) and neutral[1] > features.t[-1] + 1.0:
        warnings.warn(
            f"--neutral {args.neutral}: ends after the recording ({features.t[-1] + 1.0:.0f} s); "
            "using the part inside it",
            RecordingWarning,
            stacklevel=1,
        )
    calibration = calibrate(features, neutral=neutral) if len(features) else None
    if calibration is None:
        why = (
            "no epochs inside the --neutral window or too little walking for the forward axis"
            if neutral
            else "too little walking to find the forward axis (about 20 s is needed)"
        )
        warnings.warn(
            f"{args.recording}: could not calibrate ({why}); tilt and activity are left unknown",
            RecordingWarning,
            stacklevel=1,
        )
    start = info.start or DEFAULT_START
    params = PipelineParams(
        rate_hz=info.rate_hz,
        wearer=config.wearer.id,
        start=start,
        tz=tz,
        calibration=calibration,
        # The whole recording is one batch: epochs the angle alone decided are revised by the next transition.
        activity=ActivityParams(hindsight=True),
        alerts=config.alerts,
    )
    tracker = PostureTracker(params)
    out = tracker.update(features)
    bouts = out.bouts + tracker.finish()
    exercise = out.exercise + tracker.finish_exercise()
    for event in tracker.reclips:
        # Live output cannot be corrected afterwards; a whole-recording analysis can: between the estimated
        # moment the sensor moved and its detection, the mounting is unknown.
        moved = (out.epochs.t >= event.t_onset) & (out.epochs.t < event.t_detected)
        out.epochs.calibrated[moved] = False
        out.epochs.tilt_deg[moved] = np.nan
        out.epochs.obliquity_deg[moved] = np.nan
        warnings.warn(
            f"{args.recording}: the sensor moved on the belt near t = {event.t_onset:.0f} s ({event.reason}); "
            f"recalibrated at t = {event.t_detected:.0f} s, tilt left empty in between",
            RecordingWarning,
            stacklevel=1,
        )
    with atomic_write(args.timeline) as fh:
        write_timeline(fh, out.epochs)
    if args.store is not None:
        save_run(
            Path(args.store) if args.store else None,
            epochs=out.epochs,
            clock=tracker.clock,
            bouts=bouts,
            alerts=out.alerts,
            anterior_tilt_deg=config.alerts.anterior_tilt_deg,
            exercise=exercise,
        )
    if args.summary:
        recording: dict[str, Any] = {
            "path": str(args.recording),
            "format": info.format,
            "rate_hz": info.rate_hz,
            "samples": samples_read,
            "gaps": extractor.gaps,
            "metadata": dict(info.metadata),
        }
        summary = build_summary(
            recording=recording,
            epochs=out.epochs,
            days=tracker.days,
            bouts=bouts,
            alerts=out.alerts,
            calibration=calibration,
            start=start,
            tz=tracker.tz,
            assumed_start=info.start is None,
            error=None if error is None else error.message,
        )
        with atomic_write(args.summary) as fh:
            json.dump(summary, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
    for alert in out.alerts:
        print(f"{alert.time.isoformat(timespec='seconds')}  {alert.event_type}: {alert.message}")
    print(
        f"{args.recording}: {len(out.epochs)} epochs -> {args.timeline}"
        + (f", {args.summary}" if args.summary else ""),
        file=sys.stderr,
    )
    if error is not None:
        raise RecordingError(
            f"{error.message} (the timeline holds the {len(out.epochs)} epochs read before it)", hint=error.hint
        )
    return 0
