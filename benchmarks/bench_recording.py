"""Speed and size of recording formats: 4 h at 100 Hz as CSV / CSV.gz, 24 h at 100 Hz as .hsb.

Run: ``python benchmarks/bench_recording.py [--hours-csv 4] [--hours-hsb 24] [--loadtxt]``. Prints a table.
The data is a synthetic wearer (slow posture changes, walking bursts, sensor noise): real IMU data is
quantised and usually compresses better.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from processing.samples import Samples
from sensor.recording import open_recording, write_recording

RATE = 100.0


def synthetic(hours: float, *, block: int = 360_000, seed: int = 0) -> Iterator[Samples]:
    rng = np.random.default_rng(seed)
    n_total = int(hours * 3600 * RATE)
    for start in range(0, n_total, block):
        n = min(block, n_total - start)
        t = (start + np.arange(n)) / RATE
        tilt = 0.3 * np.sin(2 * np.pi * t / 900) + 0.2 * np.sin(2 * np.pi * t / 97)
        walk = (np.sin(2 * np.pi * t / 600) > 0.8) * 1.5 * np.sin(2 * np.pi * 1.8 * t)
        acc = np.column_stack([9.81 * np.sin(tilt) + walk, 0.3 * walk, 9.81 * np.cos(tilt) + walk])
        acc += rng.normal(0, 0.02, (n, 3))
        rate = np.gradient(tilt, t)
        gyro = np.column_stack([0.2 * walk, rate, 0.1 * walk]) + rng.normal(0, 0.005, (n, 3))
        yield Samples(t, acc, gyro)


def read_all(path: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    with warnings.catch_warnings(), open_recording(path) as rec:
        warnings.simplefilter("ignore")
        for chunk in rec:
            n += len(chunk)
    return n, time.perf_counter() - t0


def peak_mb(fn: object) -> float:
    tracemalloc.start()
    fn()  # type: ignore[operator]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours-csv", type=float, default=4.0)
    ap.add_argument("--hours-hsb", type=float, default=24.0)
    ap.add_argument("--loadtxt", action="store_true", help="also time numpy.loadtxt on the CSV (slow)")
    args = ap.parse_args()
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for suffix, hours in (("csv", args.hours_csv), ("csv.gz", args.hours_csv), ("hsb", args.hours_hsb)):
            path = d / f"rec.{suffix}"
            t0 = time.perf_counter()
            n = write_recording(path, synthetic(hours), metadata={"rate_hz": "100", "device": "bench"})
            write_s = time.perf_counter() - t0
            n_read, read_s = read_all(path)
            assert n_read == n
            mb = path.stat().st_size / 1e6
            rows.append((f"{suffix} {hours:g} h", f"{n:,}", f"{mb:.1f}", f"{write_s:.2f}", f"{read_s:.2f}"))
            if suffix == "csv" and args.loadtxt:
                t0 = time.perf_counter()
                np.loadtxt(path, delimiter=",", comments="#", skiprows=3)
                rows.append(("  numpy.loadtxt", f"{n:,}", "", "", f"{time.perf_counter() - t0:.2f}"))
            if suffix == "csv":
                mem = peak_mb(lambda p=path: read_all(p))
                rows.append(("  peak Python memory while reading (MB)", "", "", "", f"{mem:.0f}"))
    print(f"{'recording':<40} {'samples':>12} {'MB':>8} {'write s':>8} {'read s':>8}")
    for r in rows:
        print(f"{r[0]:<40} {r[1]:>12} {r[2]:>8} {r[3]:>8} {r[4]:>8}")


if __name__ == "__main__":
    main()
