"""Scenarios: the workday, the random day, the scenario text and its validation."""

from __future__ import annotations

import numpy as np
import pytest

from processing.errors import ConfigError
from sensor.simulate import (
    ACTIVITIES,
    Segment,
    SensorModel,
    epoch_truth,
    parse_scenario,
    scenario_random,
    scenario_workday,
    simulate,
)


def test_workday_timeline() -> None:
    segments = scenario_workday(seed=1)
    assert sum(s.duration_s for s in segments) == 10800
    starts = np.cumsum([0.0] + [s.duration_s for s in segments])
    long_sit = [k for k, s in enumerate(segments) if s.activity == "sitting" and s.duration_s == 2700]
    assert len(long_sit) == 1 and starts[long_sit[0]] == 360
    anterior = [s for s in segments if s.activity == "standing" and (s.tilt_deg or 0) >= 8]
    assert len(anterior) >= 3 and all(60 <= s.duration_s <= 180 and (s.tilt_deg or 0) <= 18 for s in anterior)
    assert sum(s.activity == "sitting" for s in segments) >= 4
    # golden: the long bout is sitting from the end of its 1.5-2.5 s transition to 3060 s
    _, truth = simulate(segments[:4], SensorModel.ideal(rate_hz=5.0), seed=1)
    epochs = epoch_truth(truth)
    sitting = np.flatnonzero(epochs.activity == "sitting")
    assert epochs.t[sitting[0]] in (360.0, 361.0) and epochs.t[sitting[-1]] in (3060.0, 3061.0)


def test_random_scenario_lasts_exactly_and_looks_like_a_day() -> None:
    segments = scenario_random(24 * 60, seed=3)
    assert sum(s.duration_s for s in segments) == pytest.approx(24 * 3600)
    assert segments == scenario_random(24 * 60, seed=3)
    assert segments != scenario_random(24 * 60, seed=4)
    time = {a: sum(s.duration_s for s in segments if s.activity == a) for a in ACTIVITIES}
    assert all(v > 0 for v in time.values())
    assert max(time, key=time.__getitem__) == "sitting"
    assert any(s.activity == "standing" and (s.tilt_deg or 0) > 8 for s in segments)
    assert all(s.duration_s >= 6 for s in segments)
    assert sum(s.duration_s for s in scenario_random(7.5, seed=1)) == pytest.approx(450)


def test_parse_scenario_and_validation() -> None:
    segs = parse_scenario("stand 10, walk 2min step_hz=1.9, sit 30 tilt=-20, lie 1h side=left")
    assert [s.activity for s in segs] == ["standing", "walking", "sitting", "lying"]
    assert segs[1].duration_s == 120 and segs[1].step_hz == 1.9 and segs[3].side == "left"
    for bad in ("jog 10", "sit ten", "sit 10 tilt=x", "sit 10 colour=red", "sit 10 side=left", ""):
        with pytest.raises(ConfigError):
            parse_scenario(bad)
    with pytest.raises(ValueError):
        Segment("sitting", 0)
    with pytest.raises(ValueError):
        Segment("sitting", 10, transition_s=9.8)
    with pytest.raises(ValueError):
        SensorModel(rate_hz=0.5)
    with pytest.raises(ValueError):
        SensorModel(mounting_deg="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SensorModel(drop_rate=0.7)
    with pytest.raises(TypeError):
        SensorModel(acc_nosie=0.1)  # type: ignore[call-arg]
