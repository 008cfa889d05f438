"""A study: many recordings into per-recording outputs and the study tables, on a process pool or a Dask cluster.

Layout of the output folder ``DIR``::

    DIR/days.csv         one row per wearer and local day (processing.days)
    DIR/wearers.csv      per wearer: days, valid days, means over valid days
    DIR/recordings.csv   per recording: wearer (and where it came from), start, format, hours, status
    DIR/errors.csv       recordings that failed or broke off, one line each
    DIR/warnings.csv     what was repaired or left unknown, per recording
    DIR/report.html      the study at a glance (self-contained)
    DIR/recordings/<wearer>/<name>.<digest8>.timeline.csv / .summary.json   as ``hipsense analyze`` writes them
    DIR/.batch/<digest>.json / .npz   resume state: settings key and the epochs for the day table

Every file is written whole through a temporary file and renamed into place; a recording's state file is written
last, so an interrupted batch resumes where it stopped. The tables depend only on the recordings and the settings,
never on the number of workers or where they ran.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
import os
import sys
import tempfile
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
from tqdm import tqdm

from hipsense.batch.html import study_html
from hipsense.batch.inputs import content_digest, find_recordings
from hipsense.batch.worker import Done, Failed, Settings, Task, run_task
from hipsense.outputs import DAY_COLUMNS, study_day_row
from processing.days import DayBuilder, DayParams, DayStats, EpochDays
from processing.errors import ConfigError, HipsenseError

log = logging.getLogger(__name__)

STATE = ".batch"
RECORDING_COLUMNS = (
    "path",
    "wearer",
    "wearer_from",
    "start",
    "start_assumed",
    "format",
    "rate_hz",
    "hours",
    "status",
    "warnings",
    "timeline",
    "summary",
)
#: Per-wearer means over valid days (DayStats attribute, column name, scale).
WEARER_MEANS = (
    ("wear_s", "wear_min", 1 / 60),
    ("sitting_s", "sitting_min", 1 / 60),
    ("standing_s", "standing_min", 1 / 60),
    ("walking_s", "walking_min", 1 / 60),
    ("lying_s", "lying_min", 1 / 60),
    ("nonwear_s", "nonwear_min", 1 / 60),
    ("long_bouts", "sitting_bouts_30min", 1.0),
    ("longest_bout_s", "longest_bout_min", 1 / 60),
    ("breaks_per_sitting_h", "breaks_per_sitting_h", 1.0),
    ("anterior_tilt_standing_s", "anterior_tilt_standing_min", 1 / 60),
    ("standing_tilt_median_deg", "standing_tilt_median_deg", 1.0),
    ("sitting_tilt_median_deg", "sitting_tilt_median_deg", 1.0),
    ("exercise_s", "exercise_min", 1 / 60),
)


@dataclass(frozen=True)
class StudyOptions:
    """out: the output folder. jobs: worker processes (pool). scheduler: a Dask scheduler address instead.
    progress: a progress bar on a terminal."""

    out: Path
    settings: Settings = field(default_factory=Settings)
    days: DayParams = field(default_factory=DayParams)
    jobs: int = 1
    scheduler: str | None = None
    progress: bool = True


@dataclass
class StudyResult:
    recordings: int = 0
    analysed: int = 0
    skipped: int = 0
    errors: int = 0
    wearers: int = 0
    days: int = 0
    valid_days: int = 0


@dataclass
class _Record:
    """A recording done (now or before): its state file's content and the path it has in this run."""

    path: str
    state: dict[str, Any]


def _atomic_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _csv_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _save_days(path: Path, d: EpochDays) -> None:
    keys = sorted(d.day_length_s)
    buf = io.BytesIO()
    np.savez(
        buf,
        ts=d.ts,
        ordinal=d.ordinal,
        activity=d.activity,
        tilt_deg=d.tilt_deg,
        day=np.array(keys, np.int64),
        day_length_s=np.array([d.day_length_s[k] for k in keys]),
        day_start_ts=np.array([d.day_start_ts.get(k, np.nan) for k in keys]),
        ex_day=np.array([e[0] for e in d.exercise], np.int64),
        ex_s=np.array([e[1] for e in d.exercise], np.float64),
    )
    _atomic_bytes(path, buf.getvalue())


def _load_days(path: Path) -> EpochDays:
    with np.load(path, allow_pickle=False) as z:
        ts, ordinal, activity, tilt = z["ts"], z["ordinal"], z["activity"].astype(np.int8), z["tilt_deg"]
        m = ts.shape[0]
        if not (ordinal.shape == activity.shape == tilt.shape == (m,)):
            raise ValueError("arrays of different lengths")
        keys = z["day"].tolist()
        return EpochDays(
            ts.astype(np.float64),
            ordinal.astype(np.int64),
            activity,
            tilt.astype(np.float64),
            dict(zip(keys, z["day_length_s"].tolist(), strict=True)),
            tuple(zip(z["ex_day"].tolist(), z["ex_s"].tolist(), strict=True)),
            dict(zip(keys, z["day_start_ts"].tolist(), strict=True)),
        )


