"""``hipsense history``: export the history store to CSV, or prune old 1 s epochs by hand."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from hipsense.commands._common import atomic_write
from hipsense.config import load_config
from hipsense.store import HistoryStore, sane_days
from processing.errors import ConfigError

TABLES = ("days", "epochs", "bouts", "alerts", "exercise", "assessments")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "history",
        help="export the history store to CSV, or prune old epochs",
        description=(
            "The history store holds 1 s epochs, sitting bouts, alerts, day summaries, exercise and check-ups. "
            "'export' writes one table as CSV (for a spreadsheet or a physiotherapist); 'prune' deletes 1 s "
            "epochs older than the retention (day summaries, bouts and alerts stay), and rows dated in the future "
            "or before 1970."
        ),
    )
    p.add_argument("--store", type=Path, metavar="DB", help="history store (default: [store] path, or the data folder)")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, help="export or prune")
    e = actions.add_parser("export", help="write one table as CSV", description="Write one table of the store as CSV.")
    e.add_argument("--table", choices=TABLES, default="days", help="which table (default: days)")
    e.add_argument("--from", dest="first", metavar="YYYY-MM-DD", help="first local day to include (default: all)")
    e.add_argument("--to", dest="last", metavar="YYYY-MM-DD", help="last local day to include (default: all)")
    e.add_argument("--out", type=Path, metavar="FILE.csv", help="where to write (default: standard output)")
    e.set_defaults(func=run_export)
    r = actions.add_parser(
        "prune", help="delete old 1 s epochs", description="Delete 1 s epochs older than the retention."
    )
    r.add_argument(
        "--keep-days",
        type=int,
        metavar="N",
        help="days of 1 s epochs to keep, today included (default: [store] retention_days, 365)",
    )
    r.set_defaults(func=run_prune)


def _day(text: str | None, flag: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{flag} {text!r} is not a date", hint="give YYYY-MM-DD") from exc


def run_export(args: argparse.Namespace) -> int:
    first, last = _day(args.first, "--from"), _day(args.last, "--to")
    with HistoryStore(args.store) as store:
        if args.out is None:
            n = store.export_csv(sys.stdout, args.table, first=first, last=last)
        else:
            with atomic_write(args.out) as fh:
                n = store.export_csv(fh, args.table, first=first, last=last)
    print(f"{args.table}: {n} rows" + (f" -> {args.out}" if args.out else ""), file=sys.stderr)
    return 0


def run_prune(args: argparse.Namespace) -> int:
    keep = args.keep_days if args.keep_days is not None else round(load_config().store.retention_days)
    with HistoryStore(args.store) as store:
        n = store.prune(keep_days=keep, today=date.today())
        odd = store.prune_out_of_range(today=date.today())
    print(f"deleted {n} epochs older than {keep} days", file=sys.stderr)
    if odd:
        first, last = sane_days(date.today())
        print(f"deleted {odd} rows dated outside {first} to {last}", file=sys.stderr)
    return 0
