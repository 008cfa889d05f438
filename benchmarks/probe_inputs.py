"""Probe: hundreds of damaged recordings through ``hipsense analyze`` as a subprocess (issue #11).

Run: ``python benchmarks/probe_inputs.py [--mutants 400] [--seed 7] [--timeout 60] [--mem-limit-mb 3000]``.

The corpus is generated in a temporary folder (nothing is committed): the named hostile cases of issue #11
(``tests/sensor/hostile_inputs.py``: far-future timestamps, a .zip that is not a zip, a 16 M-sample .hsb
block, trailing gzip garbage, endless lines, FIFOs, broken zips, bad rates and start years, empty files, ...)
and ``--mutants`` seeded mutants of a valid csv, csv.gz, hsb, HAPT pair, phyphox folder and phyphox zip (byte
flips, truncations, zero runs, huge fields, splices, junk, repeats, lost line ends).

Each input runs as ``python -m hipsense analyze INPUT --timeline OUT`` in its own process, with an address-space
limit (``--mem-limit-mb``) so that a blow-up cannot take the machine down, and a wall-clock ``--timeout`` (a
hang). The child's peak resident memory comes from ``wait4``. Outcomes:

- clean success: exit 0, no traceback;
- clean error: exit 2 with one ``error:`` line (and a hint), no traceback;
- traceback: anything printing ``Traceback`` (listed with its exception and the innermost hipsense frame);
- hang: still running after ``--timeout`` s.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sensor.hostile_inputs import Case, base_recordings, mutants, named_cases  # noqa: E402


@dataclass
class Outcome:
    case: Case
    kind: str  # "success" | "error" | "traceback" | "hang" | "other"
    code: int | None
    rss_kb: int
    seconds: float
    detail: str


def run_one(case: Case, out: Path, *, timeout: float, mem_limit: int) -> Outcome:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (mem_limit, mem_limit))

    env = dict(os.environ, HIPSENSE_HOME=str(out.parent / "home"), PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "hipsense", "analyze", str(case.path), "--timeline", str(out), "--no-progress"]
    start = time.monotonic()
    with tempfile.TemporaryFile() as err_file:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_file, preexec_fn=limit, env=env
        )
        deadline = start + timeout
        status = None
        usage = None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = -9
                seconds = time.monotonic() - start
                return Outcome(case, "hang", None, usage.ru_maxrss, seconds, f"killed after {timeout:g} s")
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - start
        err_file.seek(0)
        err = err_file.read().decode("utf-8", "replace")
    code = proc.returncode
    rss = usage.ru_maxrss if usage is not None else 0
    if "Traceback" in err:
        last = err.strip().splitlines()[-1] if err.strip() else "?"
        frames = re.findall(r'File "([^"]*(?:processing|sensor|hipsense)/[^"]+)", line (\d+)', err)
        where = f"{Path(frames[-1][0]).parent.name}/{Path(frames[-1][0]).name}:{frames[-1][1]}" if frames else "?"
        return Outcome(case, "traceback", code, rss, seconds, f"{last[:120]} at {where}")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    if code == 0:
        return Outcome(case, "success", code, rss, seconds, "")
    if code == 2 and len(errors) == 1:
        return Outcome(case, "error", code, rss, seconds, errors[0][7:120])
    return Outcome(case, "other", code, rss, seconds, err.strip()[-200:])


def family(case: Case) -> str:
    if case.row != "fuzz":
        return f"issue row {case.row}"
    return "mutant " + case.name.split("-")[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=400, help="seeded mutants of valid recordings")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of the valid recordings mutated, s")
    parser.add_argument("--timeout", type=float, default=60.0, help="wall seconds before an input counts as a hang")
    parser.add_argument("--mem-limit-mb", type=int, default=3000, help="address-space limit of each child, MB")
    parser.add_argument("--keep", type=Path, help="keep the corpus in this folder (default: a temporary one)")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="hipsense-probe-")) if args.keep is None else args.keep
    root.mkdir(parents=True, exist_ok=True)
    try:
        corpus = list(named_cases(root / "named"))
        bases = base_recordings(root / "bases", seconds=args.seconds)
        corpus += list(mutants(root / "mutants", bases, args.mutants, seed=args.seed))
        out = root / "out" / "timeline.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        results: list[Outcome] = []
        began = time.monotonic()
        for i, case in enumerate(corpus):
            results.append(run_one(case, out, timeout=args.timeout, mem_limit=args.mem_limit_mb << 20))
            if (i + 1) % 50 == 0:
                print(f"  {i + 1}/{len(corpus)} inputs, {time.monotonic() - began:.0f} s", file=sys.stderr)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)

    kinds = Counter(r.kind for r in results)
    rss = sorted(r.rss_kb for r in results)
    slowest = max(results, key=lambda r: r.seconds)
    print(
        f"\nhipsense analyze on {len(results)} damaged inputs (seed {args.seed}, timeout {args.timeout:g} s, "
        f"address-space limit {args.mem_limit_mb} MB)\n"
    )
    print(
        "| inputs tried | clean errors | clean successes | tracebacks | hangs | other | peak RSS (max) | "
        "peak RSS (median) | slowest input |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {len(results)} | {kinds['error']} | {kinds['success']} | {kinds['traceback']} | {kinds['hang']} | "
        f"{kinds['other']} | {rss[-1] / 1024:.0f} MB | {rss[len(rss) // 2] / 1024:.0f} MB | "
        f"{slowest.seconds:.1f} s ({slowest.case.name}) |"
    )
    print("\n| family | inputs | clean errors | clean successes | tracebacks | hangs | peak RSS (max) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for fam in sorted({family(r.case) for r in results}):
        rows = [r for r in results if family(r.case) == fam]
        k = Counter(r.kind for r in rows)
        print(
            f"| {fam} | {len(rows)} | {k['error']} | {k['success']} | {k['traceback']} | {k['hang']} | "
            f"{max(r.rss_kb for r in rows) / 1024:.0f} MB |"
        )
    bad = [r for r in results if r.kind in ("traceback", "hang", "other")]
    if bad:
        print("\nNot clean:")
        for r in bad:
            print(f"- {r.case.name} ({r.kind}, exit {r.code}): {r.detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