class _Writer:
    """Writes each finished recording's files (in the parent, whatever ran it) and keeps the study's lists."""

    def __init__(self, out: Path, settings_key: str) -> None:
        self.out = out
        self.state_dir = out / STATE
        self.key = settings_key
        self.records: list[_Record] = []
        self.errors: list[tuple[str, str]] = []

    def state_path(self, content: str) -> Path:
        return self.state_dir / f"{content}.json"

    def done_before(self, path: str, content: str) -> bool:
        """A state file with the same settings and its outputs there: skip the recording."""
        sp = self.state_path(content)
        try:
            state = json.loads(sp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        if not isinstance(state, dict) or state.get("settings") != self.key:
            return False
        files = [state.get("timeline"), state.get("summary"), state.get("days")]
        if not all(_inside(f) and (self.out / f).is_file() for f in files):
            return False
        self._keep(path, state)
        return True

    def _keep(self, path: str, state: dict[str, Any]) -> None:
        self.records.append(_Record(path, state))
        if state.get("error"):
            self.errors.append((path, f"{state['error']} (kept the {state.get('epochs', 0)} epochs read before)"))

    def write(self, result: Done | Failed) -> None:
        if isinstance(result, Failed):
            self.errors.append((result.path, result.message))
            return
        name = f"{_safe_stem(result.path)}.{result.content[:8]}"
        folder = Path("recordings") / result.wearer
        timeline = folder / f"{name}.timeline.csv"
        summary = folder / f"{name}.summary.json"
        days = Path(STATE) / f"{result.content}.npz"
        sp = self.state_path(result.content)
        self._remove_old(sp, keep={timeline.as_posix(), summary.as_posix()})
        _atomic_bytes(self.out / timeline, result.timeline_csv.encode("utf-8"))
        _atomic_bytes(self.out / summary, result.summary_json.encode("utf-8"))
        _save_days(self.out / days, result.days)
        state = {
            "settings": self.key,
            "path": result.path,
            "wearer": result.wearer,
            "wearer_from": result.wearer_source,
            "start": result.start,
            "start_assumed": result.start_assumed,
            "format": result.format,
            "rate_hz": result.rate_hz,
            "epochs": result.epochs,
            "first_ts": float(result.days.ts[0]) if result.epochs else None,
            "error": result.error,
            "warnings": result.warnings,
            "timeline": timeline.as_posix(),
            "summary": summary.as_posix(),
            "days": days.as_posix(),
        }
        _atomic_bytes(sp, (json.dumps(state, indent=1, ensure_ascii=False) + "\n").encode("utf-8"))
        self._keep(result.path, state)

    def _remove_old(self, sp: Path, keep: set[str]) -> None:
        """A recording done before with other settings (e.g. another wearer): its old outputs go."""
        try:
            old = json.loads(sp.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        for key in ("timeline", "summary"):
            f = old.get(key) if isinstance(old, dict) else None
            if _inside(f) and f not in keep:
                (self.out / f).unlink(missing_ok=True)


def _inside(f: object) -> TypeGuard[str]:
    """A path from a state file that stays inside the output folder."""
    return isinstance(f, str) and bool(f) and not Path(f).is_absolute() and ".." not in Path(f).parts


def _safe_stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".csv.gz", ".txt.gz", ".csv", ".txt", ".hsb", ".zip"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:80] or "recording"


# -- running the tasks --------------------------------------------------------------------------------------------


_DIED = "its worker process died (killed, or out of memory)"


def _run_pool(tasks: list[Task], jobs: int, on_result: Callable[[Done | Failed], None]) -> None:
    """Run the tasks on ``jobs`` worker processes. If a worker dies (killed, out of memory), the recordings that
    were unfinished are run again one by one in fresh processes; one that kills its worker again is a failure."""
    ctx = multiprocessing.get_context("spawn")
    # One BLAS/OpenMP thread per worker (as Dask's workers have): N workers do not fight over the cores, and the
    # numbers do not depend on how many threads a reduction was split into.
    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    os.environ.update(_ONE_THREAD)
    try:
        _pool_loop(tasks, jobs, on_result, ctx)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


_ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _pool_loop(
    tasks: list[Task], jobs: int, on_result: Callable[[Done | Failed], None], ctx: multiprocessing.context.SpawnContext
) -> None:
    todo, suspects = list(tasks), []
    while todo:
        todo, lost = _pool_pass(todo, jobs, on_result, ctx)
        suspects += lost
    for task in suspects:  # each alone in a fresh process: one that kills its worker again fails
        _, lost = _pool_pass([task], 1, on_result, ctx)
        for t in lost:
            on_result(Failed(t.path, t.content, _DIED))


def _pool_pass(
    tasks: list[Task], jobs: int, on_result: Callable[[Done | Failed], None], ctx: multiprocessing.context.SpawnContext
) -> tuple[list[Task], list[Task]]:
    """Run tasks until done or until the pool breaks (a worker died); returns the tasks not started and those that
    were running when it broke. At most 2 x jobs tasks are in flight, so finished results never pile up."""
    queue = deque(tasks)
    running: dict[Future[Done | Failed], Task] = {}
    lost: list[Task] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=ctx) as pool:
        while queue or running:
            while queue and not lost and len(running) < 2 * jobs:
                task = queue.popleft()
                try:
                    running[pool.submit(run_task, task)] = task
                except BrokenProcessPool:
                    queue.appendleft(task)
                    break
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in done:
                task = running.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    lost.append(task)
                    continue
                on_result(result)
            if lost and not running:
                break
    return list(queue), lost


