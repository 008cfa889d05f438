"""Re-clip detection: false re-clips on simulated days and real recordings, detection delay of real re-clips.

Run: ``python benchmarks/bench_reclip.py [--seeds 1-4] [--hours 24] [--reclip-seeds 1-3] [--hapt DIR]``

Three tables, all through :class:`processing.reclip.MountingTracker` started from the automatic calibration of
the stream (the path of ``hipsense analyze``):

- **simulated days**: ``scenario_random(hours)`` per seed on a randomly mounted sensor (sample jitter 2 ms,
  0.5 % of samples lost); the wearer never re-clips, so every reported re-clip is false. Also the epochs left
  uncalibrated.
- **HAPT** (real waist-worn phones, 41 recordings, read in place and never copied; skipped when the folder is
  absent): the recordings that report a re-clip on the ``analyze`` path, the live path after the guided
  calibration (first labelled standing and walking, as ``bench_hapt``) and the live self-calibrated path,
  with the reason and the HAPT label at detection (0: no label). Nothing says whether the phone was moved in
  them; detections in the unlabelled stretch at the end are most likely the phone being taken off.
- **simulated re-clips**: one hour of daily life with the sensor on the front of the belt, then the sensor
  comes off and goes back in another orientation, then another hour (``scenario_random`` with other seeds);
  the tracker starts from the automatic calibration of the first hour (as from a stored calibration).
  Delay: seconds from the re-clip to its detection, and the seconds of walking and of still reclined
  postures (sitting) in between (the evidence the checks need). "missed": not detected within the hour.

- **neutral offsets and places** (``--offsets``): simulated days of wearers whose neutral standing is
  -15° ... +10° from their walking posture (``with_stand_offset``), sensor on the front, back and side of the
  belt; false re-clips on the ``analyze`` path (automatic calibration of the whole stream) and on the live
  self-calibrated path (the tracker starts uncalibrated), scaled to a 24 h day. Target (issue 12): <= 0.05
  false re-clips per simulated day.

The thresholds were chosen on simulated days of seeds 1–8 and on the HAPT dev set, so neither table is free of
tuning; ``--seeds 101-104`` gives days that were not looked at.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from processing.calibration import (  # noqa: E402
    CalibrationError,
    calibrate,
    calibrate_guided,
    still_mask,
    walking_mask,
)
from processing.errors import RecordingWarning  # noqa: E402
from processing.features import EpochFeatures, FeatureExtractor  # noqa: E402
from processing.gravity import make_up_estimator  # noqa: E402
from processing.reclip import CalibrationEvent, MountingTracker, ReclipEvent  # noqa: E402
from processing.samples import Samples  # noqa: E402
from sensor.simulate import (  # noqa: E402
    SensorModel,
    scenario_random,
    simulate_chunks,
    with_stand_offset,
)

#: Sensor places on the belt (the simulator's ``mounting_deg``, z-y-x degrees).
PLACES = {"front": (0.0, 90.0, 0.0), "back": (0.0, -90.0, 0.0), "side": (0.0, 0.0, -90.0)}

RATE = 100.0
RECLIPS: dict[str, tuple[float, float, float]] = {
    "upside down": (0.0, 0.0, 180.0),
    "tilt +30 (sensor about y)": (0.0, 30.0, 0.0),
    "tilt -25 (sensor about y)": (0.0, -25.0, 0.0),
    "tilt 25 (sensor about x)": (0.0, 0.0, 25.0),
    "turn 90 (front -> left side)": (90.0, 0.0, 0.0),
    "turn -90 (front -> right side)": (-90.0, 0.0, 0.0),
}


def seeds_arg(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def features_of(chunks: Iterable[Samples], rate: float) -> EpochFeatures:
    fx = FeatureExtractor(rate_hz=rate, up_estimator=make_up_estimator(rate))
    parts = [fx.update(s) for s in chunks]
    parts.append(fx.finish())
    return EpochFeatures.concat(parts)


def reclips(features: EpochFeatures, calibrate_until: float = np.inf) -> tuple[list[ReclipEvent], int]:
    """Re-clips reported over ``features`` after an automatic calibration on the epochs before
    ``calibrate_until`` (s), and the number of uncalibrated epochs."""
    out = MountingTracker(calibration=calibrate(features.select(features.t < calibrate_until))).update(features)
    events = [e for e in out.events if isinstance(e, ReclipEvent)]
    return events, int((~out.calibrated).sum())


def sim_days(seeds: list[int], hours: float) -> None:
    print(f"\nSimulated days ({hours:g} h, random mounting, jitter 2 ms, 0.5 % lost): no re-clip happens")
    print(f"{'seed':>5} {'false re-clips':>15} {'uncalibrated epochs':>20}  events")
    total = 0
    for seed in seeds:
        sensor = SensorModel(rate_hz=RATE, mounting_deg="random", jitter_s=0.002, drop_rate=0.005)
        chunks = (s for s, _ in simulate_chunks(scenario_random(hours * 60.0, seed), sensor, seed=seed))
        events, uncal = reclips(features_of(chunks, RATE))
        total += len(events)
        words = "; ".join(f"{e.t_detected:.0f} s {e.reason} {e.angle_deg:.0f}°" for e in events)
        print(f"{seed:>5} {len(events):>15} {uncal:>20}  {words}")
    print(f"total false re-clips: {total} in {len(seeds) * hours:g} h")


def offset_days(offsets: list[float], seeds: list[int], hours: float) -> None:
    print(f"\nFalse re-clips of wearers standing off their walking posture ({hours:g} h days, seeds {seeds}, 50 Hz)")
    print(f"{'offset':>7} {'place':>6} {'analyze':>8} {'live self':>10} {'days':>6}  events")
    rate = 50.0
    totals = [0, 0]
    days = 0.0
    for offset in offsets:
        for place, mounting in PLACES.items():
            counts = [0, 0]
            words = []
            for seed in seeds:
                sensor = SensorModel(rate_hz=rate, mounting_deg=mounting, jitter_s=0.002, drop_rate=0.005)
                scenario = with_stand_offset(scenario_random(hours * 60.0, seed), offset)
                features = features_of((s for s, _ in simulate_chunks(scenario, sensor, seed=seed)), rate)
                events, _ = reclips(features)
                live = MountingTracker().update(features).events
                live_events = [e for e in live if isinstance(e, ReclipEvent)]
                counts[0] += len(events)
                counts[1] += len(live_events)
                words += [f"seed {seed} {e.t_detected:.0f} s {e.reason}" for e in events + live_events]
            n_days = len(seeds) * hours / 24.0
            days += n_days
            totals = [totals[0] + counts[0], totals[1] + counts[1]]
            print(f"{offset:+6.0f}° {place:>6} {counts[0]:8d} {counts[1]:10d} {n_days:6.2f}  {'; '.join(words)}")
    print(
        f"false re-clips per simulated day: analyze {totals[0] / days:.3f}, live self {totals[1] / days:.3f} "
        f"({days:g} days each; target <= 0.05)"
    )


def hapt(data: Path) -> None:
    raw = data / "RawData"
    if not raw.is_dir():
        print(f"\nHAPT: {data} not found, skipped")
        return
    labels = np.loadtxt(raw / "labels.txt", dtype=np.int64)
    paths = sorted(raw.glob("acc_exp*_user*.txt*"))
    flagged = []
    from sensor.recording import open_recording

    for path in paths:
        m = re.match(r"acc_exp(\d+)_user(\d+)", path.name)
        assert m is not None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecordingWarning)
            with open_recording(path) as rec:
                features = features_of(rec, rec.info.rate_hz)
        rows = labels[labels[:, 0] == int(m.group(1))]
        guided = None
        neutral, walk = _first_segment(rows, 5), _first_segment(rows, 1)
        if neutral is not None:
            with contextlib.suppress(CalibrationError):
                guided = calibrate_guided(features, neutral, walk=walk)
        by_path = {
            "analyze": reclips(features)[0],
            "live guided": _events(MountingTracker(calibration=guided).update(features).events),
            "live self": _events(MountingTracker().update(features).events),
        }
        for path_name, events in by_path.items():
            for e in events:
                sample = int(e.t_detected * 50.0) + 1
                hit = rows[(rows[:, 3] <= sample) & (rows[:, 4] >= sample)]
                label = int(hit[0, 2]) if len(hit) else 0
                flagged.append((path.name.split(".")[0], path_name, e, label, float(features.t[-1]) + 1.0))
    print(f"\nHAPT dev set: re-clips reported on {len(paths)} recordings (analyze, live guided, live self paths)")
    print(f"{'recording':<20} {'path':>12} {'detected s':>10} {'length s':>9} {'label':>6}  reason")
    for name, path_name, e, label, length in flagged:
        print(
            f"{name:<20} {path_name:>12} {e.t_detected:>10.0f} {length:>9.0f} {label:>6}  {e.reason} {e.angle_deg:.0f}°"
        )
    for path_name in ("analyze", "live guided", "live self"):
        mine = [f for f in flagged if f[1] == path_name]
        labelled = sum(1 for f in mine if f[3] != 0)
        forward = sum(1 for f in mine if f[2].reason == "forward direction")
        print(
            f"  {path_name}: {len(mine)} re-clips, {labelled} inside a labelled activity, {forward} forward direction"
        )


def _events(events: list[ReclipEvent | CalibrationEvent]) -> list[ReclipEvent]:
    return [e for e in events if isinstance(e, ReclipEvent)]


def _first_segment(rows: np.ndarray, activity: int) -> tuple[float, float] | None:
    """(start_s, end_s) of the first labelled segment of ``activity`` in one experiment's label rows."""
    hit = rows[rows[:, 2] == activity]
    return None if hit.size == 0 else ((int(hit[0, 3]) - 1) / 50.0, int(hit[0, 4]) / 50.0)


