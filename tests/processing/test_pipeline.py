"""The whole streaming pipeline: chunk invariance, gaps, and agreement with a simulated wearer."""

from __future__ import annotations

import numpy as np
import pytest

from processing.activity import ACTIVITIES
from processing.calibration import Calibration
from processing.pipeline import Epochs, Pipeline, PipelineParams
from processing.samples import Samples
from sensor.simulate import SensorModel, epoch_truth, parse_scenario, simulate


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


def self_calibrated(spec: str, seed: int, mounting: object = "random", offset_deg: float = 0.0):
    from sensor.simulate import with_stand_offset

    sensor = SensorModel(rate_hz=50.0, mounting_deg=mounting, jitter_s=0.002, drop_rate=0.002)  # type: ignore[arg-type]
    samples, truth = simulate(with_stand_offset(parse_scenario(spec), offset_deg), sensor, seed=seed)
    return samples, epoch_truth(truth)


@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_self_calibration_from_postures_is_chunk_invariant(chunk):
    samples, _ = self_calibrated("stand 20, sit 40, stand 30, sit 30, stand 20, walk 40, sit 30", seed=5)
    params = PipelineParams(rate_hz=50.0)
    whole = run(samples, params, len(samples))
    parts = run(samples, params, chunk)
    np.testing.assert_array_equal(whole.activity, parts.activity)
    np.testing.assert_array_equal(whole.mounting, parts.mounting)
    np.testing.assert_allclose(whole.tilt_deg, parts.tilt_deg, rtol=0, atol=1e-9)
    np.testing.assert_allclose(whole.neutral_confidence, parts.neutral_confidence, rtol=0, atol=1e-12)


def test_without_walking_the_postures_calibrate_the_stream():
    # No walking at all: the first rest is taken as standing, the sit-down gives the standing vertical and the
    # lean of sitting the anterior axis.
    samples, et = self_calibrated("stand 20, sit 40, stand 30, sit 30 tilt=-18, stand 20", seed=3)
    epochs = run(samples, PipelineParams(rate_hz=50.0), 500)
    k = et.t.astype(int)
    steady = ~et.transition
    names = np.array(ACTIVITIES)[epochs.activity[k]]
    assert np.mean(names[steady] == et.activity[steady]) > 0.97
    assert not epochs.calibrated[:15].any() and (epochs.mounting[:15] == 1).all()  # calibrating: no tilt yet
    assert epochs.calibrated[k[et.t > 30]].all()  # from the first sit-down on
    still = steady & (et.t > 30)
    err = epochs.tilt_deg[k][still] - et.tilt_deg[still]
    assert np.sqrt(np.mean(err**2)) < 4.0


@pytest.mark.parametrize("offset_deg", [-15.0, 10.0])
def test_a_wearer_standing_off_their_walking_posture_is_learnt(offset_deg):
    spec = "stand 30, walk 60, stand 15, " + ", ".join(["sit 60, stand 20, walk 30, stand 20"] * 6)
    samples, et = self_calibrated(spec, seed=11, mounting=(0.0, -90.0, 0.0), offset_deg=offset_deg)
    pipe = Pipeline(PipelineParams(rate_hz=50.0))
    parts = [pipe.update(samples.slice(i, i + 5000)).epochs for i in range(0, len(samples), 5000)]
    parts.append(pipe.finish().epochs)
    epochs = Epochs.concat(parts)
    k = et.t.astype(int)
    steady = ~et.transition
    names = np.array(ACTIVITIES)[epochs.activity[k]]
    for activity in ("sitting", "standing"):
        truth = steady & (et.activity == activity)
        assert np.mean(names[truth] == activity) >= 0.97, activity
    late_stand = steady & (et.activity == "standing") & (et.t > et.t[-1] / 2)
    assert abs(float(np.median(epochs.tilt_deg[k][late_stand]))) < 3.0  # the neutral found, not the walking one
    assert pipe.tracker.neutral_confidence > 0.5


def test_a_moved_sensor_says_so_in_every_column():
    # On the front of the belt, then taken off and clipped back upside down (as in test_calibration).
    first, _ = simulate(parse_scenario("stand 20 tilt=0, walk 40, sit 60, walk 30"), SensorModel(rate_hz=50.0), seed=3)
    second, _ = simulate(
        parse_scenario("stand 10, walk 60, sit 40, walk 30"),
        SensorModel(rate_hz=50.0, mounting_deg=(0.0, 0.0, 180.0)),
        seed=53,
    )
    off = float(first.t[-1]) + 0.02
    samples = Samples.concat([first, Samples(second.t + off, second.acc, second.gyro)])
    calibration = Calibration(np.eye(3), "guided", "sitting")  # the first mounting is the identity
    for chunk in (len(samples), 1000):  # a whole-recording batch, and live chunks
        epochs = run(samples, PipelineParams(rate_hz=50.0, calibration=calibration), chunk)
        doubt = epochs.mounting == 2
        assert doubt.any() and (epochs.t[doubt] >= off - 30.0).all()
        assert (epochs.activity[doubt] == 0).all()
        assert np.isnan(epochs.tilt_deg[doubt]).all() and np.isnan(epochs.obliquity_deg[doubt]).all()
        assert not epochs.calibrated[doubt].any() and (epochs.neutral_confidence[doubt] == 0).all()
        # the consistency holds the other way too: a tilt is shown only where the mounting is calibrated
        assert (np.isnan(epochs.tilt_deg) | (epochs.mounting == 0)).all()
        assert epochs.calibrated[-20:].all()  # calibrated again from the walking after it
    # a whole-recording consumer marks the epochs between the estimated onset and the detection
    epochs.mark_in_doubt(off - 5.0, off + 5.0)
    inside = (epochs.t >= off - 5.0) & (epochs.t < off + 5.0)
    assert (epochs.mounting[inside] == 2).all() and (epochs.activity[inside] == 0).all()
    assert np.isnan(epochs.tilt_deg[inside]).all() and not epochs.calibrated[inside].any()


def _live_self(spec: str, seed: int) -> Epochs:
    """The live path without any calibration (it calibrates itself), the sensor at a random place on the belt."""
    samples, _ = simulate(parse_scenario(spec), SensorModel(rate_hz=50.0, mounting_deg="random"), seed=seed)
    return run(samples, PipelineParams(rate_hz=50.0), 1500)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5, 8])
def test_a_sit_straight_from_walking_shows_at_once_before_the_sign_is_confirmed(seed):
    # The commonest pattern: walking, then sitting down. The sit-down itself (the pelvis leans back from the gait
    # whatever the mounting) says sitting within seconds, whether or not the anterior sign is confirmed yet.
    epochs = _live_self("stand 20, walk 40, sit 4min, walk 30, stand 20", seed)
    sit = (epochs.t >= 60.0) & (epochs.t < 300.0)
    sitting = epochs.activity == ACTIVITIES.index("sitting")
    first = float(epochs.t[np.flatnonzero(sit & sitting)[0]]) if (sit & sitting).any() else np.inf
    assert first - 60.0 <= 5.0
    assert np.mean(sitting[sit]) >= 0.95


@pytest.mark.parametrize("seed", [1, 4])
def test_a_stop_from_walking_into_a_forward_leaning_stand_stays_standing(seed):
    epochs = _live_self("stand 20, walk 40, stand 60 tilt=10, walk 20", seed)
    stand = (epochs.t >= 62.0) & (epochs.t < 100.0)
    assert np.mean(epochs.activity[stand] == ACTIVITIES.index("standing")) >= 0.95
