"""The gate every alert passes: cool-downs, quiet hours; and the parameters' checks."""

from datetime import datetime

import pytest

from processing.activity import SITTING, STANDING
from processing.alerts import AlertParams, AlertRules
from tests.processing.alerts.support import BERLIN, run


def test_anterior_tilt_cool_down():
    seq = [(STANDING, 70, 14.0), (STANDING, 10, 0.0), (STANDING, 70, 14.0), (STANDING, 600, 0.0), (STANDING, 70, 14)]
    alerts = run(AlertRules(), seq)
    assert [a.t for a in alerts] == [59.0, 809.0]


def test_quiet_hours_suppress_alerts():
    rules = AlertRules(AlertParams(quiet_hours="22:00-07:00"))
    start = datetime(2026, 5, 4, 22, 30, tzinfo=BERLIN)
    assert run(rules, [(SITTING, 3000, -20.0)], start=start) == []
    assert rules.suppressed == 3  # at 30, 40 and 50 min; the 18:00 exercise reminder was before the start


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"prolonged_sitting_s": 0}, "prolonged_sitting_s must be positive"),
        ({"quiet_hours": "22-7"}, "quiet_hours"),
        ({"exercise_reminder_at": "6pm"}, "exercise_reminder_at '6pm' is not HH:MM"),
        ({"cooldown_s": {"slouching": 5.0}}, "unknown alert kind 'slouching'"),
    ],
)
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AlertParams(**kwargs)
