"""Helpers for the alert-rule tests: a wearer's epochs fed through the rules with a real bout tracker."""

from datetime import datetime
from zoneinfo import ZoneInfo

from processing.activity import SITTING
from processing.bouts import BoutTracker
from processing.clock import LocalClock

BERLIN = ZoneInfo("Europe/Berlin")


def run(rules, sequence, *, start=datetime(2026, 5, 4, 9, 0, tzinfo=BERLIN), t0=0.0, exercise_today_s=0.0):
    """sequence: (activity, seconds, tilt_deg); returns the alerts with their stream times."""
    clock = LocalClock(start)
    bouts = BoutTracker()
    sitting_today = 0.0
    t = t0
    fired = []
    for activity, seconds, tilt in sequence:
        for _ in range(seconds):
            bouts.update(t, activity)
            sitting_today += activity == SITTING
            fired += rules.update(
                t=t,
                clock=clock,
                activity=activity,
                tilt_deg=tilt,
                bout_s=bouts.current_s,
                sitting_today_s=sitting_today,
                exercise_today_s=exercise_today_s,
            )
            t += 1.0
    return fired