def _run_dask(tasks: list[Task], address: str, on_result: Callable[[Done | Failed], None]) -> None:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError as exc:
        raise ConfigError(
            "--scheduler needs Dask's distributed scheduler, which is not installed",
            hint="pip install 'hipsense[dask]'",
        ) from exc
    try:
        client = Client(address, timeout="15s")  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise HipsenseError(
            f"cannot reach the Dask scheduler at {address}: {' '.join(str(exc).split())[:200]}",
            hint="start one with 'dask scheduler' and workers with 'dask worker ADDRESS --nthreads 1'",
        ) from exc
    with client:
        futures = {}
        for task in tasks:
            futures[client.submit(run_task, task, key=f"hipsense-batch-{task.content}", pure=False)] = task
        for fut in dask_completed(list(futures)):  # type: ignore[no-untyped-call]
            task = futures.pop(fut)
            try:
                result = fut.result()
            except Exception as exc:  # a worker lost or killed: that recording fails, the study goes on
                result = Failed(task.path, task.content, " ".join(f"the Dask worker failed: {exc}".split())[:300])
            on_result(result)
            fut.release()


# -- the study ----------------------------------------------------------------------------------------------------


def run_study(inputs: Sequence[str], options: StudyOptions) -> StudyResult:
    """Analyse every recording of ``inputs`` not done before, then write the study tables and report."""
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    options.settings.pattern()  # a bad --wearer-from fails now, not once per recording
    writer = _Writer(out, options.settings.key())
    paths, problems = find_recordings(inputs, exclude=out)
    writer.errors += problems
    result = StudyResult(recordings=len(paths))
    show = options.progress and sys.stderr.isatty()

    def digest(p: Path) -> tuple[Path, str | None, str]:
        try:
            return p, content_digest(p), ""
        except OSError as exc:
            return p, None, f"{p}: cannot read it: {exc.strerror or exc}"

    with ThreadPoolExecutor(max(1, min(options.jobs, 4))) as pool:
        digests = list(pool.map(digest, paths))
    tasks: list[Task] = []
    first_of: dict[str, str] = {}
    for p, content, problem in digests:
        if content is None:
            writer.errors.append((str(p), problem))
            continue
        if content in first_of:
            writer.errors.append((str(p), f"{p}: the same content as {first_of[content]}; counted once"))
            continue
        first_of[content] = str(p)
        if writer.done_before(str(p), content):
            result.skipped += 1
            continue
        tasks.append(Task(str(p), str(p.resolve()), content, options.settings))

    with tqdm(total=len(paths), initial=result.skipped, unit="rec", desc="study", disable=not show) as bar:

        def on_result(r: Done | Failed) -> None:
            writer.write(r)
            result.analysed += isinstance(r, Done)
            if isinstance(r, Failed) or r.error:
                bar.set_postfix_str(f"{len(writer.errors)} with errors", refresh=False)
            bar.update(1)

        if tasks and options.scheduler:
            _run_dask(tasks, options.scheduler, on_result)
        elif tasks:
            _run_pool(tasks, max(1, options.jobs), on_result)
        bar.update(len(paths) - bar.n)
    _write_tables(out, writer, options.days, result)
    return result


