"""The check-up's measures (processing/assess.py) on a simulated check-up with its truth, without the command."""

from __future__ import annotations

import numpy as np
import pytest

from processing.assess import PHASES, measure, stand_up_s, timeline
from processing.calibration import Calibration, CalibrationError
from processing.features import EpochFeatures, FeatureExtractor
from processing.gravity import make_up_estimator
from sensor.simulate import SensorModel, parse_scenario, simulate

CHECKUP = "stand 20 tilt=3, stand 15 tilt=12, stand 15 tilt=-10, sit 30 tilt=-20, stand 20 tilt=3"


def _features(spec: str, *, seed: int, mounting: str | tuple[float, float, float] = "random") -> EpochFeatures:
    samples, _ = simulate(parse_scenario(spec), SensorModel.ideal(rate_hz=50, mounting_deg=mounting), seed=seed)
    fx = FeatureExtractor(rate_hz=50.0, up_estimator=make_up_estimator(50.0))
    return EpochFeatures.concat([fx.update(samples), fx.finish()])


def test_the_timeline_follows_the_phases() -> None:
    windows = timeline(10.0)
    assert list(windows) == [name for name, _, _ in PHASES]
    assert windows["neutral"] == (10.0, 30.0) and windows["stand"] == (90.0, 110.0)


def test_measures_from_the_checkups_own_neutral_whatever_the_mounting() -> None:
    m = measure(_features(CHECKUP, seed=7), timeline())
    # tilts relative to the check-up's neutral standing (3°)
    assert m.anterior_max_deg == pytest.approx(9.0, abs=1.5)
    assert m.posterior_max_deg == pytest.approx(-13.0, abs=1.5)
    assert m.range_deg == pytest.approx(22.0, abs=2.5)
    assert m.sitting_deg is not None and m.sitting_deg == pytest.approx(-23.0, abs=3.0)
    assert m.sit_to_stand_s is not None and 0.0 <= m.sit_to_stand_s <= 4.0
    assert m.neutral_deg is None


def test_neutral_from_a_stored_calibration() -> None:
    stored = Calibration(np.eye(3), "guided", "sitting")  # the sensor aligned with the pelvis
    m = measure(_features(CHECKUP, seed=8, mounting=(0.0, 0.0, 0.0)), timeline(), stored=stored)
    assert m.neutral_deg == pytest.approx(3.0, abs=1.0)


def test_an_empty_phase_is_a_calibration_error() -> None:
    windows = timeline() | {"anterior": (21.0, 22.0)}
    with pytest.raises(CalibrationError, match=r"no usable epochs in the anterior phase \(21:22 s\)"):
        measure(_features(CHECKUP, seed=7), windows)


def test_standing_up_is_the_first_steady_run_near_neutral() -> None:
    t = np.arange(12.0)
    tilt = np.array([-20.0, -20.0, -12.0, -4.0, 9.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    usable = np.ones(12, bool)
    assert stand_up_s(t, tilt, usable, (1.0, 12.0)) == 4.0  # the run at t = 3 is broken by 9°
    usable[6] = False
    assert stand_up_s(t, tilt, usable, (1.0, 12.0)) == 6.0
    assert stand_up_s(t, np.full(12, -20.0), usable, (1.0, 12.0)) is None
