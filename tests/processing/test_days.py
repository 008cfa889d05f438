"""Day totals follow the wearer's local calendar (midnight, DST); the day statistics of processing.days."""

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from processing.activity import ACTIVITIES, LYING, SITTING, STANDING, UNKNOWN, WALKING
from processing.calibration import Calibration
from processing.clock import LocalClock
from processing.days import DayBuilder, DayParams, EpochDays, local_days, summarize_day
from processing.features import EpochFeatures
from processing.pipeline import Pipeline, PipelineParams, PostureTracker
from sensor.simulate import SensorModel, parse_scenario, simulate

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


# --- processing.days: the day statistics every report shares ---------------------------------------------------

I8 = np.int8


def part(start: datetime, codes: list[tuple[int, int]], tilt: float = 0.0, tz=None) -> EpochDays:
    """Epochs from ``start``: runs of (activity, seconds)."""
    act = np.concatenate([np.full(n, a, I8) for a, n in codes])
    t = np.arange(act.shape[0], dtype=float)
    return EpochDays.from_stream(LocalClock(start, tz), t, act, np.full(act.shape[0], tilt))


def build(parts: list[EpochDays], params: DayParams | None = None):
    b = DayBuilder(params or DayParams(min_wear_h=0.0))
    out = []
    for p in parts:
        out += b.update(p)
    return out + b.finish(), b


def split(p: EpochDays, cuts: list[int]) -> list[EpochDays]:
    edges = [0, *cuts, p.ts.shape[0]]
    return [
        EpochDays(p.ts[a:b], p.ordinal[a:b], p.activity[a:b], p.tilt_deg[a:b], p.day_length_s, (), p.day_start_ts)
        for a, b in itertools.pairwise(edges)
    ]


def test_breaks_count_sitting_to_upright_skipping_unknown_but_not_lying():
    p = part(
        datetime(2026, 1, 5, 9, tzinfo=UTC),
        [(SITTING, 300), (UNKNOWN, 20), (STANDING, 30), (SITTING, 200), (LYING, 100), (WALKING, 90), (SITTING, 50)],
    )
    (day,), _ = build([p])
    assert day.breaks == 1  # the sit -> lie -> walk is not a break in sitting
    assert day.sitting_s == 550 and day.breaks_per_sitting_h == pytest.approx(1 / (550 / 3600))
    # One bout from the first sitting epoch to the last before the 90 s walk (the 30 s stand is a short break,
    # unknown and lying neither extend nor end it); the 50 s at the end is too short to count.
    assert day.bouts == 1 and day.longest_bout_s == 300 + 20 + 30 + 200


def test_a_bout_across_midnight_counts_on_the_day_it_starts_and_keeps_that_day_open():
    p = part(datetime(2026, 1, 5, 23, 0, tzinfo=UTC), [(SITTING, 2 * 3600), (WALKING, 120)])
    b = DayBuilder(DayParams(min_wear_h=0.0))
    first, second = split(p, [3700])
    assert b.update(first) == []  # 5 Jan has ended, but its bout has not
    out = b.update(second) + b.finish()
    assert [d.day for d in out] == [date(2026, 1, 5), date(2026, 1, 6)]
    assert out[0].bouts == 1 and out[0].long_bouts == 1 and out[0].longest_bout_s == 7200
    assert out[1].bouts == 0 and out[0].sitting_s == 3600 and out[1].sitting_s == 3600


@pytest.mark.parametrize("cuts", [[1], [1799, 1800, 1801], list(range(100, 5000, 337))])
def test_the_days_do_not_depend_on_how_the_epochs_are_cut(cuts):
    p = part(
        datetime(2026, 1, 5, 23, 0, tzinfo=UTC),
        [(STANDING, 600), (SITTING, 2500), (WALKING, 30), (SITTING, 900), (STANDING, 700), (LYING, 600)],
        tilt=11.0,
    )
    whole, _ = build([p])
    pieces, _ = build(split(p, cuts))
    assert whole == pieces
    assert whole[0].anterior_tilt_standing_s == 600 and whole[1].anterior_tilt_standing_s == 700


def test_recordings_that_continue_each_other_join_their_bout_and_a_gap_closes_it():
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    a = part(t0, [(WALKING, 60), (SITTING, 1200)])
    joined = part(t0 + timedelta(seconds=1260 + 30), [(SITTING, 1200), (WALKING, 120)])  # 30 s later
    apart = part(t0 + timedelta(seconds=1260 + 600), [(SITTING, 1200), (WALKING, 120)])  # 10 min later
    (day,), _ = build([a, joined])
    assert day.bouts == 1 and day.long_bouts == 1 and day.longest_bout_s == 1200 + 30 + 1200
    (day,), _ = build([a, apart])
    assert day.bouts == 2 and day.long_bouts == 0 and day.longest_bout_s == 1200
    assert day.breaks == 1  # the last known activity is forgotten across a gap