def _write_tables(out: Path, writer: _Writer, params: DayParams, result: StudyResult) -> None:
    by_wearer: dict[str, list[_Record]] = defaultdict(list)
    for rec in writer.records:
        by_wearer[rec.state["wearer"]].append(rec)
    warnings_rows: list[tuple[str, str]] = []
    day_rows: list[list[str]] = []
    wearer_rows: list[list[str]] = []
    ribbons: dict[tuple[str, date], np.ndarray] = {}
    stats_by_wearer: dict[str, list[DayStats]] = {}
    for wearer in sorted(by_wearer):
        recs = sorted(by_wearer[wearer], key=lambda r: (r.state.get("first_ts") or 0.0, r.path))
        builder = DayBuilder(params)
        days: list[DayStats] = []
        for rec in recs:
            try:
                part = _load_days(out / rec.state["days"])
            except (OSError, ValueError, KeyError) as exc:
                writer.errors.append(
                    (
                        rec.path,
                        f"{rec.path}: its saved result is unreadable ({exc}); delete {out / STATE} and run again",
                    )
                )
                continue
            before = builder.dropped_s
            days += builder.update(part)
            if builder.dropped_s > before:
                warnings_rows.append(
                    (
                        rec.path,
                        f"{builder.dropped_s - before:.0f} s overlap an earlier recording of {wearer}; counted once",
                    )
                )
            _add_ribbons(ribbons, wearer, part)
        days += builder.finish()
        stats_by_wearer[wearer] = days
        day_rows += [[wearer, *study_day_row(d)] for d in days]
        wearer_rows.append(_wearer_row(wearer, days))
    for rec in writer.records:
        warnings_rows += [(rec.path, w) for w in rec.state.get("warnings", [])]
    rec_rows = [
        [
            r.path,
            r.state["wearer"],
            r.state["wearer_from"],
            r.state["start"],
            "1" if r.state["start_assumed"] else "0",
            r.state["format"],
            f"{r.state['rate_hz']:g}",
            f"{r.state['epochs'] / 3600:.2f}",
            "partial" if r.state.get("error") else "ok",
            str(len(r.state.get("warnings", []))),
            r.state["timeline"],
            r.state["summary"],
        ]
        for r in sorted(writer.records, key=lambda r: r.path)
    ]
    errors = sorted(set(writer.errors))
    _atomic_bytes(out / "days.csv", _csv_bytes(("wearer", *DAY_COLUMNS), day_rows))
    _atomic_bytes(out / "wearers.csv", _csv_bytes(WEARER_COLUMNS, wearer_rows))
    _atomic_bytes(out / "recordings.csv", _csv_bytes(RECORDING_COLUMNS, rec_rows))
    _atomic_bytes(out / "errors.csv", _csv_bytes(("path", "error"), errors))
    _atomic_bytes(out / "warnings.csv", _csv_bytes(("path", "warning"), sorted(warnings_rows)))
    _atomic_bytes(
        out / "report.html",
        study_html(stats_by_wearer, ribbons, recordings=len(writer.records), errors=errors, params=params).encode(
            "utf-8"
        ),
    )
    result.errors = len(errors)
    result.wearers = len(by_wearer)
    result.days = len(day_rows)
    result.valid_days = sum(d.valid for ds in stats_by_wearer.values() for d in ds)


WEARER_COLUMNS = ("wearer", "days", "valid_days", *(f"mean_{name}" for _, name, _ in WEARER_MEANS))


def _wearer_row(wearer: str, days: list[DayStats]) -> list[str]:
    valid = [d for d in days if d.valid]
    row = [wearer, str(len(days)), str(len(valid))]
    for attr, _, scale in WEARER_MEANS:
        values = [float(v) for d in valid if (v := getattr(d, attr)) is not None]
        row.append(f"{sum(values) / len(values) * scale:.2f}" if values else "")
    return row


def _add_ribbons(ribbons: dict[tuple[str, date], np.ndarray], wearer: str, part: EpochDays) -> None:
    """Per wearer-day, the most frequent activity of each minute (-1: no epoch in that minute)."""
    if part.ts.shape[0] == 0:
        return
    cuts = np.flatnonzero(np.diff(part.ordinal)) + 1
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), part.ts.shape[0]], strict=True):
        d = int(part.ordinal[lo])
        start = part.day_start_ts.get(d)
        if start is None or not np.isfinite(start):
            continue
        n_min = int(np.ceil(part.day_length_s.get(d, 86400.0) / 60.0))
        minute = np.clip(((part.ts[lo:hi] - start) // 60).astype(np.int64), 0, n_min - 1)
        counts = np.bincount(minute * 5 + part.activity[lo:hi], minlength=n_min * 5).reshape(n_min, 5)
        key = (wearer, date.fromordinal(d))
        if key in ribbons:  # a day in two recordings: the earlier one's minutes count as one epoch each
            old = ribbons[key]
            for a in range(5):
                counts[:, a] += old == a
        best = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), -1).astype(np.int8)
        ribbons[key] = best
