"""Goals: a small TOML file of daily limits and targets, and the arithmetic of progress across days.

Example ``goals.toml`` (every key optional; minutes per day)::

    max_sitting_min = 360        # sitting per day at most
    max_bout_min = 45            # the longest sitting bout at most
    max_anterior_tilt_min = 10   # anterior tilt while standing at most
    exercise_min = 10            # exercise at least
    start = 2026-01-05           # first day that counts (default: the first day in the history)
    end = 2026-03-01             # the end date

A day counts only if the sensor was worn that day (its summary has worn time); days without data are neither
met nor missed.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from hipsense.config import config_path
from hipsense.store import DaySummary
from processing.errors import ConfigError

#: name -> (label, summary field in seconds or "", "max" or "min")
GOAL_KINDS: dict[str, tuple[str, str, str]] = {
    "max_sitting_min": ("sitting", "sitting_s", "max"),
    "max_bout_min": ("longest sitting bout", "longest_bout_s", "max"),
    "max_anterior_tilt_min": ("anterior tilt standing", "anterior_tilt_standing_s", "max"),
    "exercise_min": ("exercise", "exercise_s", "min"),
}


@dataclass(frozen=True)
class Goals:
    """Daily goals in minutes (None: no such goal) and the period they run over."""

    max_sitting_min: float | None = None
    max_bout_min: float | None = None
    max_anterior_tilt_min: float | None = None
    exercise_min: float | None = None
    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        for name in GOAL_KINDS:
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ValueError(f"{name} = {value!r} must be >= 0 minutes")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")

    @property
    def active(self) -> list[str]:
        return [name for name in GOAL_KINDS if getattr(self, name) is not None]


def load_goals(path: Path) -> Goals:
    """Read a goals file; unknown keys and wrong types fail at once, naming the file and the key."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the goals file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}", hint="fix the goals file") from exc
    known = {f.name for f in fields(Goals)}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown goal {key!r}", hint=f"known keys: {', '.join(sorted(known))}")
        if key in ("start", "end"):
            ok = isinstance(value, date)
        else:
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            value = float(value) if ok else value
        if not ok:
            want = "a date like 2026-03-01" if key in ("start", "end") else "a number of minutes"
            raise ConfigError(f"{path}: {key} = {value!r} has the wrong type", hint=f"give {want}")
        kwargs[key] = value
    try:
        return Goals(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


@dataclass(frozen=True)
class GoalCheck:
    """One goal on one day: value and target in minutes; met: within the limit (max) or reached (min)."""

    name: str
    label: str
    kind: str
    value_min: float
    target_min: float
    met: bool


def check_day(goals: Goals, day: DaySummary) -> list[GoalCheck]:
    """The day's value of each active goal against its target."""
    out = []
    for name in goals.active:
        label, attr, kind = GOAL_KINDS[name]
        target = float(getattr(goals, name))
        value = float(getattr(day, attr)) / 60.0
        met = value <= target if kind == "max" else value >= target
        out.append(GoalCheck(name, label, kind, value, target, met))
    return out


@dataclass(frozen=True)
class GoalProgress:
    """One goal over the period: days met out of days counted, the mean of the last 7 counted days (minutes),
    the longest run of met days ending with the last counted day."""

    name: str
    label: str
    kind: str
    target_min: float
    days_met: int
    days_counted: int
    last7_mean_min: float
    streak: int

    @property
    def on_track(self) -> bool:
        """The last week's mean meets the target."""
        if self.days_counted == 0:
            return False
        if self.kind == "max":
            return self.last7_mean_min <= self.target_min
        return self.last7_mean_min >= self.target_min


@dataclass(frozen=True)
class Progress:
    """Progress toward the end date. days_elapsed: from start to ``today`` inclusive; days_left: after
    ``today`` up to the end date inclusive (None without an end date)."""

    start: date | None
    end: date | None
    today: date
    days_elapsed: int
    days_left: int | None
    goals: list[GoalProgress]


def find_goals(path: Path | None, configured: str) -> Goals | None:
    """The goals: ``path`` (a flag), else ``[goals] file`` from the config, else goals.toml beside the config file
    if there is one, else None."""
    if path is not None:
        return load_goals(path)
    if configured:
        return load_goals(Path(configured).expanduser())
    default = config_path().parent / "goals.toml"
    return load_goals(default) if default.exists() else None


def progress_payload(p: Progress) -> dict[str, Any]:
    """The retained MQTT ``<base>/goals`` JSON: the period and, per goal, days met and whether it is on track."""
    return {
        "start": None if p.start is None else p.start.isoformat(),
        "end": None if p.end is None else p.end.isoformat(),
        "today": p.today.isoformat(),
        "days_elapsed": p.days_elapsed,
        "days_left": p.days_left,
        "goals": [
            {
                "name": g.name,
                "label": g.label,
                "kind": g.kind,
                "target_min": g.target_min,
                "days_met": g.days_met,
                "days_counted": g.days_counted,
                "last7_mean_min": round(g.last7_mean_min, 1),
                "streak": g.streak,
                "on_track": g.on_track,
            }
            for g in p.goals
        ],
    }


def progress(goals: Goals, days: list[DaySummary], today: date) -> Progress:
    """Arithmetic across days: which days in [start, min(today, end)] met each goal.

    >>> g = Goals(max_sitting_min=60, end=date(2026, 1, 10))
    >>> d = [DaySummary(date(2026, 1, i), 0, s * 60, 0, 0, 0, 0, 0, 0, 0) for i, s in ((5, 50), (6, 70), (7, 55))]
    >>> p = progress(g, d, today=date(2026, 1, 7))
    >>> p.days_left, p.goals[0].days_met, p.goals[0].days_counted, p.goals[0].streak
    (3, 2, 3, 1)
    """
    counted = sorted(
        (
            d
            for d in days
            if d.worn_s > 0
            and (goals.start is None or d.day >= goals.start)
            and d.day <= (today if goals.end is None else min(today, goals.end))
        ),
        key=lambda d: d.day,
    )
    start = goals.start or (counted[0].day if counted else None)
    elapsed = 0 if start is None else max(0, (min(today, goals.end or today) - start).days + 1)
    left = None if goals.end is None else max(0, (goals.end - today).days)
    per_goal = []
    for name in goals.active:
        checks = [check_day(goals, d) for d in counted]
        mine = [next(c for c in cs if c.name == name) for cs in checks]
        streak = 0
        for c in reversed(mine):
            if not c.met:
                break
            streak += 1
        last7 = [c.value_min for c in mine[-7:]]
        label, _, kind = GOAL_KINDS[name]
        per_goal.append(
            GoalProgress(
                name=name,
                label=label,
                kind=kind,
                target_min=float(getattr(goals, name)),
                days_met=sum(c.met for c in mine),
                days_counted=len(mine),
                last7_mean_min=sum(last7) / len(last7) if last7 else 0.0,
                streak=streak,
            )
        )
    return Progress(start, goals.end, today, elapsed, left, per_goal)