def reclip_delays(seeds: list[int], minutes: float) -> None:
    print(f"\nSimulated re-clips: {minutes:g} min on the front of the belt, re-clipped, {minutes:g} min more")
    print(f"{'re-clip':<31} {'seed':>4} {'delay s':>8} {'walk s':>7} {'still s':>8}  {'reason':<18} {'before':>6}")
    for name, second in RECLIPS.items():
        for seed in seeds:
            first = SensorModel(rate_hz=RATE, mounting_deg=(0.0, 0.0, 0.0), jitter_s=0.002, drop_rate=0.005)
            after = SensorModel(rate_hz=RATE, mounting_deg=second, jitter_s=0.002, drop_rate=0.005)
            a = [s for s, _ in simulate_chunks(scenario_random(minutes, seed), first, seed=seed)]
            b = [s for s, _ in simulate_chunks(scenario_random(minutes, seed + 500), after, seed=seed + 500)]
            t_clip = float(a[-1].t[-1]) + 0.5
            samples = a + [Samples(s.t + t_clip, s.acc, s.gyro) for s in b]
            features = features_of(samples, RATE)
            events, _ = reclips(features, t_clip)
            before = sum(e.t_detected < t_clip for e in events)
            after_events = [e for e in events if e.t_detected >= t_clip]
            if not after_events:
                print(f"{name:<31} {seed:>4} {'missed':>8} {'':>7} {'':>8}  {'':<18} {before:>6}")
                continue
            e = after_events[0]
            span = (features.t >= t_clip) & (features.t < e.t_detected)
            walk = int((span & walking_mask(features)).sum())
            still = int((span & still_mask(features)).sum())
            delay = e.t_detected - t_clip
            print(f"{name:<31} {seed:>4} {delay:>8.0f} {walk:>7} {still:>8}  {e.reason:<18} {before:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seeds_arg, default=seeds_arg("1-4"), help="simulated day seeds (1-4)")
    parser.add_argument("--hours", type=float, default=24.0, help="length of a simulated day, h (24)")
    parser.add_argument("--reclip-seeds", type=seeds_arg, default=seeds_arg("1-3"), help="re-clip seeds (1-3)")
    parser.add_argument("--reclip-minutes", type=float, default=60.0, help="minutes before and after (60)")
    parser.add_argument("--hapt", type=Path, default=REPO.parent / "shared" / "data" / "hapt-dev")
    parser.add_argument("--offsets", type=float, nargs="*", help="neutral offsets, deg (table only)")
    parser.add_argument("--offset-seeds", type=seeds_arg, default=seeds_arg("1-2"), help="offset-table seeds (1-2)")
    parser.add_argument("--offset-hours", type=float, default=8.0, help="offset-table day length, h (8)")
    parser.add_argument("--hapt-only", action="store_true", help="only the HAPT table")
    args = parser.parse_args()
    start = time.perf_counter()
    if args.hapt_only:
        hapt(args.hapt)
        print(f"\n({time.perf_counter() - start:.0f} s)")
        return
    if args.offsets:
        offset_days(args.offsets, args.offset_seeds, args.offset_hours)
        print(f"\n({time.perf_counter() - start:.0f} s)")
        return
    reclip_delays(args.reclip_seeds, args.reclip_minutes)
    hapt(args.hapt)
    sim_days(args.seeds, args.hours)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
