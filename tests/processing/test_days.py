"""Day totals follow the wearer's local calendar: midnight rollover and DST."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np

from processing.activity import ACTIVITIES
from processing.calibration import Calibration
from processing.features import EpochFeatures
from processing.pipeline import PipelineParams, PostureTracker

BERLIN = ZoneInfo("Europe/Berlin")


def still_epochs(t0: float, n: int, tilt_deg: float) -> EpochFeatures:
    """n complete still epochs with the pelvis at a fixed tilt (identity mounting)."""
    a = np.radians(tilt_deg)
    up = np.tile([-np.sin(a), 0.0, np.cos(a)], (n, 1))
    k = np.arange(n, dtype=np.int64) + int(t0)
    zeros3 = np.zeros((n, 3))
    return EpochFeatures(
        k=k,
        t=k.astype(float),
        count=np.full(n, 100, np.int64),
        coverage=np.ones(n),
        up=up,
        acc_mean=up * 9.81,
        acc_cov=np.zeros((n, 3, 3)),
        gyro_mean=zeros3,
        gyro_cov=np.zeros((n, 3, 3)),
        acc_norm_std=np.full(n, 0.02),
    )


def tracker(start: datetime) -> PostureTracker:
    cal = Calibration(np.eye(3), "guided", "assumed")
    return PostureTracker(PipelineParams(rate_hz=100.0, start=start, tz=BERLIN, calibration=cal))


def test_sitting_across_midnight_is_split_between_the_two_days():
    tr = tracker(datetime(2026, 3, 10, 23, 30, tzinfo=BERLIN))
    out = tr.update(still_epochs(0, 3600, -20.0))
    assert set(ACTIVITIES[a] for a in out.epochs.activity) == {"sitting"}
    assert tr.days[date(2026, 3, 10)].seconds["sitting"] == 1800
    assert tr.days[date(2026, 3, 11)].seconds["sitting"] == 1800
    # The running total restarts at local midnight.
    assert out.epochs.sitting_today_s[1799] == 1800 and out.epochs.sitting_today_s[1800] == 1


def test_the_short_dst_day_has_23_hours():
    # Europe/Berlin springs forward on 2026-03-29: that local day has 23 h.
    tr = tracker(datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN))
    tr.update(still_epochs(0, 24 * 3600, 0.0))
    assert sum(tr.days[date(2026, 3, 29)].seconds.values()) == 23 * 3600
    assert sum(tr.days[date(2026, 3, 30)].seconds.values()) == 3600


def test_the_long_dst_day_has_25_hours():
    tr = tracker(datetime(2026, 10, 25, 0, 0, tzinfo=BERLIN))
    tr.update(still_epochs(0, 25 * 3600, 0.0))
    assert sum(tr.days[date(2026, 10, 25)].seconds.values()) == 25 * 3600
    assert date(2026, 10, 26) not in tr.days
