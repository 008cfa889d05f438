"""Goals: the TOML file and the arithmetic of progress across days."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from hipsense.goals import Goals, check_day, load_goals, progress
from hipsense.store import DaySummary
from processing.errors import ConfigError


def day(
    d: int, *, sitting_min: float, bout_min: float = 30, anterior_min: float = 0, exercise_min: float = 0
) -> DaySummary:
    return DaySummary(
        date(2026, 1, d),
        0,
        sitting_min * 60,
        120 * 60,
        30 * 60,
        0,
        anterior_min * 60,
        bout_min * 60,
        3,
        0,
        exercise_min * 60,
    )


GOALS = Goals(max_sitting_min=300, max_bout_min=45, max_anterior_tilt_min=10, exercise_min=15, end=date(2026, 1, 31))


def test_check_day_limits_and_targets() -> None:
    checks = {
        c.name: c for c in check_day(GOALS, day(5, sitting_min=300, bout_min=46, anterior_min=3, exercise_min=15))
    }
    assert checks["max_sitting_min"].met  # at the limit is within it
    assert not checks["max_bout_min"].met and checks["max_bout_min"].value_min == 46
    assert checks["max_anterior_tilt_min"].met
    assert checks["exercise_min"].met and checks["exercise_min"].kind == "min"
    assert not check_day(GOALS, day(5, sitting_min=0, exercise_min=14.5))[3].met
    assert check_day(Goals(), day(5, sitting_min=10)) == []


def test_progress_across_days_with_a_gap_and_the_end_date() -> None:
    days = [
        day(5, sitting_min=320, exercise_min=20),
        day(6, sitting_min=290, exercise_min=0),
        # the 7th: not worn, neither met nor missed
        day(8, sitting_min=280, exercise_min=15),
        day(9, sitting_min=250, exercise_min=16),
    ]
    p = progress(GOALS, days, today=date(2026, 1, 9))
    assert p.start == date(2026, 1, 5) and p.days_elapsed == 5 and p.days_left == 22
    sit, bout, _, ex = p.goals
    assert (sit.days_met, sit.days_counted, sit.streak) == (3, 4, 3)
    assert sit.last7_mean_min == pytest.approx((320 + 290 + 280 + 250) / 4)
    assert sit.on_track
    assert (bout.days_met, bout.streak) == (4, 4)
    assert (ex.days_met, ex.streak) == (3, 2)
    assert ex.last7_mean_min == pytest.approx(51 / 4) and not ex.on_track


def test_progress_window_start_end_and_last_seven() -> None:
    days = [day(d, sitting_min=400 if d < 10 else 200) for d in range(1, 32)]
    goals = Goals(max_sitting_min=300, start=date(2026, 1, 3), end=date(2026, 1, 20))
    p = progress(goals, days, today=date(2026, 1, 25))  # after the end: counts stop at the end date
    (g,) = p.goals
    assert p.days_elapsed == 18 and p.days_left == 0
    assert (g.days_met, g.days_counted, g.streak) == (11, 18, 11)
    assert g.last7_mean_min == 200 and g.on_track
    early = progress(goals, days, today=date(2026, 1, 12))
    assert early.days_left == 8 and early.goals[0].days_counted == 10
    assert early.goals[0].last7_mean_min == pytest.approx((4 * 400 + 3 * 200) / 7) and not early.goals[0].on_track
    empty = progress(goals, [], today=date(2026, 1, 12))
    assert empty.goals[0].days_counted == 0 and not empty.goals[0].on_track


def test_load_goals(tmp_path: Path) -> None:
    path = tmp_path / "goals.toml"
    path.write_text("max_sitting_min = 360\nmax_bout_min = 45\nexercise_min = 10\nend = 2026-03-01\n")
    goals = load_goals(path)
    assert goals == Goals(max_sitting_min=360.0, max_bout_min=45.0, exercise_min=10.0, end=date(2026, 3, 1))
    assert goals.active == ["max_sitting_min", "max_bout_min", "exercise_min"]
    for text, match in (
        ("max_siting_min = 3\n", "unknown goal 'max_siting_min'"),
        ("max_bout_min = '45'\n", "wrong type"),
        ("end = 'soon'\n", "wrong type"),
        ("max_bout_min = -1\n", "must be >= 0"),
        ("start = 2026-03-02\nend = 2026-03-01\n", "before start"),
        ("max_bout_min = \n", "invalid TOML"),
    ):
        path.write_text(text)
        with pytest.raises(ConfigError, match=match):
            load_goals(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_goals(tmp_path / "missing.toml")
