"""``hipsense batch`` over a simulated study: speed-up from 1 to N workers (and a Dask LocalCluster), recordings per
second, and whether ``days.csv`` (and every other table) is identical whatever runs it. Prints tables.

python benchmarks/bench_batch.py --make-only                      # only simulate the study (cached)
python benchmarks/bench_batch.py                                  # 1 and 2 workers, Dask if installed
python benchmarks/bench_batch.py --study DIR --wearers 20 --days 3 --jobs 1,2 --dask

The study (``hipsense simulate`` per wearer-day, 50 Hz, ``.hsb``) is cached in ``--study`` (default
``../batch-study`` beside the repository; never inside it) and simulated only when missing. Every wearer-day is
about 10.5 h of wear starting between 07:00 and 08:30 local time, so that days are valid with the default 10 h;
wearers 3, 10 and 17 record their second day as two files that continue each other; wearer 20's third day is
8 h (an invalid day); ``p99_d1.hsb`` is a corrupt file that must land in ``errors.csv``.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import resource
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from _table import table  # benchmarks/_table.py

REPO = Path(__file__).resolve().parents[1]
DEFAULT_STUDY = REPO.parent / "batch-study"
FIRST_DAY = datetime.fromisoformat("2026-01-12T00:00:00+01:00")
TABLES = ("days.csv", "wearers.csv", "errors.csv", "recordings.csv")


@dataclass(frozen=True)
class Piece:
    """One simulated recording: file name, wearer, start (aware), minutes, seed."""

    name: str
    wearer: str
    start: datetime
    minutes: float
    seed: int


def study_plan(wearers: int, days: int) -> list[Piece]:
    pieces = []
    for w in range(1, wearers + 1):
        for d in range(1, days + 1):
            seed = 1000 * w + d
            start = FIRST_DAY + timedelta(days=d - 1, hours=7, minutes=(seed * 37) % 90)
            minutes = 630.0 + 6.0 * (seed % 5)
            if w == 20 and d == 3:
                minutes = 480.0  # 8 h: an invalid day
            wid = f"p{w:02d}"
            if w % 7 == 3 and d == 2:  # two files that continue each other
                pieces.append(Piece(f"{wid}_d{d}a.hsb", wid, start, 300.0, seed))
                pieces.append(
                    Piece(f"{wid}_d{d}b.hsb", wid, start + timedelta(minutes=300), minutes - 300.0, seed + 500)
                )
            else:
                pieces.append(Piece(f"{wid}_d{d}.hsb", wid, start, minutes, seed))
    return pieces


def simulate_command(piece: Piece, folder: Path) -> list[str]:
    return [
        str(Path(sys.executable).parent / "hipsense"),
        "simulate",
        "--minutes",
        f"{piece.minutes:g}",
        "--seed",
        str(piece.seed),
        "--rate",
        "50",
        "--wearer",
        piece.wearer,
        "--start",
        piece.start.isoformat(),
        "--no-truth",
        "--no-progress",
        "--out",
        str(folder / piece.name),
    ]


def make_study(folder: Path, wearers: int, days: int, *, jobs: int = 2) -> float:
    """Simulate the missing recordings of the study into ``folder``; returns the seconds it took."""
    folder.mkdir(parents=True, exist_ok=True)
    todo = [p for p in study_plan(wearers, days) if not (folder / p.name).exists()]
    begin = time.perf_counter()

    def one(piece: Piece) -> None:
        tmp = folder / f".{piece.name}"
        cmd = simulate_command(piece, folder)
        cmd[-1] = str(tmp.with_suffix(".hsb"))
        subprocess.run(cmd, check=True, stderr=subprocess.DEVNULL)
        os.replace(tmp.with_suffix(".hsb"), folder / piece.name)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(one, todo))
    corrupt = folder / "p99_d1.hsb"
    if not corrupt.exists():
        corrupt.write_bytes(b"this is not a recording\n" * 100)
    return time.perf_counter() - begin


def user_files(out: Path) -> dict[str, bytes]:
    """The outputs a person reads (the resume state in .batch/ holds zip timestamps)."""
    return {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and ".batch" not in p.relative_to(out).parts
    }


def run_batch(inputs: list[Path], out: Path, extra: list[str], min_wear_h: float) -> tuple[float, int, float]:
    """Wall time (start-up included), exit status, and the peak resident size of the batch process or any of
    its workers, MB."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        str(Path(sys.executable).parent / "hipsense"),
        "batch",
        *map(str, inputs),
        "--out",
        str(out),
        "--no-progress",
    ]
    cmd += ["--min-wear-h", f"{min_wear_h:g}", *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    begin = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - begin
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr}")
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(f"  {' '.join(extra) or '(default)'}: {wall:.1f} s; {proc.stderr.strip().splitlines()[0]}", flush=True)
    return wall, proc.returncode, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--study", type=Path, default=DEFAULT_STUDY, help="where the simulated study is cached")
    ap.add_argument("--out", type=Path, default=Path("/tmp/hipsense-bench-batch"), help="scratch output folder")
    ap.add_argument("--wearers", type=int, default=20)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--jobs", default="1,2", help="worker counts to compare, e.g. 1,2")
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask LocalCluster run")
    ap.add_argument("--min-wear-h", type=float, default=10.0)
    ap.add_argument("--make-only", action="store_true", help="only simulate the study")
    args = ap.parse_args()
    if args.study.resolve().is_relative_to(REPO):
        raise SystemExit(f"--study {args.study}: keep the study outside the repository")
    took = make_study(args.study, args.wearers, args.days)
    plan = study_plan(args.wearers, args.days)
    files = [args.study / p.name for p in plan]
    hours = sum(p.minutes for p in plan) / 60
    size = sum(f.stat().st_size for f in files) / 1e6
    print(
        f"study: {args.study}: {len(plan)} recordings of {args.wearers} wearers x {args.days} days, {hours:.0f} h at "
        f"50 Hz, {size:.0f} MB (.hsb), plus 1 corrupt file; simulated now in {took:.0f} s"
    )
    if args.make_only:
        return
    runs: list[tuple[str, list[str]]] = [
        (f"pool, {j} worker{'s' * (int(j) > 1)}", ["--jobs", j]) for j in args.jobs.split(",")
    ]
    cluster = None
    if not args.no_dask:
        try:
            from distributed import LocalCluster
        except ImportError:
            print("dask[distributed] is not installed: no Dask run (pip install -e '.[dask]')")
        else:
            cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
            runs.append(("Dask LocalCluster, 2 workers", ["--scheduler", cluster.scheduler_address]))
    results = []
    try:
        for name, extra in runs:
            out = args.out / name.split(",")[0].replace(" ", "_") / extra[-1].replace("/", "_").replace(":", "_")
            wall, code, peak = run_batch([*files, args.study / "p99_d1.hsb"], out, extra, args.min_wear_h)
            results.append((name, out, wall, code, peak))
    finally:
        if cluster is not None:
            cluster.close()
    base_name, base_out, base_wall, _, _ = results[0]
    base = user_files(base_out)
    rows = []
    for name, out, wall, code, peak in results:
        files_now = user_files(out)
        same_days = files_now.get("days.csv") == base.get("days.csv")
        same_all = files_now == base
        rows.append(
            [
                name,
                f"{wall:.1f}",
                f"{len(plan) / wall:.3f}",
                f"{hours / wall * 3600:.0f}x",
                f"{base_wall / wall:.2f}",
                f"{peak:.0f}" if "Dask" not in name else "(workers apart)",
                "yes" if same_days else "NO",
                f"yes ({len(files_now)} files)" if same_all else "NO",
                str(code),
            ]
        )
    table(
        f"hipsense batch: {len(plan)} recordings + 1 corrupt ({hours:.0f} h of 50 Hz data); wall time with start-up",
        [
            "run",
            "wall s",
            "recordings/s",
            "real time",
            f"speed-up vs {base_name}",
            "peak RSS MB",
            "days.csv identical",
            "all outputs identical",
            "exit",
        ],
        rows,
    )
    errors = (base_out / "errors.csv").read_text().strip().splitlines()[1:]
    print(f"\nerrors.csv ({len(errors)}): " + "; ".join(errors))
    print(
        f"days.csv: {len(base['days.csv'].splitlines()) - 1} wearer-days; filecmp of days.csv 1st vs last run: "
        f"{filecmp.cmp(base_out / 'days.csv', results[-1][1] / 'days.csv', shallow=False)}"
    )


if __name__ == "__main__":
    main()
