"""``hipsense report``: a day or a week from the history store as a self-contained HTML page, plus a summary."""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from datetime import date, timedelta
from pathlib import Path

from hipsense.commands._common import atomic_write
from hipsense.config import load_config
from hipsense.goals import check_day, find_goals, progress
from hipsense.report import DayView, render_html, terminal_summary
from hipsense.store import DaySummary, HistoryStore, iter_days, sane_days
from processing.errors import ConfigError, HipsenseError, HipsenseWarning


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "report",
        help="write an HTML report of a day or a week from the history store",
        description=(
            "Write a self-contained HTML page (no network needed) with the activity ribbon, pelvic tilt with "
            "the neutral band, sitting bouts, sitting per hour and anterior tilt while standing, for one day or "
            "the 7 days ending on it (--week, with trends), plus goal progress; print a short summary. The "
            "history comes from 'hipsense analyze --store'."
        ),
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--day", metavar="YYYY-MM-DD", help="the day (default: the last day in the history)")
    which.add_argument("--week", action="store_true", help="the 7 days ending on the last day in the history")
    p.add_argument("--out", type=Path, default=Path("report.html"), metavar="FILE", help="default: report.html")
    p.add_argument(
        "--store", type=Path, metavar="DB", help="history store (default: history.sqlite3 in the data folder)"
    )
    p.add_argument(
        "--goals",
        type=Path,
        metavar="FILE",
        help="goals TOML file (default: goals.toml beside the config file, if there is one)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    config = load_config()
    anterior_deg = config.alerts.anterior_tilt_deg
    goals = find_goals(args.goals, config.goals.file)
    store_path: Path | None = args.store
    if store_path is not None and not store_path.exists():
        raise ConfigError(
            f"{store_path}: no such history store", hint="create it with 'hipsense analyze REC --store DB'"
        )
    with HistoryStore(store_path) as store:
        first_ok, last_ok = sane_days(date.today())
        all_days = store.days(first_ok, last_ok)  # rows dated out of range (a wrong clock) are left out
        odd = len(store.days()) - len(all_days)
        if odd:
            warnings.warn(
                HipsenseWarning(
                    f"{store.path}: {odd} day(s) dated outside {first_ok} to {last_ok} left out of the report; "
                    "'hipsense history prune' deletes them"
                ),
                stacklevel=1,
            )
        if not all_days:
            raise HipsenseError(
                f"{store.path}: the history is empty", hint="add recordings with 'hipsense analyze REC --store'"
            )
        if args.day:
            try:
                last = date.fromisoformat(args.day)
            except ValueError as exc:
                raise ConfigError(f"--day {args.day!r} is not a date", hint="e.g. --day 2026-01-05") from exc
            if not first_ok <= last <= last_ok:
                raise ConfigError(f"--day {args.day}: give a day from {first_ok} to {last_ok}")
        else:
            last = all_days[-1].day
        first = last - timedelta(days=6) if args.week else last
        shown = [d for d in all_days if first <= d.day <= last]
        if not shown:
            raise HipsenseError(
                f"{store.path}: nothing stored for {last}",
                hint=f"the history holds {all_days[0].day} to {all_days[-1].day}",
            )
        views = [
            DayView(
                summary=d,
                epochs=store.day_epochs(d.day),
                bouts=store.day_bouts(d.day),
                alerts=store.day_alerts(d.day),
                checks=check_day(goals, d) if goals else [],
            )
            for d in reversed(shown)  # newest first
        ]
    prog = progress(goals, all_days, today=last) if goals else None
    stored = {d.day: d for d in shown}
    week = [stored.get(day) or DaySummary(day, 0, 0, 0, 0, 0, 0, 0, 0, 0) for day in iter_days(first, last)]
    title = f"hipsense: week {first} to {last}" if args.week else f"hipsense: {last}"
    page = render_html(
        title=title,
        views=views,
        week=week if args.week else (),
        progress=prog,
        max_sitting_min=goals.max_sitting_min if goals else None,
        anterior_deg=anterior_deg,
    )
    with atomic_write(args.out) as fh:
        fh.write(page)
    print(terminal_summary(shown, prog))
    elapsed = time.perf_counter() - started
    print(f"{args.out}: {len(page.encode()) / 1024:.0f} KB in {elapsed:.2f} s", file=sys.stderr)
    return 0
