"""Continuing a day from the history store (``restore_day``): totals, the sitting bout, the alert rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from hipsense.runtime import restore_day, rules_key
from hipsense.store import HistoryStore
from processing.activity import ACTIVITIES, SITTING, STANDING
from processing.clock import LocalClock
from processing.pipeline import Epochs, Pipeline, PipelineParams

BERLIN = ZoneInfo("Europe/Berlin")
NINE = datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN)


def _store_morning(store: HistoryStore) -> None:
    """09:00-09:10: 100 s standing with the pelvis tipped forward 12°, then 500 s sitting."""
    n = 600
    activity = np.where(np.arange(n) < 100, STANDING, SITTING).astype(np.int8)
    tilt = np.where(activity == STANDING, 12.0, -20.0)
    epochs = Epochs(np.arange(n, dtype=float), activity, tilt, np.zeros(n), np.ones(n, bool), np.zeros(n), np.zeros(n))
    store.add_run(epochs=epochs, clock=LocalClock(NINE), anterior_tilt_deg=10.0)
    store.add_exercise(NINE.date(), 300.0, what="bridges")


def _pipeline(start: datetime) -> Pipeline:
    return Pipeline(PipelineParams(rate_hz=50.0, wearer="anna", start=start, tz=BERLIN))


def test_a_restart_continues_the_days_totals_and_the_sitting_bout(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        _store_morning(store)
        pipeline = _pipeline(NINE + timedelta(minutes=11))  # restarted a minute after the last epoch
        restored = restore_day(pipeline, store, wearer="anna", anterior_tilt_deg=10.0)
    totals = pipeline.tracker.days[NINE.date()]
    assert totals.seconds["sitting"] == restored.sitting_s == 500.0
    assert totals.seconds["standing"] == 100.0
    assert totals.anterior_tilt_standing_s == 100.0 and totals.exercise_s == 300.0
    # The bout that began at 09:01:40 goes on (the minute without data neither extends nor breaks it).
    assert restored.bout_s == pipeline.tracker.bouts.current_s == 500.0
    assert "8 min of sitting so far" in restored.describe()
    assert sum(pipeline.tracker.days[NINE.date()].seconds[a] for a in ACTIVITIES) == 600.0


def test_a_replay_of_a_stored_part_of_the_day_counts_only_what_came_before(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        _store_morning(store)
        # Replaying the recording again from 09:05: only 09:00-09:05 is "before", nothing counts twice.
        pipeline = _pipeline(NINE + timedelta(minutes=5))
        restored = restore_day(pipeline, store, wearer="anna", anterior_tilt_deg=10.0)
    assert restored.sitting_s == 200.0 and pipeline.tracker.days[NINE.date()].seconds["standing"] == 100.0


def test_rule_state_is_restored_only_when_saved_before_the_start(tmp_path: Path) -> None:
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        _store_morning(store)
        saved = {"next_sitting_alert_s": 2400.0, "budget_day": "2026-03-02"}
        store.save_state(rules_key("anna"), saved, ts=(NINE + timedelta(minutes=10)).timestamp())
        later = _pipeline(NINE + timedelta(minutes=11))
        assert restore_day(later, store, wearer="anna", anterior_tilt_deg=10.0).rules_as_of is not None
        # The flat state of an earlier version reads into the parts of the current one.
        assert later.alert_state()["prolonged_sitting"]["next_alert_s"] == 2400.0
        assert later.alert_state()["daily_sitting_budget"]["day"] == "2026-03-02"
        earlier = _pipeline(NINE + timedelta(minutes=5))  # a replay of an earlier part: the state is newer
        assert restore_day(earlier, store, wearer="anna", anterior_tilt_deg=10.0).rules_as_of is None
        assert earlier.alert_state()["prolonged_sitting"]["next_alert_s"] is None
