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
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

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
