"""``hipsense simulate``: a simulated wearer's recording plus its ground truth."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime
from pathlib import Path

from tqdm import tqdm

from processing.errors import ConfigError
from sensor.recording import RecordingWriter
from sensor.simulate import (
    EpochTruthBuilder,
    Segment,
    SensorModel,
    parse_scenario,
    scenario_random,
    scenario_workday,
    simulate_chunks,
    write_truth_csv,
)


def truth_path(out: Path) -> Path:
    """``day.csv.gz`` -> ``day.truth.csv``: the truth file beside a simulated recording."""
    name = out.name
    for suffix in (".csv.gz", ".csv", ".hsb"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return out.with_name(name + ".truth.csv")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "simulate",
        help="write a simulated wearer's recording and its ground truth",
        description=(
            "Simulate a belt-worn wearer (sitting, standing, walking, lying, transitions) seen by a noisy IMU "
            "in any mounting, and write the recording (.csv, .csv.gz or .hsb by suffix) plus its ground truth "
            "per 1 s epoch (t, activity, tilt_deg, obliquity_deg, transition) to FILE.truth.csv."
        ),
    )
    p.add_argument("--minutes", type=float, default=60.0, metavar="N", help="length in minutes (default: 60)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed; same seed, same data (default 0)")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="recording to write (.csv/.csv.gz/.hsb)")
    p.add_argument(
        "--scenario",
        default="random",
        metavar="NAME|SPEC",
        help="'random' (daily life, --minutes long), 'workday' (3 h with a 45 min sitting bout and episodes of "
        "anterior tilt), or a spec like 'stand 30, walk 2min, sit 45min, stand 60 tilt=12' (default: random)",
    )
    p.add_argument("--rate", type=float, default=100.0, metavar="HZ", help="sample rate in Hz (default: 100)")
    p.add_argument(
        "--mounting",
        default="random",
        metavar="A,B,C|random",
        help="sensor->pelvis rotation as z,y,x Euler angles in degrees, or 'random' (a random place and "
        "rotation on the belt, from the seed; default)",
    )
    p.add_argument(
        "--jitter-ms", type=float, default=0.0, metavar="MS", help="timestamp jitter, ms standard deviation (default 0)"
    )
    p.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="fraction of samples lost in short runs, 0..0.5 (default 0)",
    )
    p.add_argument(
        "--start",
        default="2026-01-05T08:00:00+01:00",
        metavar="ISO",
        help="wall-clock time at t = 0, ISO 8601 with offset (default: 2026-01-05T08:00:00+01:00)",
    )
    p.add_argument(
        "--wearer",
        default=None,
        metavar="ID",
        help="the wearer id written to the recording's metadata, [A-Za-z0-9_-], at most 64 characters "
        "(default: sim<SEED>); hipsense batch groups recordings into wearers by it",
    )
    p.add_argument("--no-truth", action="store_true", help="do not write the ground truth file beside the recording")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    p.set_defaults(func=run)


WEARER_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _scenario(args: argparse.Namespace) -> list[Segment]:
    if args.scenario == "random":
        if args.minutes <= 0:
            raise ConfigError(f"--minutes {args.minutes}: must be positive")
        return scenario_random(args.minutes, args.seed)
    if args.scenario == "workday":
        return scenario_workday(args.seed)
    return parse_scenario(args.scenario)


def _mounting(text: str) -> tuple[float, float, float] | str:
    if text == "random":
        return "random"
    try:
        a, b, c = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise ConfigError(f"--mounting {text!r}: give three angles in degrees like 0,90,0, or 'random'") from exc
    return (a, b, c)


def run(args: argparse.Namespace) -> int:
    out: Path = args.out
    if not out.name.endswith((".csv", ".csv.gz", ".hsb")):
        raise ConfigError(f"--out {out}: the suffix must be .csv, .csv.gz or .hsb")
    try:
        start = datetime.fromisoformat(args.start)
    except ValueError as exc:
        raise ConfigError(f"--start {args.start!r} is not ISO 8601", hint="e.g. 2026-01-05T08:00:00+01:00") from exc
    if start.tzinfo is None:
        raise ConfigError(f"--start {args.start!r} has no UTC offset", hint="e.g. 2026-01-05T08:00:00+01:00")
    wearer = f"sim{args.seed}" if args.wearer is None else args.wearer
    if not WEARER_RE.fullmatch(wearer):
        raise ConfigError(f"--wearer {wearer!r}: use 1-64 letters, digits, '_' or '-'")
    segments = _scenario(args)
    try:
        sensor = SensorModel(
            rate_hz=args.rate,
            mounting_deg=_mounting(args.mounting),  # type: ignore[arg-type]
            jitter_s=args.jitter_ms / 1000.0,
            drop_rate=args.drop_rate,
        )
    except ValueError as exc:
        raise ConfigError(f"simulate: {exc}") from exc
    total_s = sum(s.duration_s for s in segments)
    metadata = {
        "start": start.isoformat(),
        "device": "simulator",
        "rate_hz": f"{args.rate:g}",
        "wearer": wearer,
        "scenario": args.scenario,
        "seed": str(args.seed),
    }
    truth = EpochTruthBuilder()
    parts = []
    show = not args.no_progress and sys.stderr.isatty()
    with (
        RecordingWriter(out, metadata=metadata, flush_s=None) as writer,
        tqdm(total=round(total_s), unit="s", disable=not show, desc=out.name, leave=False) as bar,
    ):
        done = 0.0
        for samples, chunk_truth in simulate_chunks(segments, sensor, seed=args.seed):
            writer.write(samples)
            parts.append(truth.update(chunk_truth))
            now = float(samples.t[-1])
            bar.update(round(now - done))
            done = round(now)
    parts.append(truth.finish())
    if args.no_truth:
        print(f"{out}: {total_s / 60:.1f} min at {args.rate:g} Hz", file=sys.stderr)
        return 0
    tpath = truth_path(out)
    write_truth_csv(tpath, parts)
    print(f"{out}: {total_s / 60:.1f} min at {args.rate:g} Hz; truth in {tpath}", file=sys.stderr)
    return 0
