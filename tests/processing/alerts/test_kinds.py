"""Each alert kind: when it fires, and when it does not."""

from datetime import date, datetime

from processing.activity import SITTING, STANDING, WALKING
from processing.alerts import AlertEpoch, AlertParams, AlertRules, AnteriorTilt, BatteryLow
from processing.clock import LocalClock
from tests.processing.alerts.support import BERLIN, run


def test_prolonged_sitting_fires_at_30_min_then_every_10_min_and_clears_after_a_minute_up():
    alerts = run(AlertRules(), [(SITTING, 55 * 60, -20.0), (WALKING, 60, 2.0), (SITTING, 29 * 60, -20.0)])
    assert [a.event_type for a in alerts] == ["prolonged_sitting"] * 3
    assert [a.t for a in alerts] == [1799.0, 2399.0, 2999.0]
    assert alerts[0].id == "me-prolonged_sitting-20260504T092959"
    assert alerts[0].time.isoformat() == "2026-05-04T09:29:59+02:00"
    assert alerts[0].fields == {"sitting_bout_s": 1800}


def test_a_brief_stand_does_not_reset_the_sitting_reminder():
    alerts = run(AlertRules(), [(SITTING, 20 * 60, -20.0), (STANDING, 30, 0.0), (SITTING, 11 * 60, -20.0)])
    assert len(alerts) == 1 and alerts[0].event_type == "prolonged_sitting"


def test_anterior_tilt_needs_a_minute_and_tolerates_brief_corrections():
    seq = [(STANDING, 40, 14.0), (STANDING, 3, 4.0), (STANDING, 30, 14.0)]
    alerts = run(AlertRules(), seq)
    assert [a.event_type for a in alerts] == ["anterior_tilt"]
    assert alerts[0].t == 59.0
    # A correction longer than the tolerance resets the count.
    assert run(AlertRules(), [(STANDING, 40, 14.0), (STANDING, 10, 2.0), (STANDING, 40, 14.0)]) == []
    # Tilt below the threshold or while sitting never fires.
    assert run(AlertRules(), [(STANDING, 300, 9.5), (SITTING, 300, 15.0)]) == []


def test_daily_budget_once_per_day():
    params = AlertParams(daily_sitting_goal_s=3600.0, prolonged_sitting_s=10 * 3600)
    alerts = run(AlertRules(params), [(SITTING, 2 * 3600, -20.0)])
    assert [(a.event_type, a.t) for a in alerts] == [("daily_sitting_budget", 3599.0)]
    assert alerts[0].id == "me-daily_sitting_budget-2026-05-04"


def test_exercise_reminder_at_local_time_only_without_enough_exercise():
    start = datetime(2026, 5, 4, 17, 0, tzinfo=BERLIN)
    alerts = run(AlertRules(), [(STANDING, 7200, 0.0)], start=start)
    assert [(a.event_type, a.time.strftime("%H:%M:%S")) for a in alerts] == [("exercise_reminder", "18:00:00")]
    assert run(AlertRules(), [(STANDING, 7200, 0.0)], start=start, exercise_today_s=400.0) == []


def test_sensor_notices():
    clock = LocalClock(datetime(2026, 5, 4, 9, 0, tzinfo=BERLIN))
    rules = AlertRules()
    assert rules.link(t=0.0, clock=clock, connected=False, device="WT901") == []
    assert rules.tick(t=30.0, clock=clock) == []
    [lost] = rules.tick(t=61.0, clock=clock, device="WT901")
    assert lost.event_type == "sensor_disconnected" and lost.fields["since_s"] == 61
    assert rules.tick(t=200.0, clock=clock) == []
    [low] = rules.battery(t=300.0, clock=clock, battery_pct=12.0)
    assert low.event_type == "battery_low" and "12 %" in low.message
    assert rules.battery(t=400.0, clock=clock, battery_pct=11.0) == []
    [moved] = rules.recalibrate(t=500.0, clock=clock, reason="up vector jumped by 40°")
    assert moved.event_type == "recalibrate"


def _epoch(t: float, activity: int, tilt_deg: float) -> AlertEpoch:
    return AlertEpoch(t, date(2026, 5, 4), activity, tilt_deg, bout_s=0.0, sitting_today_s=0.0, exercise_today_s=0.0)


def test_a_kind_works_alone_and_owns_its_state():
    tilt = AnteriorTilt(threshold_deg=10.0, hold_s=5.0, tolerance_s=2.0)
    notices = [n for t in range(8) for n in tilt.update(_epoch(float(t), STANDING, 12.0))]
    assert [(n.kind, n.t, n.fields) for n in notices] == [("anterior_tilt", 4.0, {"tilt_deg": 12.0, "duration_s": 5})]
    assert tilt.state() == {"since": 0.0, "last": 7.0, "fired": True}
    assert tilt.update(_epoch(8.0, SITTING, 12.0)) == [] and tilt.state()["fired"] is False  # sitting re-arms it

    battery = BatteryLow(low_pct=15.0)
    assert [n.kind for n in battery.battery(t=0.0, battery_pct=14.0)] == ["battery_low"]
    assert battery.battery(t=1.0, battery_pct=18.0) == []  # not charged enough to re-arm
    assert battery.battery(t=2.0, battery_pct=14.0) == []
    assert battery.battery(t=3.0, battery_pct=25.0) == [] and battery.memory.fired is False
    battery.reset()
    assert battery.state() == {"fired": False}
