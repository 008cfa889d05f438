"""What one history-store write costs late in a live day: the epochs of one second plus the alert rules'
state, with and without recounting the day summary. ``live`` writes every second (so that a restart loses at
most about a second of the day) and recounts the summary once a minute.

    python benchmarks/bench_store_flush.py [--day-epochs 86000] [--writes 60]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hipsense.store import HistoryStore
from processing.alerts import AlertRules
from processing.clock import LocalClock
from processing.pipeline import Epochs


def epochs(t0: float, n: int) -> Epochs:
    t = t0 + np.arange(n, dtype=float)
    activity = (np.arange(n) % 4 + 1).astype(np.int8)
    return Epochs(t, activity, np.full(n, 5.0), np.zeros(n), np.ones(n, bool), np.zeros(n), np.zeros(n))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--day-epochs", type=int, default=86_000, help="epochs already stored that day")
    p.add_argument("--writes", type=int, default=60, help="writes timed per variant (alternating)")
    args = p.parse_args()
    clock = LocalClock(datetime(2026, 3, 2, tzinfo=UTC))
    rules = AlertRules()
    times: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory() as tmp, HistoryStore(Path(tmp) / "h.sqlite3") as store:
        store.add_run(epochs=epochs(0.0, args.day_epochs), clock=clock)
        for i in range(args.writes * 2):
            refresh = i % 2 == 0
            start = time.perf_counter()
            store.add_run(epochs=epochs(args.day_epochs + i, 1), clock=clock, refresh=refresh)
            store.save_state("rules/bench", rules.state(), ts=float(i))
            times[refresh].append(time.perf_counter() - start)
    print(f"history store write of 1 s of epochs + rule state, {args.day_epochs} epochs already that day")
    print(f"{'day summary':<22} {'median ms':>10} {'p90 ms':>8} {'core % at 1 write/s':>20}")
    for refresh, label in ((True, "recounted every write"), (False, "recounted once a min")):
        t = np.array(times[refresh]) * 1e3
        median = float(np.median(t))
        print(f"{label:<22} {median:10.2f} {float(np.percentile(t, 90)):8.2f} {median / 10:20.2f}")


if __name__ == "__main__":
    main()
