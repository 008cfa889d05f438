"""Sit-to-stand and stand-to-sit: detection rate and timing against the simulator's truth and HAPT's labels.

Run: ``python benchmarks/bench_transitions.py [--seeds 1-6] [--sits 1.5,2,3,5,10,30] [--hapt DIR]``

Each transition the wearer makes is matched with the sit-downs and stand-ups the classifier reports
(``ActivityClassifier.transitions``, the ``kind`` and the :class:`~processing.transitions.Transition`): a report of
the right kind whose moving epochs overlap the true transition (1 s of slack either side) detects it.

- **Simulator**: per seed, a wearer stands, walks, then makes quick sits of each length in ``--sits`` (seconds
  of sitting after a 2 s sit-down, then 8 s of standing after a 2 s stand-up), twice each, then a short walk,
  on a sensor at a random mounting (jitter 2 ms, 0.5 % of samples lost). Two paths: ``live guided`` (causal,
  started from the true mounting, as after ``hipsense calibrate``) and ``live self`` (causal, starts
  uncalibrated and calibrates itself). Columns: how many true sit-downs / stand-ups, the share detected,
  the share of sits shown as ``sitting`` in at least one epoch of the output, and the timing: median and
  worst (reported end of the movement - true end of the transition), s (epoch resolution, 1 s).
- **HAPT** (real waist phones, labelled transitions 7 stand-to-sit and 8 sit-to-stand, read in place from
  ``../shared/data/hapt-dev``, never copied): the same matching on the three paths of ``bench_hapt``.

- **Stops after walking** (``--walk-stops``): every movement from steady walking to a rest, judged by
  :class:`~processing.transitions.WalkSitRule` (the rule that reads a sit-down from walking while the tilt
  cannot decide), loose (``confirm_m`` None, the activity classifier's) and strict (``confirm_m`` 0.1, the
  self-calibration's sign). Simulated random days (``--walk-seeds``, 2 h, offsets 0 and +10°, sensor front,
  back, side) give true sit-downs and stops into standing; on HAPT every stop after walking is into
  standing (the protocol has no sit-down from walking), so every sit-down read there is false.

Target (issue 12): sit-to-stand and stand-to-sit detected for sits of 2 s or more.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from processing.activity import ACTIVITIES, SITTING, ActivityParams  # noqa: E402
from processing.calibration import Calibration, CalibrationError, calibrate, calibrate_guided  # noqa: E402
from processing.errors import RecordingWarning  # noqa: E402
from processing.features import EpochFeatures, FeatureExtractor  # noqa: E402
from processing.gravity import make_up_estimator  # noqa: E402
from processing.pipeline import PipelineParams, PostureTracker  # noqa: E402
from processing.transitions import Transition, TransitionDetector, WalkSitRule  # noqa: E402
from sensor.simulate import (  # noqa: E402
    Segment,
    SensorModel,
    scenario_random,
    simulate_chunks,
    with_stand_offset,
)

#: Sensor places on the belt (the simulator's ``mounting_deg``, z-y-x degrees).
PLACES = {"front": (0.0, 90.0, 0.0), "back": (0.0, -90.0, 0.0), "side": (0.0, 0.0, -90.0)}
RULES = {"loose": WalkSitRule(), "strict": WalkSitRule(confirm_m=0.1)}

KINDS = ("stand-to-sit", "sit-to-stand")
RATE = 50.0


@dataclass(frozen=True)
class TrueTransition:
    kind: str
    start_s: float
    end_s: float
    sit_s: float  # length of the sit it begins or ends, s (sitting still, without the transitions)


def seeds_arg(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",")]


def quick_sits(sits: list[float], tr_s: float = 2.0) -> tuple[list[Segment], list[TrueTransition]]:
    segments = [Segment("standing", 15.0, tilt_deg=0.0), Segment("walking", 25.0), Segment("standing", 10.0)]
    truth: list[TrueTransition] = []
    t = sum(s.duration_s for s in segments)
    for sit in sits:
        for _ in range(2):
            segments.append(Segment("sitting", sit + tr_s, transition_s=tr_s))
            truth.append(TrueTransition("stand-to-sit", t, t + tr_s, sit))
            t += sit + tr_s
            segments.append(Segment("standing", 8.0 + tr_s, transition_s=tr_s))
            truth.append(TrueTransition("sit-to-stand", t, t + tr_s, sit))
            t += 8.0 + tr_s
    segments.append(Segment("walking", 20.0))
    return segments, truth


def features_of(chunks: object, rate: float) -> EpochFeatures:
    fx = FeatureExtractor(rate_hz=rate, up_estimator=make_up_estimator(rate))
    parts = [fx.update(s) for s in chunks]  # type: ignore[attr-defined]
    parts.append(fx.finish())
    return EpochFeatures.concat(parts)


def run(features: EpochFeatures, calibration: Calibration | None, hindsight: bool, rate: float):  # type: ignore[no-untyped-def]
    params = PipelineParams(rate_hz=rate, calibration=calibration, activity=ActivityParams(hindsight=hindsight))
    tracker = PostureTracker(params)
    epochs = tracker.update(features).epochs
    return epochs, list(tracker.activity.transitions)


def match(truth: TrueTransition, found: list[tuple[str, Transition]]) -> Transition | None:
    for kind, event in found:
        if kind == truth.kind and event.t_start <= truth.end_s + 1.0 and event.t_end >= truth.start_s - 1.0:
            return event
    return None


def simulated(seeds: list[int], sits: list[float]) -> None:
    print(f"\nSimulator: quick sits, seeds {seeds}, random mounting, 2 s transitions")
    print(f"{'path':>12} {'sit s':>6} {'sit-downs':>10} {'found':>6} {'stand-ups':>10} {'found':>6} {'shown':>6} "
          f"{'timing med / worst s':>21}")  # fmt: skip
    segments, truth = quick_sits(sits)
    rows: dict[tuple[str, float], list[tuple[bool, bool, float]]] = {}
    for seed in seeds:
        sensor = SensorModel(rate_hz=RATE, mounting_deg="random", jitter_s=0.002, drop_rate=0.005)
        samples = [s for s, _ in simulate_chunks(segments, sensor, seed=seed)]
        features = features_of(samples, RATE)
        from sensor.simulate import realize_sensor

        mounting = realize_sensor(sensor, seed).mounting
        guided = Calibration(mounting, "guided", "assumed")
        for path, cal in (("live guided", guided), ("live self", None)):
            epochs, found = run(features, cal, False, RATE)
            for tt in truth:
                event = match(tt, found)
                shown = True
                if tt.kind == "stand-to-sit":
                    during = (epochs.t >= tt.start_s) & (epochs.t < tt.end_s + tt.sit_s + 2.0)
                    shown = bool(np.any(epochs.activity[during] == SITTING))
                delay = np.nan if event is None else event.t_end - tt.end_s
                rows.setdefault((path, tt.sit_s), []).append((event is not None, shown, delay))
    for (path, sit), items in sorted(rows.items(), key=lambda kv: (kv[0][0] != "live guided", kv[0][1])):
        downs = items[0::2]
        ups = items[1::2]
        delays = np.array([d for _, _, d in items if np.isfinite(d)])
        timing = f"{np.median(delays):+6.1f} / {delays[np.argmax(np.abs(delays))]:+5.1f}" if delays.size else "-"
        print(
            f"{path:>12} {sit:6g} {len(downs):10d} {np.mean([f for f, _, _ in downs]):6.2f} "
            f"{len(ups):10d} {np.mean([f for f, _, _ in ups]):6.2f} {np.mean([s for _, s, _ in downs]):6.2f} "
            f"{timing:>21}"
        )
    print("found: share detected; shown: share of sits with a 'sitting' epoch in the output; timing: reported")
    print("end of the movement - true end, s (positive: later)")


def first_segment(labels: np.ndarray, experiment: int, activity: int) -> tuple[float, float] | None:
    rows = labels[(labels[:, 0] == experiment) & (labels[:, 2] == activity)]
    if rows.size == 0:
        return None
    return ((int(rows[0, 3]) - 1) / 50.0, int(rows[0, 4]) / 50.0)


def hapt(data: Path) -> None:
    raw = data / "RawData"
    if not (raw / "labels.txt").exists():
        print(f"\nHAPT: {data} not found, skipped (it is never copied into the repository)")
        return
    from sensor.recording import open_recording

    labels = np.loadtxt(raw / "labels.txt", dtype=np.int64)
    stats: dict[tuple[str, str], list[float]] = {}
    n_true = {k: 0 for k in KINDS}
    for path in sorted(raw.glob("acc_exp*_user*.txt*")):
        m = re.match(r"acc_exp(\d+)_user(\d+)", path.name)
        assert m is not None
        experiment = int(m.group(1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RecordingWarning)
            with open_recording(path) as rec:
                features = features_of(rec, rec.info.rate_hz)
        guided = None
        neutral = first_segment(labels, experiment, 5)
        if neutral is not None:
            try:
                guided = calibrate_guided(features, neutral, walk=first_segment(labels, experiment, 1))
            except CalibrationError:
                guided = None
        rows = labels[(labels[:, 0] == experiment) & np.isin(labels[:, 2], (7, 8))]
        truth = [TrueTransition(KINDS[int(r[2]) - 7], (int(r[3]) - 1) / 50.0, int(r[4]) / 50.0, np.nan) for r in rows]
        for tt in truth:
            n_true[tt.kind] += 1
        for name, cal, hindsight in (
            ("analyze", calibrate(features), True),
            ("live guided", guided, False),
            ("live self", None, False),
        ):
            _, found = run(features, cal, hindsight, 50.0)
            for tt in truth:
                event = match(tt, found)
                stats.setdefault((name, tt.kind), []).append(np.nan if event is None else event.t_end - tt.end_s)
    print("\nHAPT dev set: labelled stand-to-sit (7) and sit-to-stand (8), 41 recordings of 20 people")
    print(f"{'path':>12} {'transition':>13} {'labelled':>9} {'found':>6} {'timing med / worst s':>21}")
    for (name, kind), delays in stats.items():
        d = np.array(delays)
        ok = d[np.isfinite(d)]
        timing = f"{np.median(ok):+6.1f} / {ok[np.argmax(np.abs(ok))]:+5.1f}" if ok.size else "-"
        print(f"{name:>12} {kind:>13} {n_true[kind]:9d} {ok.size / max(1, d.size):6.3f} {timing:>21}")
    print("timing: reported end of the movement - end of the labelled transition, s")


def walk_stops(features: EpochFeatures) -> list[Transition]:
    """Movements from steady walking (3 epochs in a row, each within 10° of the one before) to a rest."""
    det = TransitionDetector(max_epochs=8)
    gyro = np.sqrt(np.maximum(np.trace(features.gyro_cov, axis1=1, axis2=2), 0.0))
    acc = features.acc_norm_std
    assert features.vert_acc is not None and features.vert_acc_late is not None
    last: np.ndarray | None = None
    gait = 0
    found: dict[float, Transition] = {}
    for e in range(len(features)):
        up = features.up[e]
        if not (features.coverage[e] >= 0.5 and np.all(np.isfinite(up))):
            det.reset()
            last, gait = None, 0
            continue
        steady = last is not None and float(up @ last) >= np.cos(np.radians(10.0))
        gait, last = (gait + 1 if acc[e] > 0.9 and steady else 0), up
        event = det.update(
            float(features.t[e]), present=True, rest=bool(acc[e] < 0.3 and gyro[e] < 0.3),
            vert_acc=float(features.vert_acc[e]), vert_acc_late=float(features.vert_acc_late[e]), incl_deg=0.0,
            tilt_deg=np.nan, up=(float(up[0]), float(up[1]), float(up[2])), quiet=bool(acc[e] < 0.1 and gyro[e] < 0.1),
            walking=gait >= 3,
        )  # fmt: skip
        if event is not None and event.after_walking:
            found[event.t_start] = event  # a resumed movement supersedes the earlier integration
    return list(found.values())


def walk_stop_table(seeds: list[int], data: Path) -> None:
    print("\nStops after walking judged sit-downs by WalkSitRule (drop 0.2 m by one integration, turn 4°;")
    print("strict: also 0.1 m by the other)")
    print(f"{'source':>34} {'stops':>6} {'loose':>7} {'strict':>7}")
    counts: dict[str, list[int]] = {}
    for seed in seeds:
        for offset in (0.0, 10.0):
            place = list(PLACES)[seed % len(PLACES)]
            scenario = with_stand_offset(scenario_random(120.0, seed), offset)
            ends = np.cumsum([seg.duration_s for seg in scenario])
            sensor = SensorModel(rate_hz=RATE, mounting_deg=PLACES[place], jitter_s=0.002, drop_rate=0.005)
            features = features_of((c for c, _ in simulate_chunks(scenario, sensor, seed=seed)), RATE)
            for event in walk_stops(features):
                i = int(np.searchsorted(ends, event.t_end + 0.5, side="right"))
                if i >= len(scenario):
                    continue
                into = "sitting" if scenario[i].activity == "sitting" else "other"
                row = counts.setdefault(f"simulated, offset {offset:+.0f}°, into {into}", [0, 0, 0])
                row[0] += 1
                for k, rule in enumerate(RULES.values()):
                    row[1 + k] += int(rule.sat(event))
    raw = data / "RawData"
    if raw.is_dir():
        from sensor.recording import open_recording

        row = counts.setdefault("HAPT (20 people), into standing", [0, 0, 0])
        for path in sorted(raw.glob("acc_exp*_user*.txt*")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RecordingWarning)
                with open_recording(path) as rec:
                    features = features_of(rec, rec.info.rate_hz)
            for event in walk_stops(features):
                row[0] += 1
                for k, rule in enumerate(RULES.values()):
                    row[1 + k] += int(rule.sat(event))
    for source, (n, loose, strict) in sorted(counts.items()):
        print(f"{source:>34} {n:6d} {loose / max(1, n):7.3f} {strict / max(1, n):7.3f}")
    print("(share of the stops read as sit-downs: wanted 1 into sitting, 0 otherwise)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=seeds_arg, default=seeds_arg("1-6"))
    ap.add_argument("--sits", default="1.5,2,3,5,10,30", help="sit lengths, s (comma-separated)")
    ap.add_argument("--hapt", type=Path, default=REPO.parent / "shared" / "data" / "hapt-dev")
    ap.add_argument("--walk-stops", action="store_true", help="only the table of stops after walking")
    ap.add_argument("--walk-seeds", type=seeds_arg, default=seeds_arg("1-12"), help="its simulated seeds (1-12)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.walk_stops:
        walk_stop_table(args.walk_seeds, args.hapt)
        print(f"\n({time.perf_counter() - t0:.0f} s)")
        return
    simulated(args.seeds, [float(x) for x in args.sits.split(",")])
    hapt(args.hapt)
    print(f"\n({time.perf_counter() - t0:.0f} s; activities: {', '.join(ACTIVITIES)})")


if __name__ == "__main__":
    main()
