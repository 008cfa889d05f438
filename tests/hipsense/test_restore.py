"""Continuing a day from the history store (``restore_day``): totals, the sitting bout, the alert rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from hipsense.runtime import restore_day, rules_key
from hipsense.sinks import StoreSink, unqueued_key
from hipsense.store import HistoryStore
from processing.activity import ACTIVITIES, SITTING, STANDING
from processing.alerts import Alert
from processing.clock import LocalClock
from processing.pipeline import Epochs, Pipeline, PipelineOutput, PipelineParams

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


def test_an_alert_is_stored_with_the_rule_state_that_fired_it_before_it_is_queued(tmp_path: Path) -> None:
    """The store sink writes a batch that fires an alert at once, with the rules' state after it, in one
    transaction, before the MQTT sink (next in the order) queues it; a run killed in between finds the alert
    listed as possibly unqueued (to put in the outbox under its own id), and the next write clears the list."""
    clock = LocalClock(NINE)
    fired: list[Alert] = []
    alert = Alert(
        "anna-prolonged_sitting-20260302T090020",
        "prolonged_sitting",
        20.0,
        NINE + timedelta(seconds=20),
        "You have been sitting for 20 s: stand up and move for a minute or two.",
        {"sitting_bout_s": 20},
    )

    def batch(t0: int, alerts: list[Alert]) -> PipelineOutput:
        n = 10
        t = np.arange(t0, t0 + n, dtype=float)
        sitting = np.full(n, SITTING, np.int8)
        return PipelineOutput(
            Epochs(t, sitting, np.full(n, -20.0), np.zeros(n), np.ones(n, bool), t * 0, t * 0), alerts, []
        )

    with HistoryStore(tmp_path / "h.sqlite3") as store:
        sink = StoreSink(
            store,
            clock,
            anterior_tilt_deg=10.0,
            flush_s=3600.0,  # only alerts (and close) write
            alert_state=lambda _origin: {"fired": [a.id for a in fired]},
            rules_key=rules_key("anna"),
            outbox_key=unqueued_key("anna"),
        )
        sink.handle(batch(0, []), [])
        assert store.load_state(rules_key("anna")) is None and sink.stored_through_t < 0
        fired.append(alert)
        sink.handle(batch(10, [alert]), [])
        # Killed here (the MQTT sink has not seen the batch): the store holds the alert and the state that fired it.
        assert store.load_state(rules_key("anna")) == ({"fired": [alert.id]}, NINE.timestamp() + 20.0)
        assert [a[1] for a in store.day_alerts(NINE.date())] == ["prolonged_sitting"]
        assert sink.stored_through_t == 20.0
        restarted = StoreSink(store, clock, anterior_tilt_deg=10.0, outbox_key=unqueued_key("anna"))
        assert restarted.unqueued == [alert.to_payload()]
        # Not killed: the next batch comes after the MQTT sink has put the alert in its outbox.
        sink.handle(batch(20, []), [])
        assert store.load_state(unqueued_key("anna")) == ({"alerts": []}, NINE.timestamp() + 20.0)
        assert StoreSink(store, clock, anterior_tilt_deg=10.0, outbox_key=unqueued_key("anna")).unqueued == []
