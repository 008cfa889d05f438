"""``hipsense calibrate``: find where the sensor sits on the belt from a recording window, and store it.

The wearer stands still and upright (neutral) for a few seconds, then walks straight for 10 or more steps.
The neutral window gives the vertical and the neutral reference, the walking the forward axis; sitting
anywhere in the recording checks the front/back sign. The result is stored per wearer and device in the data
folder (see :mod:`hipsense.calstore`), so later runs start calibrated.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from hipsense.calstore import save_calibration
from hipsense.commands._common import add_recording_flags, parse_window
from hipsense.commands._guided import record_guided
from hipsense.commands.live import add_sensor_flags
from hipsense.config import WearerConfig, load_config
from processing.calibration import (
    MIN_WALK_STEPS,
    MIN_WALKING_EPOCHS,
    CalibrationError,
    calibrate_guided,
    count_steps,
    describe_mounting,
    neutral_vertical,
    walking_mask,
)
from processing.errors import ConfigError
from processing.features import EpochFeatures, FeatureExtractor
from processing.gravity import make_up_estimator
from processing.samples import Samples
from sensor.recording import open_recording

#: The virtual wearer of ``calibrate --live --virtual``: stands, then walks.
GUIDED_SCENARIO = "stand 14, walk 45"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "calibrate",
        help="find the sensor's mounting from neutral standing and walking in a recording, and store it",
        description=(
            "Calibrate the sensor's mounting on the belt from a recording: a window of neutral standing "
            "(--neutral, a few seconds, still and upright) gives the vertical and the neutral reference; walking "
            "(--walk, 10 or more straight steps; default: all walking in the recording) gives the forward axis. "
            "Prints where the sensor sits and the angles, and stores the calibration for the wearer and device."
        ),
    )
    p.add_argument("recording", type=Path, metavar="REC", nargs="?", help="the recording (any format 'analyze' reads)")
    p.add_argument(
        "--neutral", metavar="START:END", help="seconds of neutral standing in REC, e.g. 5:25 (needed with REC)"
    )
    p.add_argument("--walk", metavar="START:END", help="seconds of straight walking (default: all walking found)")
    p.add_argument("--wearer", metavar="ID", help="wearer id (default: from the config)")
    p.add_argument(
        "--device",
        metavar="NAME",
        help="device the calibration is stored for (default: the recording's 'device' metadata); with --live, "
        "the sensor's advertised name or address",
    )
    p.add_argument("--no-save", action="store_true", help="print the result without storing it")
    add_recording_flags(p)
    g = p.add_argument_group(
        "guided calibration on the live sensor (instead of REC)",
        "With --live, hipsense connects to the sensor, asks you to stand still in neutral, then to walk "
        "straight ahead, records both and calibrates from them.",
    )
    g.add_argument("--live", action="store_true", help="calibrate on the live sensor, guided step by step")
    g.add_argument(
        "--stand-s", type=float, default=12.0, metavar="S", help="seconds of neutral standing to record (default 12)"
    )
    g.add_argument(
        "--walk-s", type=float, default=30.0, metavar="S", help="seconds of straight walking to record (default 30)"
    )
    add_sensor_flags(p, scenario=GUIDED_SCENARIO, device=False, rate=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.live:
        if args.recording is not None or args.neutral:
            raise ConfigError("give either REC with --neutral, or --live, not both")
        if args.stand_s < 5 or args.walk_s < 10:
            raise ConfigError("--stand-s must be >= 5 s and --walk-s >= 10 s (10 or more steps are needed)")
        with tempfile.TemporaryDirectory(prefix="hipsense-calibrate-") as tmp:
            phases = [
                (args.stand_s, "Stand still, upright and relaxed, looking ahead"),
                (args.walk_s, "Now walk straight ahead at your usual pace"),
            ]
            args.recording, device = asyncio.run(
                record_guided(args, Path(tmp) / "guided.hsb", phases, what="calibration")
            )
            args.neutral = f"2:{args.stand_s - 1:g}"
            args.walk = f"{args.stand_s + 3:g}:{args.stand_s + args.walk_s - 1:g}"
            args.device = args.device or device
            return _calibrate_recording(args)
    if args.recording is None or not args.neutral:
        raise ConfigError(
            "give a recording and its --neutral window, or --live",
            hint="e.g. hipsense calibrate day.csv --neutral 5:25, or hipsense calibrate --live",
        )
    return _calibrate_recording(args)


def _calibrate_recording(args: argparse.Namespace) -> int:
    neutral = parse_window(args.neutral, "--neutral")
    walk = parse_window(args.walk, "--walk") if args.walk else None
    wearer = args.wearer or load_config().wearer.id
    try:
        WearerConfig(id=wearer)
    except ConfigError as exc:
        raise ConfigError(f"--wearer {wearer!r}: {exc.message}", hint=exc.hint) from None
    parts: list[EpochFeatures] = []
    walk_samples: list[Samples] = []
    with open_recording(args.recording, accel_unit=args.accel_unit, gyro_unit=args.gyro_unit, rate_hz=args.rate) as rec:
        info = rec.info
        extractor = FeatureExtractor(rate_hz=info.rate_hz, up_estimator=make_up_estimator(info.rate_hz))
        for chunk in rec:
            parts.append(extractor.update(chunk))
            if walk is not None:
                inside = (chunk.t >= walk[0]) & (chunk.t < walk[1])
                if inside.any():
                    walk_samples.append(Samples(chunk.t[inside], chunk.acc[inside], chunk.gyro[inside]))
        parts.append(extractor.finish())
    features = EpochFeatures.concat(parts)
    name = args.recording.name
    end_s = float(features.t[-1] + 1.0) if len(features) else 0.0
    for flag, window in (("--neutral", neutral), ("--walk", walk)):
        if window is not None and window[0] >= end_s:
            raise CalibrationError(
                f"{name}: {flag} {window[0]:g}:{window[1]:g} starts after the recording ends ({end_s:.0f} s)",
                hint="give seconds from the recording's start",
            )
    steps_text = ""
    if walk is not None:
        vertical = neutral_vertical(features, *neutral)
        samples = Samples.concat(walk_samples) if walk_samples else Samples.empty()
        if vertical is not None:
            steps = count_steps(samples.acc, info.rate_hz, vertical)
            if steps < MIN_WALK_STEPS:
                raise CalibrationError(
                    f"{name}: too few steps in --walk {args.walk}: found {steps}, at least {MIN_WALK_STEPS} are needed",
                    hint="give a window with 10 or more steps of straight walking",
                )
            steps_text = f"{steps} steps in {walk[0]:g}-{walk[1]:g} s"
    try:
        cal = calibrate_guided(features, neutral, walk=walk)
    except CalibrationError as exc:
        raise CalibrationError(f"{name}: {exc.message}", hint=exc.hint) from None
    if not steps_text:
        n_walk = int(walking_mask(features).sum())
        steps_text = f"{n_walk} s of walking" if n_walk >= MIN_WALKING_EPOCHS else "no walking (axis from sitting)"
    a, b, c = cal.angles_deg()
    sign = {"sitting": "checked by sitting", "walking": "from walking only (no sitting seen)"}.get(
        cal.sign_check, cal.sign_check
    )
    print(f"{name}: neutral standing {neutral[0]:g}-{neutral[1]:g} s, {steps_text}; front/back {sign}")
    print(describe_mounting(cal))
    print(f"mounting angles (z, y, x; sensor -> pelvis): {a:.1f}°, {b:.1f}°, {c:.1f}°")
    walking_tilt = cal.walking_tilt_deg()
    if walking_tilt is not None:
        print(f"while walking the pelvis sits {walking_tilt:+.1f}° (anterior +) from neutral")
    if args.no_save:
        return 0
    device = args.device or info.metadata.get("device") or "default"
    path = save_calibration(
        cal,
        wearer=wearer,
        device=device,
        source=f"{args.recording} neutral {args.neutral}" + (f" walk {args.walk}" if args.walk else ""),
        details={"mounting": describe_mounting(cal), "angles_deg": [round(v, 2) for v in (a, b, c)]},
    )
    print(f"stored for wearer {wearer}, device {device}: {path}", file=sys.stderr)
    return 0
