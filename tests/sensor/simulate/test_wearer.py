"""The sample stream: reproducibility, chunking, timing defects."""

from __future__ import annotations

import numpy as np
import pytest

from processing.samples import Samples
from sensor.simulate import (
    Segment,
    SensorModel,
    Truth,
    scenario_random,
    simulate,
    simulate_chunks,
)
from tests.sensor.simulate.support import TOUR


def test_same_seed_same_output_and_other_seed_differs() -> None:
    sensor = SensorModel(jitter_s=0.002, drop_rate=0.02, mounting_deg="random")
    a, ta = simulate(TOUR, sensor, seed=12)
    b, tb = simulate(TOUR, sensor, seed=12)
    c, _ = simulate(TOUR, sensor, seed=13)
    np.testing.assert_array_equal(a.acc, b.acc)
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(ta.tilt_deg, tb.tilt_deg)
    assert len(a) != len(c) or not np.array_equal(a.acc, c.acc)


def test_chunking_does_not_change_the_output() -> None:
    segments = scenario_random(4, seed=5)  # 240 s at 100 Hz: several internal blocks
    sensor = SensorModel(jitter_s=0.003, drop_rate=0.02, mounting_deg="random", acc_scale=0.01)
    whole, whole_truth = simulate(segments, sensor, seed=5)
    for chunk_s in (0.37, 13.0, 81.92, 1000.0):
        parts = list(simulate_chunks(segments, sensor, seed=5, chunk_s=chunk_s))
        samples = Samples.concat([p[0] for p in parts])
        truth = Truth.concat([p[1] for p in parts])
        for name in ("t", "acc", "gyro"):
            np.testing.assert_array_equal(getattr(samples, name), getattr(whole, name))
        for name in ("t", "tilt_deg", "obliquity_deg", "heading_deg", "activity", "transition"):
            np.testing.assert_array_equal(getattr(truth, name), getattr(whole_truth, name))
        assert all(len(s) <= round(chunk_s * 100) for s, _ in parts)


def test_jitter_and_drops_give_increasing_times_with_gaps() -> None:
    rate = 100.0
    clean, _ = simulate([Segment("walking", 120)], SensorModel(jitter_s=0.002), seed=4)
    lossy, truth = simulate([Segment("walking", 120)], SensorModel(jitter_s=0.002, drop_rate=0.05), seed=4)
    for s in (clean, lossy):
        assert np.all(np.diff(s.t) > 0)
        assert s.t[0] == 0.0
    offset = clean.t - np.round(clean.t * rate) / rate
    assert offset[1:].std() == pytest.approx(0.002, rel=0.1)
    assert 0.03 < 1 - len(lossy) / len(clean) < 0.07
    gaps = np.diff(lossy.t) > 3.0 / rate
    assert gaps.sum() > 10
    np.testing.assert_array_equal(truth.t, lossy.t)
    # dropping samples removes them and changes nothing else
    kept = np.isin(clean.t, lossy.t)
    assert kept.sum() == len(lossy)
    np.testing.assert_array_equal(clean.acc[kept], lossy.acc)
    np.testing.assert_array_equal(clean.gyro[kept], lossy.gyro)
