"""The whole streaming pipeline: chunk invariance, gaps, and agreement with a simulated wearer."""

from __future__ import annotations

import numpy as np
import pytest

from processing.activity import ACTIVITIES
from processing.calibration import Calibration
from processing.pipeline import Epochs, Pipeline, PipelineParams
from processing.samples import Samples
from sensor.sim_scenarios import parse_scenario
from sensor.simulate import SensorModel, epoch_truth, simulate


@pytest.fixture(scope="module")
def wearer():
    # accelerometer errors off: the calibration below is the true mounting, right only for an exact
    # accelerometer (a guided calibration absorbs its bias: tests/processing/test_calibration.py); the gyro keeps
    # the default cheap sensor's errors (power-on bias up to ±3 °/s, drift)
    sensor = SensorModel(
        rate_hz=50.0,
        mounting_deg=(30.0, 80.0, -20.0),
        jitter_s=0.002,
        drop_rate=0.002,
        acc_bias_range=(0.0, 0.0),
        acc_scale=0.0,
        acc_cross_axis=0.0,
    )
    samples, truth = simulate(parse_scenario("stand 20, walk 40, sit 60, stand 30 tilt=14, walk 20"), sensor, seed=4)
    # The guided calibration a wearer would do: the sensor's true mounting (sensor -> pelvis).
    calibration = Calibration(truth.mounting, "guided", "assumed")
    return samples, truth, calibration


def run(samples: Samples, params: PipelineParams, chunk: int) -> Epochs:
    pipe = Pipeline(params)
    parts = [pipe.update(samples.slice(i, i + chunk)).epochs for i in range(0, len(samples), chunk)]
    parts.append(pipe.finish().epochs)
    return Epochs.concat(parts)


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_pipeline_is_chunk_invariant(wearer, chunk):
    samples, _, calibration = wearer
    params = PipelineParams(rate_hz=50.0, calibration=calibration)
    whole = run(samples, params, len(samples))
    parts = run(samples, params, chunk)
    assert len(whole) == len(parts) == 170
    np.testing.assert_array_equal(whole.activity, parts.activity)
    np.testing.assert_allclose(whole.tilt_deg, parts.tilt_deg, rtol=0, atol=1e-9)
    np.testing.assert_allclose(whole.obliquity_deg, parts.obliquity_deg, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(whole.sitting_bout_s, parts.sitting_bout_s)


def test_pipeline_follows_the_simulated_wearer(wearer):
    samples, truth, calibration = wearer
    epochs = run(samples, PipelineParams(rate_hz=50.0, calibration=calibration), 500)
    et = epoch_truth(truth)
    k = et.t.astype(int)
    steady = ~et.transition
    names = np.array(ACTIVITIES)[epochs.activity[k]]
    assert np.mean(names[steady] == et.activity[steady]) > 0.97
    still = steady & np.isin(et.activity, ["standing", "sitting"])
    err = epochs.tilt_deg[k][still] - et.tilt_deg[still]
    assert np.sqrt(np.mean(err**2)) < 1.5


def test_a_long_gap_gives_unknown_epochs_and_no_tilt(wearer):
    samples, _, calibration = wearer
    keep = (samples.t < 50.0) | (samples.t >= 80.0)
    gappy = Samples(samples.t[keep], samples.acc[keep], samples.gyro[keep])
    epochs = run(gappy, PipelineParams(rate_hz=50.0, calibration=calibration), 1000)
    assert len(epochs) == 170
    inside = (epochs.t >= 50.0) & (epochs.t < 80.0)
    assert set(epochs.activity[inside].tolist()) == {0}
    assert np.isnan(epochs.tilt_deg[inside]).all()
    assert not np.isnan(epochs.tilt_deg[~inside]).any()


def test_pelvic_tilt_drills_count_as_exercise_in_the_day():
    sensor = SensorModel(rate_hz=50.0, mounting_deg="random")
    samples, truth = simulate(
        parse_scenario("stand 20, walk 30, stand 90 rock=16 rock_hz=0.2, sit 60, stand 90 rock=0"), sensor, seed=6
    )
    pipe = Pipeline(PipelineParams(rate_hz=50.0, calibration=Calibration(truth.mounting, "guided", "assumed")))
    out = [pipe.update(samples.slice(i, i + 1000)) for i in range(0, len(samples), 1000)]
    out.append(pipe.finish())
    bouts = [b for o in out for b in o.exercise]
    assert len(bouts) == 1
    assert 50.0 <= bouts[0].start_s + bouts[0].duration_s <= 145.0  # inside the drill (50-140 s)
    assert bouts[0].duration_s >= 40.0
    [day] = pipe.tracker.days.values()
    assert day.exercise_s == bouts[0].duration_s
