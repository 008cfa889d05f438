"""``hipsense assess``: a guided two-minute posture check-up, stored to compare over the weeks.

The wearer stands in neutral, tips the pelvis fully forward, then fully back, sits, and stands up. The
measures (:mod:`processing.assess`): the pelvic-tilt range of motion, the tilt while sitting, the time to
stand up after the prompt, and (with a stored calibration) where today's neutral standing lies relative to it.
This module reads the recording (or records the check-up live), prints the result and stores it.

Live (``--live``, prompts on the terminal; ``--virtual`` for a simulated wearer) or on a recording, with the
phases on the fixed timeline (:data:`PHASES`, from ``--at``) or given one by one as windows.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hipsense.calstore import load_calibration
from hipsense.commands._common import add_recording_flags, parse_window
from hipsense.commands._guided import record_guided
from hipsense.commands.live import add_sensor_flags
from hipsense.config import load_config
from hipsense.store import Assessment, HistoryStore
from processing.assess import PHASES, measure, timeline
from processing.calibration import CalibrationError
from processing.errors import ConfigError
from processing.features import EpochFeatures, FeatureExtractor
from processing.gravity import make_up_estimator
from sensor.recording import open_recording

#: The virtual wearer of ``assess --live --virtual``: the check-up, done well.
GUIDED_SCENARIO = "stand 20 tilt=0, stand 15 tilt=15, stand 15 tilt=-15, sit 30, stand 20 tilt=0"


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "assess",
        help="a guided two-minute posture check-up: pelvic-tilt range of motion, sitting, standing up",
        description=(
            "A posture check-up: stand in neutral (20 s), tip the pelvis fully forward (15 s), fully back (15 s), "
            "sit (30 s), stand up (20 s). Prints the pelvic-tilt range of motion, the tilt while sitting and the "
            "time to stand up, with the change since the last check-up, and stores them in the history store. "
            "Live with --live (prompts on the terminal), or on a recording of a check-up."
        ),
    )
    p.add_argument("recording", type=Path, metavar="REC", nargs="?", help="a recording of the check-up")
    p.add_argument(
        "--at", type=float, default=0.0, metavar="S", help="second of REC at which the check-up starts (default 0)"
    )
    for name, seconds, _ in PHASES:
        p.add_argument(
            f"--{name}",
            metavar="START:END",
            help=f"seconds of the {name} phase in REC (default: the fixed timeline, {seconds:g} s)",
        )
    p.add_argument("--wearer", metavar="ID", help="wearer id (default: from the config)")
    p.add_argument(
        "--device",
        metavar="NAME",
        help="device whose stored calibration the neutral is compared with (default: the recording's 'device')",
    )
    p.add_argument(
        "--store",
        metavar="DB",
        type=Path,
        default=None,
        help="history store (default: history.sqlite3 in the data folder)",
    )
    p.add_argument("--no-save", action="store_true", help="print the result without storing it")
    add_recording_flags(p)
    g = p.add_argument_group("guided check-up on the live sensor (instead of REC)")
    g.add_argument("--live", action="store_true", help="run the check-up on the live sensor, guided step by step")
    add_sensor_flags(p, scenario=GUIDED_SCENARIO, device=False, rate=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.live:
        if args.recording is not None:
            raise ConfigError("give either REC or --live, not both")
        with tempfile.TemporaryDirectory(prefix="hipsense-assess-") as tmp:
            phases = [(seconds, instruction) for _, seconds, instruction in PHASES]
            args.recording, device = asyncio.run(record_guided(args, Path(tmp) / "assess.hsb", phases, what="check-up"))
            args.device = args.device or device
            return _assess_recording(args, source="live", when=datetime.now(UTC).astimezone())
    if args.recording is None:
        raise ConfigError(
            "give a recording of a check-up, or --live",
            hint="e.g. hipsense assess checkup.csv (phases from its start), or hipsense assess --live",
        )
    return _assess_recording(args, source=str(args.recording), when=None)


def _assess_recording(args: argparse.Namespace, *, source: str, when: datetime | None) -> int:
    windows = timeline(args.at)
    for name, _, _ in PHASES:
        text = getattr(args, name, None)
        if text:
            windows[name] = parse_window(text, f"--{name}")
    wearer = args.wearer or load_config().wearer.id
    parts: list[EpochFeatures] = []
    with open_recording(args.recording, accel_unit=args.accel_unit, gyro_unit=args.gyro_unit, rate_hz=args.rate) as rec:
        info = rec.info
        extractor = FeatureExtractor(rate_hz=info.rate_hz, up_estimator=make_up_estimator(info.rate_hz))
        for chunk in rec:
            parts.append(extractor.update(chunk))
        parts.append(extractor.finish())
    features = EpochFeatures.concat(parts)
    name = args.recording.name
    end_s = float(features.t[-1] + 1.0) if len(features) else 0.0
    last = max(hi for _, hi in windows.values())
    if last > end_s + 1.0:
        raise CalibrationError(
            f"{name}: the check-up runs to {last:g} s but the recording ends at {end_s:.0f} s",
            hint="record the whole check-up (100 s), or give the phases' windows (--neutral ... --stand START:END)",
        )
    device = args.device or info.metadata.get("device") or "default"
    stored = load_calibration(wearer, device)
    try:
        m = measure(features, windows, stored=stored)
    except CalibrationError as exc:
        raise CalibrationError(f"{name}: {exc.message}", hint=exc.hint) from None
    if when is None:
        # the recording's own time of the check-up; without a ``start`` in it, now
        when = info.start + timedelta(seconds=windows["neutral"][0]) if info.start else datetime.now(UTC).astimezone()
    result = Assessment(
        time=when,
        source=source,
        neutral_deg=m.neutral_deg,
        anterior_max_deg=m.anterior_max_deg,
        posterior_max_deg=m.posterior_max_deg,
        range_deg=m.range_deg,
        sitting_deg=m.sitting_deg,
        sit_to_stand_s=m.sit_to_stand_s,
    )
    with HistoryStore(args.store) as store:
        earlier = [a for a in store.assessments() if a.time < when]
        if not args.no_save:
            store.add_assessment(result)
    for line in describe(result, earlier[-1] if earlier else None):
        print(line)
    if not args.no_save:
        print(f"stored in {args.store or 'the history store'}", file=sys.stderr)
    return 0


def describe(a: Assessment, previous: Assessment | None) -> list[str]:
    """The check-up in a few lines, with the change since ``previous``."""
    lines = [
        f"check-up {a.time:%Y-%m-%d %H:%M} ({a.source}); pelvic tilt from today's neutral, anterior positive:",
        f"  forward (anterior) {a.anterior_max_deg:+.1f}°, back (posterior) {a.posterior_max_deg:+.1f}°, "
        f"range of motion {a.range_deg:.1f}°",
        "  sitting "
        + ("not measured" if a.sitting_deg is None else f"{a.sitting_deg:+.1f}°")
        + "; stood up "
        + ("(not seen)" if a.sit_to_stand_s is None else f"in {a.sit_to_stand_s:.0f} s after the prompt"),
        "  neutral standing "
        + (
            "(no stored calibration to compare with)"
            if a.neutral_deg is None
            else f"{a.neutral_deg:+.1f}° from the stored calibration's neutral"
        ),
    ]
    if previous is None:
        lines.append("first check-up: nothing to compare with yet")
        return lines
    changes = [
        f"range {a.range_deg - previous.range_deg:+.1f}°",
        f"forward {a.anterior_max_deg - previous.anterior_max_deg:+.1f}°",
        f"back {a.posterior_max_deg - previous.posterior_max_deg:+.1f}°",
    ]
    if a.sitting_deg is not None and previous.sitting_deg is not None:
        changes.append(f"sitting {a.sitting_deg - previous.sitting_deg:+.1f}°")
    if a.sit_to_stand_s is not None and previous.sit_to_stand_s is not None:
        changes.append(f"standing up {a.sit_to_stand_s - previous.sit_to_stand_s:+.0f} s")
    if a.neutral_deg is not None and previous.neutral_deg is not None:
        changes.append(f"neutral {a.neutral_deg - previous.neutral_deg:+.1f}°")
    lines.append(f"since the last check-up ({previous.time:%Y-%m-%d}): " + ", ".join(changes))
    return lines
