"""Speed and size of recording formats: 4 h at 100 Hz as CSV / CSV.gz, 24 h at 100 Hz as .hsb.

Run: ``python benchmarks/bench_recording.py [--hours-csv 4] [--hours-hsb 24] [--repeat 3] [--csv /tmp/4h.csv]``.
Prints a table: write times (in the writer only, not making the data) and read times (the fastest of
``--repeat``), the CSV read without the read-ahead thread, numpy.loadtxt on the same CSV for reference, peak
traced memory while reading, and the CSV formatter alone. The data is a synthetic wearer (slow posture
changes, walking bursts, sensor noise): real IMU data is quantised and usually compresses better.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np

from processing.samples import Samples
from sensor.recording import RecordingWriter, format_csv_rows, open_recording
from sensor.recording import csv as csv_source

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


def timed_write(path: Path, hours: float) -> tuple[int, float]:
    """Write ``hours`` of synthetic data; seconds spent in the writer only (not making the data)."""
    spent = 0.0
    t0 = time.perf_counter()
    w = RecordingWriter(path, metadata={"rate_hz": "100", "device": "bench"}, flush_s=None, flush_samples=65536)
    spent += time.perf_counter() - t0
    for chunk in synthetic(hours):
        t0 = time.perf_counter()
        w.write(chunk)
        spent += time.perf_counter() - t0
    t0 = time.perf_counter()
    w.close()
    return w.samples_written, spent + time.perf_counter() - t0


def read_all(path: Path) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    with warnings.catch_warnings(), open_recording(path) as rec:
        warnings.simplefilter("ignore")
        for chunk in rec:
            n += len(chunk)
    return n, time.perf_counter() - t0


def best_read(path: Path, repeat: int, *, read_ahead: int | None = None) -> tuple[int, float]:
    """Fastest of ``repeat`` reads (the machine may be shared), optionally with another read-ahead depth."""
    saved = csv_source.READ_AHEAD_BLOCKS
    if read_ahead is not None:
        csv_source.READ_AHEAD_BLOCKS = read_ahead
    try:
        runs = [read_all(path) for _ in range(repeat)]
    finally:
        csv_source.READ_AHEAD_BLOCKS = saved
    return runs[0][0], min(s for _, s in runs)


def peak_mb(fn: Callable[[], object]) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours-csv", type=float, default=4.0)
    ap.add_argument("--hours-hsb", type=float, default=24.0)
    ap.add_argument("--repeat", type=int, default=3, help="reads per file; the fastest is shown")
    ap.add_argument("--csv", type=Path, help="also time reading this CSV (e.g. from 'hipsense simulate')")
    ap.add_argument("--no-loadtxt", action="store_true", help="skip timing numpy.loadtxt on the CSV")
    args = ap.parse_args()
    rows: list[tuple[str, str, str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for suffix, hours in (("csv", args.hours_csv), ("csv.gz", args.hours_csv), ("hsb", args.hours_hsb)):
            path = d / f"rec.{suffix}"
            n, write_s = timed_write(path, hours)
            n_read, read_s = best_read(path, args.repeat)
            assert n_read == n
            mb = path.stat().st_size / 1e6
            rows.append((f"{suffix} {hours:g} h", f"{n:,}", f"{mb:.1f}", f"{write_s:.2f}", f"{read_s:.2f}"))
            if suffix == "csv":
                _, no_thread_s = best_read(path, args.repeat, read_ahead=0)
                rows.append(("  same, parsed on the calling thread", "", "", "", f"{no_thread_s:.2f}"))
                if not args.no_loadtxt:
                    t0 = time.perf_counter()
                    np.loadtxt(path, delimiter=",", comments="#", skiprows=3)
                    rows.append(("  numpy.loadtxt (reference)", f"{n:,}", "", "", f"{time.perf_counter() - t0:.2f}"))
                mem = peak_mb(partial(read_all, path))
                rows.append(("  peak Python memory while reading (MB)", "", "", "", f"{mem:.0f}"))
                format_s = 0.0
                for chunk in synthetic(hours):
                    t0 = time.perf_counter()
                    format_csv_rows(chunk)
                    format_s += time.perf_counter() - t0
                rows.append(("  format_csv_rows only (no file)", "", "", f"{format_s:.2f}", ""))
        if args.csv is not None:
            n, read_s = best_read(args.csv, args.repeat)
            mb = args.csv.stat().st_size / 1e6
            rows.append((args.csv.name, f"{n:,}", f"{mb:.1f}", "", f"{read_s:.2f}"))
    cpus = len(os.sched_getaffinity(0))
    print(f"CPUs usable: {cpus}; load average {os.getloadavg()[0]:.2f} (other processes compete for them)")
    print(f"{'recording':<40} {'samples':>12} {'MB':>8} {'write s':>8} {'read s':>8}")
    for r in rows:
        print(f"{r[0]:<40} {r[1]:>12} {r[2]:>8} {r[3]:>8} {r[4]:>8}")


if __name__ == "__main__":
    main()
