"""Speed and accuracy of processing.orientation against VQF and imufusion (pip install vqf imufusion).

Run: ``python benchmarks/bench_orientation.py [--rate 100] [--rates 50,100,200] [--seeds 1,2,3] [--speed-only]``

Prints one table:
- batch throughput (samples/s, 65536-sample chunks, one core) and the ratio to VQF's C++ ``updateBatch``;
- a live 100 Hz stream (300 s) in chunks of 1 and of 1..10 samples: per-chunk latency p50/p99 (wall clock, and
  p99 of the thread's CPU time, which preemption by other jobs does not inflate) and CPU % of one core (from the
  thread's CPU time);
- inclination error (angle between estimated and true up vector, degrees RMS) on a walking-heavy simulated
  wearer (sensor.simulate, random mounting, the default cheap sensor: power-on gyro bias up to ±3 °/s, drift,
  accelerometer bias, scale and cross-axis errors; 1 ms timestamp jitter),
  split by activity, for this estimator, online VQF (6D) and imufusion's AHRS, for every rate and seed.
The first 10 s are excluded from accuracy (initialisation).
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from _references import up_imufusion, up_vqf  # benchmarks/_references.py

from processing.orientation import OrientationEstimator, OrientationResult
from processing.samples import Samples
from sensor.simulate import SensorModel, parse_scenario, simulate

SCENARIO = (
    "stand 30, walk 4min, sit 60, stand 10, walk 3min, sit 40, stand 5, walk 2min, stand 20, sit 30, stand 10, walk 90"
)


def inclination_error_deg(up: np.ndarray, truth_up: np.ndarray) -> np.ndarray:
    dot = np.clip(np.sum(up * truth_up, axis=1), -1.0, 1.0)
    return np.degrees(np.arccos(dot))


def run_ours(samples: Samples, chunk: int = 65536) -> OrientationResult:
    est = OrientationEstimator()
    parts = [est.update(samples.slice(i, i + chunk)) for i in range(0, len(samples), chunk)]
    return OrientationResult.concat(parts)


def speeds(samples: Samples, rate_hz: float, repeats: int = 7) -> dict[str, tuple[float, float]]:
    """Samples/s of ours and of VQF's ``updateBatch``, timed alternately (so that load from other processes hits
    both alike): best wall-clock and best thread-CPU time of ``repeats`` runs each, as (wall, cpu) samples/s."""
    from vqf import VQF

    gyro, acc = np.ascontiguousarray(samples.gyro), np.ascontiguousarray(samples.acc)

    def ours() -> None:
        run_ours(samples)

    def vqf() -> None:
        VQF(1.0 / rate_hz).updateBatch(gyro, acc)

    runs = {"ours": ours, "vqf": vqf}
    best = {name: [math.inf, math.inf] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            w0, c0 = time.perf_counter(), time.thread_time()
            fn()
            best[name][0] = min(best[name][0], time.perf_counter() - w0)
            best[name][1] = min(best[name][1], time.thread_time() - c0)
    return {name: (len(samples) / w, len(samples) / c) for name, (w, c) in best.items()}


def live(samples: Samples, max_chunk: int, seconds: float, rate_hz: float) -> tuple[float, float, float, float]:
    """Feed ``seconds`` of data in random chunks of 1..max_chunk; returns p50, p99 latency (ms), p99 of the
    thread's CPU time per call (ms; unaffected by other jobs preempting us on a shared machine), CPU % of one
    core (thread CPU time over the stream's duration)."""
    rng = np.random.default_rng(0)
    est = OrientationEstimator()
    n = min(len(samples), int(seconds * rate_hz))
    lat, cpu_lat = [], []
    i = 0
    while i < n:
        k = int(rng.integers(1, max_chunk + 1))
        part = samples.slice(i, min(n, i + k))
        t0, c0 = time.perf_counter(), time.thread_time()
        est.update(part)
        lat.append(time.perf_counter() - t0)
        cpu_lat.append(time.thread_time() - c0)
        i += k
    lat_ms = np.array(lat) * 1e3
    # share of one core from the thread's CPU time (wall-clock sums would count time spent preempted)
    cpu = 100.0 * float(np.sum(cpu_lat)) / (samples.t[n - 1] - samples.t[0])
    p99_cpu = float(np.percentile(cpu_lat, 99)) * 1e3
    return float(np.percentile(lat_ms, 50)), float(np.percentile(lat_ms, 99)), p99_cpu, cpu


def accuracy(rate_hz: float, seed: int) -> dict[str, dict[str, float]]:
    """Inclination error RMS (degrees) per estimator and activity group on one simulated recording."""
    sensor = SensorModel(rate_hz=rate_hz, mounting_deg="random", jitter_s=0.001)
    samples, truth = simulate(parse_scenario(SCENARIO), sensor, seed=seed)
    true_up = truth.sensor_to_world()[:, 2, :]  # world z in the sensor frame
    ests = {
        "hipsense": run_ours(samples).up,
        "VQF (6D)": up_vqf(samples, rate_hz),
        "imufusion": up_imufusion(samples, rate_hz),
    }
    keep = samples.t >= 10.0
    groups = {
        "rest": keep & np.isin(truth.activity, ["standing", "sitting"]) & ~truth.transition,
        "walking": keep & (truth.activity == "walking"),
        "transitions": keep & truth.transition,
        "all": keep,
    }
    out = {}
    for name, up in ests.items():
        err = inclination_error_deg(up, true_up)
        out[name] = {g: math.sqrt(float(np.mean(err[m] ** 2))) if m.any() else math.nan for g, m in groups.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=100.0, help="sample rate of the speed measurements, Hz")
    ap.add_argument("--rates", default="50,100,200", help="sample rates of the accuracy table, Hz")
    ap.add_argument("--seeds", default="1,2,3", help="simulator seeds of the accuracy table")
    ap.add_argument("--speed-only", action="store_true", help="skip the accuracy table")
    args = ap.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]

    sensor = SensorModel(rate_hz=args.rate, mounting_deg="random", jitter_s=0.001)
    samples, _ = simulate(parse_scenario(SCENARIO), sensor, seed=seeds[0])
    print(f"speed data: {len(samples)} samples at {args.rate:g} Hz, {samples.t[-1] / 60:.1f} min, seed {seeds[0]}")
    print(f"scenario: {SCENARIO}")

    # speed (on a long stream: the recording repeated to ~1 M samples, times shifted)
    reps = max(1, 1_000_000 // len(samples))
    span = samples.t[-1] + 1.0 / args.rate
    long = Samples(
        np.concatenate([samples.t + r * span for r in range(reps)]),
        np.tile(samples.acc, (reps, 1)),
        np.tile(samples.gyro, (reps, 1)),
    )
    sp = speeds(long, args.rate)
    (ours_w, ours_c), (vqf_w, vqf_c) = sp["ours"], sp["vqf"]
    rows = [
        (
            "batch throughput, 65536-sample chunks",
            f"{ours_w / 1e6:.2f} M samples/s wall, {ours_c / 1e6:.2f} M samples/s CPU",
        ),
        ("VQF updateBatch (C++), same data", f"{vqf_w / 1e6:.2f} M samples/s wall, {vqf_c / 1e6:.2f} M samples/s CPU"),
        ("ratio ours / VQF (alternating runs, best of 7)", f"{ours_w / vqf_w:.2f} wall, {ours_c / vqf_c:.2f} CPU"),
    ]
    for max_chunk in (1, 10):
        p50, p99, p99_cpu, cpu = live(samples, max_chunk, 300.0, args.rate)
        rows.append(
            (
                f"live {args.rate:g} Hz, chunks 1..{max_chunk}",
                f"p50 {p50:.3f} ms, p99 {p99:.3f} ms (CPU time p99 {p99_cpu:.3f} ms), CPU {cpu:.2f} %",
            )
        )
    width = max(len(r[0]) for r in rows) + 2
    print()
    for name, value in rows:
        print(f"{name:<{width}}{value}")

    if args.speed_only:
        return
    # accuracy
    print()
    print("inclination error vs truth, degrees RMS (first 10 s excluded)")
    names = ("hipsense", "VQF (6D)", "imufusion")
    cols = ("rest", "walking", "transitions", "all")
    print(f"{'rate':>6}{'seed':>6}  {'estimator':<11}" + "".join(f"{c:>13}" for c in cols))
    means: dict[tuple[float, str], list[dict[str, float]]] = {}
    for rate in rates:
        for seed in seeds:
            res = accuracy(rate, seed)
            for name in names:
                means.setdefault((rate, name), []).append(res[name])
                print(f"{rate:>6g}{seed:>6}  {name:<11}" + "".join(f"{res[name][c]:>13.3f}" for c in cols))
    print()
    print("mean over seeds")
    for rate in rates:
        for name in names:
            vals = means[(rate, name)]
            print(
                f"{rate:>6g}{'':>6}  {name:<11}"
                + "".join(f"{float(np.mean([v[c] for v in vals])):>13.3f}" for c in cols)
            )


if __name__ == "__main__":
    main()