def test_overlapping_recordings_are_counted_once():
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    a = part(t0, [(STANDING, 600)])
    b = part(t0 + timedelta(seconds=500), [(STANDING, 300)])
    (day,), builder = build([a, b])
    assert day.recorded_s == 800 and builder.dropped_s == 100


def test_wear_nonwear_valid_and_medians():
    rng = np.random.default_rng(1)
    act = np.repeat(np.array([SITTING, STANDING, UNKNOWN], I8), [4 * 3600, 6 * 3600, 3600])
    tilt = np.where(act == SITTING, -20.0, 3.0) + rng.normal(0, 0.1, act.shape[0])
    tilt[act == UNKNOWN] = np.nan
    day = summarize_day(date(2026, 1, 5), length_s=86400, activity=act, tilt_deg=tilt)
    assert day.wear_s == 10 * 3600 and day.recorded_s == 11 * 3600 and day.nonwear_s == 14 * 3600
    assert day.valid  # exactly the default 10 h
    assert not summarize_day(date(2026, 1, 5), length_s=86400, activity=act[1:], tilt_deg=tilt[1:]).valid
    assert day.sitting_tilt_median_deg == pytest.approx(-20.0, abs=0.01)
    assert day.standing_tilt_median_deg == pytest.approx(3.0, abs=0.01)
    empty = summarize_day(date(2026, 1, 5), length_s=86400, activity=act[:0], tilt_deg=tilt[:0])
    assert empty.sitting_tilt_median_deg is None and empty.breaks_per_sitting_h is None and not empty.valid


def test_local_days_follow_dst():
    clock = LocalClock(datetime(2026, 3, 28, 12, 0, tzinfo=BERLIN))
    t = np.arange(0.0, 3 * 86400.0, 600.0)
    ordinals, bounds = local_days(clock, t)
    lengths = {date.fromordinal(d): length for d, (_, length) in bounds.items()}
    assert lengths[date(2026, 3, 29)] == 23 * 3600 and lengths[date(2026, 3, 28)] == 24 * 3600
    for ti, o in zip(t.tolist(), ordinals.tolist(), strict=True):
        assert clock.day(ti).toordinal() == o


def test_day_params_are_validated():
    with pytest.raises(ValueError, match="min_wear_h"):
        DayParams(min_wear_h=-1)
    with pytest.raises(ValueError, match="long_bout_s"):
        DayParams(long_bout_s=10)


def test_the_tracker_and_the_day_builder_agree_on_a_simulated_wearer():
    """The running totals of live/analyze (DayTotals) equal the day statistics of batch and the summary."""
    sensor = SensorModel(rate_hz=50.0, mounting_deg=(0.0, 0.0, 0.0))
    scenario = parse_scenario("stand 30, walk 60, sit 900, stand 120 tilt=13, walk 60, sit 200, lie 300, stand 60")
    samples, truth = simulate(scenario, sensor, seed=7)
    start = datetime(2026, 1, 5, 23, 40, tzinfo=BERLIN)  # crosses midnight
    cal = Calibration(truth.mounting, "guided", "assumed")
    pipe = Pipeline(PipelineParams(rate_hz=50.0, start=start, tz=BERLIN, calibration=cal))
    out = pipe.update(samples)
    fin = pipe.finish()
    epochs_t = np.concatenate([out.epochs.t, fin.epochs.t])
    act = np.concatenate([out.epochs.activity, fin.epochs.activity])
    tilt = np.concatenate([out.epochs.tilt_deg, fin.epochs.tilt_deg])
    bouts = out.bouts + fin.bouts
    days, _ = build([EpochDays.from_stream(pipe.tracker.clock, epochs_t, act, tilt)])
    tracker_days = pipe.tracker.days
    assert [d.day for d in days] == sorted(tracker_days) == [date(2026, 1, 5), date(2026, 1, 6)]
    for d in days:
        totals = tracker_days[d.day]
        assert {n: getattr(d, f"{n}_s") for n in ACTIVITIES} == totals.seconds
        assert d.anterior_tilt_standing_s == totals.anterior_tilt_standing_s
    assert sum(d.anterior_tilt_standing_s for d in days) > 60
    # The pipeline's own bouts are the builder's (counted on the day each starts).
    assert sum(d.bouts for d in days) == len(bouts) == 2
    assert max(d.longest_bout_s for d in days) == max(b.duration_s for b in bouts)
