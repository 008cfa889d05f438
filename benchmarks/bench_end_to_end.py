"""End to end: ``hipsense analyze`` on a 4 h, 100 Hz simulated CSV against the minimal script a user would write.

Run: ``python benchmarks/bench_end_to_end.py [--minutes 240] [--keep DIR] [--profile]`` (needs ``pip install vqf``).

1. ``hipsense simulate --minutes 240 --rate 100`` writes the CSV (not timed).
2. (a) the minimal script: ``numpy.loadtxt`` of the CSV plus VQF's online ``updateBatch`` (in-process, timed);
   (b) ``python -m hipsense analyze`` on the same file as a subprocess, start-up included (timed).
3. With ``--profile``, runs ``analyze`` in-process under cProfile and prints the top functions by cumulative and
   by own time, so the slow parts can be found.
Target: (b) no slower than (a). Both wall-clock and CPU time (best of ``--repeats`` alternating runs) are
printed; on a shared machine the CPU-time ratio is the steadier one.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def minimal_script(csv: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds of the minimal script."""
    from vqf import VQF

    t0, c0 = time.perf_counter(), time.process_time()
    data = np.loadtxt(csv, delimiter=",", comments="#", skiprows=1 + _metadata_lines(csv))
    gyro = np.ascontiguousarray(data[:, 4:7])
    acc = np.ascontiguousarray(data[:, 1:4])
    rate = 1.0 / float(np.median(np.diff(data[:1000, 0])))
    VQF(1.0 / rate).updateBatch(gyro, acc)
    return time.perf_counter() - t0, time.process_time() - c0


def _metadata_lines(csv: Path) -> int:
    n = 0
    with csv.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith("#"):
                break
            n += 1
    return n


def analyze_subprocess(csv: Path, out: Path, env: dict[str, str]) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, of the child and its own children) of ``analyze``."""
    cmd = [sys.executable, "-m", "hipsense", "analyze", str(csv), "--timeline", str(out), "--no-progress"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def profile_analyze(csv: Path, out: Path) -> None:
    from hipsense.cli import main as hipsense_main

    prof = cProfile.Profile()
    prof.enable()
    hipsense_main(["analyze", str(csv), "--timeline", str(out), "--no-progress"])
    prof.disable()
    for key in ("cumulative", "tottime"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(18)
        text = buf.getvalue()
        start = text.find("   ncalls")
        print(f"\n--- analyze, top functions by {key} ---")
        print(text[start:].rstrip())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=240.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=2, help="timed runs of each; the best is reported")
    ap.add_argument("--keep", type=Path, default=None, help="folder for the CSV (default: a temporary one)")
    ap.add_argument("--profile", action="store_true", help="also profile analyze in-process (cProfile)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        csv = folder / f"sim_{args.minutes:g}min_100hz.csv"
        env = {**os.environ, "HIPSENSE_HOME": str(Path(tmp) / "home"), "PYTHONPATH": str(REPO)}
        if not csv.exists():
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "hipsense", "simulate", "--minutes", f"{args.minutes:g}", "--rate", "100",
                 "--seed", str(args.seed), "--out", str(csv), "--no-progress"],
                check=True, cwd=REPO, env=env, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            print(f"simulated {csv.name} ({csv.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
        runs_a, runs_b = [], []
        for _ in range(args.repeats):  # alternating, so that load from other jobs hits both alike
            runs_a.append(minimal_script(csv))
            runs_b.append(analyze_subprocess(csv, folder / "timeline.csv", env))
        a_wall, a_cpu = (min(r[i] for r in runs_a) for i in (0, 1))
        b_wall, b_cpu = (min(r[i] for r in runs_b) for i in (0, 1))
        print(f"{'':52} {'wall':>7}   {'CPU':>7}")
        print(f"{'(a) numpy.loadtxt + VQF updateBatch (in-process)':52} {a_wall:7.2f} s {a_cpu:7.2f} s")
        print(f"{'(b) hipsense analyze (subprocess, start-up included)':52} {b_wall:7.2f} s {b_cpu:7.2f} s")
        print(f"{'ratio (b) / (a), target <= 1.0':52} {b_wall / a_wall:7.2f}   {b_cpu / a_cpu:7.2f}")
        if args.profile:
            os.environ["HIPSENSE_HOME"] = env["HIPSENSE_HOME"]
            profile_analyze(csv, folder / "timeline_profiled.csv")


if __name__ == "__main__":
    main()
