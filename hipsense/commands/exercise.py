"""``hipsense exercise``: the exercise log. ``add`` logs exercise by hand; ``show`` lists a day's log.

Drills the sensor detects (pelvic tilts, glute bridges) are logged with the source ``detected``; anything else
(a walk without the sensor, a swim, a class) is logged here. A day's exercise minutes are the sum of its log.
"""

from __future__ import annotations

import argparse
import math
from datetime import date, timedelta
from pathlib import Path

from hipsense.inbound import clean_text
from processing.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "exercise",
        help="log exercise by hand, or show a day's exercise log",
        description="The exercise log: detected drills and exercise logged by hand add up to a day's exercise minutes.",
    )
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True, help="add or show")
    add = actions.add_parser("add", help="log exercise by hand", description="Log exercise done on a day.")
    add.add_argument("--minutes", type=float, required=True, metavar="N", help="how long, minutes (> 0)")
    add.add_argument("--day", metavar="YYYY-MM-DD", help="the day (default: today)")
    add.add_argument("--what", default="exercise", metavar="TEXT", help="what it was (default: 'exercise')")
    show = actions.add_parser("show", help="a day's exercise log", description="List a day's exercise log.")
    show.add_argument("--day", metavar="YYYY-MM-DD", help="the day (default: today)")
    for q in (add, show):
        q.add_argument("--store", metavar="DB", type=Path, default=None, help="history store (default: data folder)")
    p.set_defaults(func=run)


#: Exercise logged by hand: at most this many days back (and at most one day ahead, for time zones).
PAST_DAYS_MAX = 3660


def parse_day(text: str | None, *, today: date | None = None) -> date:
    """``YYYY-MM-DD`` within the last 10 years (or tomorrow, for time zones), or today when None."""
    today = today or date.today()
    if text is None:
        return today
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--day {text!r}: not a date", hint="write it as YYYY-MM-DD, e.g. 2026-03-14") from None
    first, last = today - timedelta(days=PAST_DAYS_MAX), today + timedelta(days=1)
    if not first <= day <= last:
        raise ConfigError(f"--day {text}: give a day from {first} to {last}", hint="check the year")
    return day


def run(args: argparse.Namespace) -> int:
    from hipsense.store import HistoryStore  # sqlite only for this command

    day = parse_day(args.day)
    if args.action == "add":
        if not (math.isfinite(args.minutes) and 0 < args.minutes <= 24 * 60):
            raise ConfigError(f"--minutes {args.minutes:g}: give the minutes exercised, more than 0 and up to a day")
        what = clean_text(args.what) or "exercise"
        with HistoryStore(args.store) as store:
            total_s = store.add_exercise(day, args.minutes * 60.0, what=what, source="manual")
        print(f"{day}: logged {args.minutes:g} min of {what}; exercise that day {total_s / 60.0:.0f} min")
        return 0
    with HistoryStore(args.store) as store:
        log = store.exercise_log(day)
    if not log:
        print(f"{day}: no exercise logged")
        return 0
    for duration_s, what, source in log:
        print(f"{day}  {duration_s / 60.0:5.1f} min  {what}  ({source})")
    print(f"{day}: {sum(d for d, _, _ in log) / 60.0:.0f} min in all")
    return 0
