"""Speed, memory and realism of the simulated wearer (sensor/simulate/). Prints tables.

python benchmarks/bench_simulate.py            # everything (about a minute on 2 cores)
python benchmarks/bench_simulate.py --quick    # skip the 24 h runs
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from _table import table  # benchmarks/_table.py

from sensor.simulate import (
    EpochTruthBuilder,
    SensorModel,
    parse_scenario,
    scenario_random,
    scenario_workday,
    simulate,
    simulate_chunks,
)


def run(minutes: float, sensor: SensorModel, *, chunk_s: float = 600.0) -> list[str]:
    segments = scenario_random(minutes, seed=0)
    start = time.perf_counter()
    n = 0
    epochs = EpochTruthBuilder()
    for samples, truth in simulate_chunks(segments, sensor, seed=0, chunk_s=chunk_s):
        n += len(samples)
        epochs.update(truth)
    epochs.finish()
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    hours = minutes / 60
    return [
        f"{hours:g} h",
        f"{sensor.rate_hz:g}",
        f"{chunk_s:g}",
        "yes" if sensor.jitter_s or sensor.drop_rate else "no",
        f"{n:,}",
        f"{elapsed:.1f}",
        f"{n / elapsed / 1e6:.2f}",
        f"{peak:.0f}",
    ]


def speed(quick: bool) -> None:
    plain = SensorModel()
    defects = SensorModel(jitter_s=0.002, drop_rate=0.01, mounting_deg="random")
    rows = [
        run(60, plain),
        run(60, SensorModel(rate_hz=25)),
        run(60, SensorModel(rate_hz=400)),
        run(60, defects),
        run(60, plain, chunk_s=10),
    ]
    if not quick:
        rows.append(run(24 * 60, plain))
        rows.append(run(24 * 60, defects))
    header = ["scenario", "rate Hz", "chunk s", "jitter+drops", "samples", "seconds", "Msamples/s", "max RSS MB"]
    title = "Speed (random daily life, seed 0; chunks consumed with EpochTruthBuilder and discarded;"
    table(title + " max RSS of the process so far)", header, rows)


def realism() -> None:
    sensor = SensorModel(rate_hz=100.0)
    rows = []
    samples, truth = simulate(parse_scenario("walk 120"), sensor, seed=1)
    steady = (samples.t > 5) & (samples.t < 115)
    acc = samples.acc[steady] - samples.acc[steady].mean(axis=0)
    vertical = acc[:, 2]
    spectrum = np.abs(np.fft.rfft(vertical * np.hanning(vertical.size)))
    freqs = np.fft.rfftfreq(vertical.size, 0.01)
    rows.append(["walking: step frequency from FFT of vertical acc", f"{freqs[np.argmax(spectrum)]:.2f} Hz"])
    for axis, name in ((2, "vertical"), (0, "antero-posterior"), (1, "medio-lateral")):
        lo, hi = np.percentile(acc[:, axis], [1, 99])
        rows.append([f"walking: {name} acc 1st..99th percentile", f"{lo:+.2f} .. {hi:+.2f} m/s²"])
    for name, values in (("tilt", truth.tilt_deg[steady]), ("obliquity", truth.obliquity_deg[steady])):
        lo, hi = np.percentile(values, [1, 99])
        rows.append([f"walking: {name} 1st..99th percentile", f"{lo:+.1f} .. {hi:+.1f}°"])
    heading = np.degrees(np.unwrap(np.radians(truth.heading_deg[steady])))
    rows.append(["walking: heading range over 110 s (turns)", f"{np.ptp(heading):.0f}°"])

    _, truth = simulate(scenario_workday(seed=0), SensorModel(rate_hz=25.0), seed=0)
    for activity in ("standing", "sitting", "walking"):
        tilt = truth.tilt_deg[(truth.activity == activity) & ~truth.transition]
        rows.append([f"workday: {activity} tilt mean ± sd", f"{tilt.mean():+.1f} ± {tilt.std():.1f}°"])
    edges = np.flatnonzero(np.diff(truth.transition.astype(np.int8)))
    durations = truth.t[edges[1::2]] - truth.t[edges[::2]]
    rows.append(
        [
            "workday: postural transitions (count, duration range)",
            f"{durations.size}, {durations.min():.1f}..{durations.max():.1f} s",
        ]
    )
    table("Realism (default sensor, identity mounting)", ["quantity", "value"], rows)


def naive_tilt() -> None:
    """Tilt straight from the accelerometer's gravity direction (identity mounting): a floor for filters."""
    segments = parse_scenario("stand 60, walk 60, sit 30, stand 30, sit 30, stand 30, sit 30, stand 30")
    samples, truth = simulate(segments, SensorModel(rate_hz=100.0), seed=2)
    acc = samples.acc
    tilt = np.degrees(-np.arcsin(np.clip(acc[:, 0] / np.linalg.norm(acc, axis=1), -1, 1)))
    err = tilt - truth.tilt_deg
    rows = []
    for name, mask in (
        ("static (standing/sitting, no transition)", ~truth.transition & (truth.activity != "walking")),
        ("walking", truth.activity == "walking"),
        ("sit-to-stand / stand-to-sit (inside transitions)", truth.transition),
    ):
        rows.append([name, f"{np.sqrt(np.mean(err[mask] ** 2)):.2f}", f"{np.abs(err[mask]).max():.1f}"])
    table(
        "Naive accelerometer tilt vs truth, default noisy sensor (targets for filters: 1 / 1.5 / 2°)",
        ["context", "RMSE °", "max °"],
        rows,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 24 h runs")
    args = parser.parse_args()
    speed(args.quick)
    realism()
    naive_tilt()


if __name__ == "__main__":
    main()
