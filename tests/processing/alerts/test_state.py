"""The rule state across a restart: every field saved, the flat state of earlier versions migrated."""

import dataclasses
import json
from datetime import datetime

import pytest

from processing import alerts
from processing.activity import SITTING, STANDING
from processing.alerts import AlertParams, AlertRules, migrate_state, rule_state
from processing.clock import LocalClock
from tests.processing.alerts.support import BERLIN, run


def test_rule_state_survives_a_restart_without_duplicates():
    params = AlertParams(daily_sitting_goal_s=1800.0, prolonged_sitting_s=10 * 3600)
    rules = AlertRules(params)
    assert len(run(rules, [(SITTING, 1900, -20.0)])) == 1
    saved = rules.state()
    again = AlertRules(params)
    again.restore(saved)
    # The same day continues after a restart: the budget alert is not sent again.
    assert run(again, [(SITTING, 1900, -20.0)], t0=1900.0) == []


def test_whole_rule_state_round_trips_across_a_restart_with_another_stream_origin():
    # Every field of the rule state, with stream times, dates, a cool-down map and an infinity.
    clock = LocalClock(datetime(2026, 5, 4, 9, 0, tzinfo=BERLIN))
    rules = AlertRules(AlertParams(anterior_tilt_s=30.0, quiet_hours="22:00-07:00"))
    for i in range(40):
        rules.update(t=float(i), clock=clock, activity=STANDING, tilt_deg=15.0, bout_s=0.0, sitting_today_s=0.0)
    rules.link(t=50.0, clock=clock, connected=False)
    rules.tick(t=200.0, clock=clock)
    state = rules.state(origin_s=1_000_000.0)
    assert state["gate"]["last_fired"] == {"anterior_tilt": 1_000_029.0, "sensor_disconnected": 1_000_200.0}
    assert state["sensor_disconnected"]["since"] == 1_000_050.0 and state["anterior_tilt"]["fired"] is True
    # The restarted stream's t = 0 is 500 s later: its stream times are 500 s smaller.
    again = AlertRules(rules.params)
    again.restore(json.loads(json.dumps(state)), origin_s=1_000_500.0)
    assert again.state(origin_s=1_000_500.0) == state
    assert again.gate.memory.last_fired == {"anterior_tilt": -471.0, "sensor_disconnected": -300.0}
    # The held tilt already alerted (and its 600 s cool-down holds): no second alert after the restart.
    for i in range(100, 140):
        assert (
            again.update(t=float(i), clock=clock, activity=STANDING, tilt_deg=15.0, bout_s=0.0, sitting_today_s=0.0)
            == []
        )


def test_every_rule_field_is_part_of_the_saved_state():
    # Every part's state holds every field of its memory, so that no restart can silently lose one.
    rules = AlertRules()
    state = rules.state()
    assert set(state) == {"version"} | set(rules.parts)
    for name, part in rules.parts.items():
        assert set(state[name]) == {f.name for f in dataclasses.fields(part.memory)}


def test_a_new_state_field_that_does_not_say_how_it_is_saved_is_refused():
    # Adding state to a kind without saying how it is saved fails when the class is defined, not after a restart.
    with pytest.raises(TypeError, match=r"AnteriorTiltMemory\.peak_deg: a rule-state field must say how it is saved"):

        @rule_state
        @dataclasses.dataclass
        class AnteriorTiltMemory(alerts.AnteriorTiltMemory):
            peak_deg: float = 0.0

    @rule_state
    @dataclasses.dataclass
    class Saved(alerts.AnteriorTiltMemory):
        peak_t: float | None = dataclasses.field(default=None, metadata=alerts.STREAM_TIME)

    part = alerts.AnteriorTilt(threshold_deg=10.0, hold_s=60.0, tolerance_s=5.0)
    part.memory = Saved(since=3.0, peak_t=7.0)
    assert part.state(origin_s=100.0) == {"since": 103.0, "last": None, "fired": False, "peak_t": 107.0}


#: The flat state an earlier version saved (written by that version for the run in the test below).


FLAT_STATE_V1 = {
    "suppressed": 1,
    "next_sitting_alert_s": 750.0,
    "tilt_since": None,
    "tilt_last": 1000039.0,
    "tilt_fired": False,
    "budget_day": "2026-05-04",
    "exercise_day": "2026-05-04",
    "exercise_due_t": 1000120.0,
    "disconnected_since": 1000200.0,
    "disconnect_fired": True,
    "battery_fired": True,
    "last_fired": {
        "anterior_tilt": 1000029.0,
        "daily_sitting_budget": 1000099.0,
        "exercise_reminder": 1000120.0,
        "sensor_disconnected": 1000300.0,
        "battery_low": 1000310.0,
    },
    "last_t": 1000199.0,
}


def test_the_flat_state_of_an_earlier_version_restores_the_same_rules():
    clock = LocalClock(datetime(2026, 5, 4, 17, 58, tzinfo=BERLIN))
    params = AlertParams(
        anterior_tilt_s=30.0, daily_sitting_goal_s=60.0, prolonged_sitting_s=150.0, quiet_hours="18:01-18:02"
    )
    rules = AlertRules(params)
    fired = []
    for i in range(40):
        fired += rules.update(
            t=float(i), clock=clock, activity=STANDING, tilt_deg=15.0, bout_s=0.0, sitting_today_s=0.0
        )
    for i in range(40, 200):
        bout = float(i - 39)
        fired += rules.update(
            t=float(i), clock=clock, activity=SITTING, tilt_deg=-20.0, bout_s=bout, sitting_today_s=bout
        )
    fired += rules.link(t=200.0, clock=clock, connected=False)
    fired += rules.tick(t=300.0, clock=clock)
    fired += rules.battery(t=310.0, clock=clock, battery_pct=10.0)
    # The same alerts as the earlier version sent for this run (its quiet hours held back the sitting reminder).
    assert [(a.event_type, a.t) for a in fired] == [
        ("anterior_tilt", 29.0),
        ("daily_sitting_budget", 99.0),
        ("exercise_reminder", 120.0),
        ("sensor_disconnected", 300.0),
        ("battery_low", 310.0),
    ]
    assert rules.suppressed == 1
    # The earlier version's saved state, restored, is the state this version reached on the same run.
    again = AlertRules(params)
    again.restore(FLAT_STATE_V1, origin_s=1_000_000.0)
    assert again.state(origin_s=1_000_000.0) == rules.state(origin_s=1_000_000.0)
    assert migrate_state(FLAT_STATE_V1)["anterior_tilt"] == {"since": None, "last": 1000039.0, "fired": False}
    with pytest.raises(ValueError, match="version 3 is newer"):
        again.restore({"version": 3})


def test_reset_forgets_every_part():
    rules = AlertRules()
    run(rules, [(SITTING, 1900, -20.0)])
    assert rules.state() != AlertRules().state()
    rules.reset()
    assert rules.state() == AlertRules().state()
