"""Mounting calibration, its sign, and re-clip detection on the simulated wearer (known mounting)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from processing.calibration import (
    Calibration,
    CalibrationError,
    calibrate,
    calibrate_auto,
    calibrate_guided,
    describe_mounting,
    from_axes,
    pelvic_angles,
    still_mask,
)
from processing.features import EpochFeatures, FeatureExtractor
from processing.gravity import make_up_estimator
from processing.reclip import CalibrationEvent, MountingTracker, ReclipEvent
from processing.samples import Samples
from sensor.simulate import SensorModel, epoch_truth, parse_scenario, realize_sensor, simulate

SCENARIO = parse_scenario("stand 20 tilt=0, walk 40, sit 50, stand 10, walk 20, sit 30")
MOUNTINGS = {
    "front": (0.0, 0.0, 0.0),
    "left side": (90.0, 0.0, 0.0),
    "back": (180.0, 0.0, 0.0),
    "upside down": (0.0, 0.0, 180.0),
    "rotated": (30.0, -60.0, 120.0),
    "random": "random",
}


def features_of(samples: Samples, rate_hz: float = 100.0) -> EpochFeatures:
    fx = FeatureExtractor(rate_hz=rate_hz, up_estimator=make_up_estimator(rate_hz))
    return EpochFeatures.concat([fx.update(samples), fx.finish()])


def rotation_error_deg(a: np.ndarray, b: np.ndarray) -> float:
    r = a @ b.T
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0))))


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("mounting", list(MOUNTINGS))
def test_guided_calibration_finds_the_mounting(mounting: str, seed: int) -> None:
    samples, truth = simulate(SCENARIO, SensorModel(mounting_deg=MOUNTINGS[mounting]), seed=seed)  # type: ignore[arg-type]
    features = features_of(samples)
    cal = calibrate_guided(features, (0.0, 20.0))
    assert cal.method == "guided" and cal.sign_check == "sitting"
    # the anterior axis (and so the sign) matches the simulator's mounting
    assert cal.rotation[0] @ truth.mounting[0] > np.cos(np.radians(10.0))
    assert rotation_error_deg(cal.rotation, truth.mounting) < 8.0
    tilt, _ = pelvic_angles(features.up, cal)
    ep = epoch_truth(truth)
    sitting = (ep.activity == "sitting") & ~ep.transition
    assert np.nanmean(tilt[sitting]) < -10.0  # posterior
    still = np.isin(ep.activity, ["standing", "sitting"]) & ~ep.transition
    # the default sensor is a cheap one: its accelerometer alone (20–50 mg bias, 1 % scale, 0.2 % cross-axis)
    # reads still postures up to ~0.9° off on these seeds. The filter calibrates the accelerometer from its
    # rests (on by default), so it does not follow the raw direction: still epochs within 1.25° RMS of the truth
    # on every mounting (0.59–1.01° measured; with the calibration off 0.44–1.59°).
    assert np.sqrt(np.nanmean((tilt - ep.tilt_deg)[still] ** 2)) < 1.25


@pytest.mark.parametrize("mounting", ["front", "back", "random"])
def test_automatic_calibration_from_walking_and_sitting(mounting: str) -> None:
    samples, truth = simulate(SCENARIO, SensorModel(mounting_deg=MOUNTINGS[mounting]), seed=21)  # type: ignore[arg-type]
    cal = calibrate_auto(features_of(samples))
    assert cal.method == "auto" and cal.sign_check == "sitting"
    assert cal.rotation[0] @ truth.mounting[0] > np.cos(np.radians(12.0))
    assert cal.rotation[2] @ truth.mounting[2] > np.cos(np.radians(6.0))  # walking vertical: a few degrees off


def test_sign_check_flips_a_mirrored_walking_axis() -> None:
    """The sitting shift decides front and back whatever sign the walking axis came with."""
    samples, truth = simulate(SCENARIO, SensorModel(mounting_deg=(180.0, 0.0, 0.0)), seed=5)
    cal = calibrate(features_of(samples), neutral=(0.0, 20.0))
    assert cal is not None
    assert cal.rotation[0] @ truth.mounting[0] > 0.9


def test_guided_errors_are_clear() -> None:
    samples, _ = simulate(parse_scenario("stand 10 tilt=0, walk 3, stand 10"), SensorModel(), seed=1)
    features = features_of(samples)
    with pytest.raises(CalibrationError, match="no neutral standing"):
        calibrate_guided(features, (10.5, 13.0))
    with pytest.raises(CalibrationError, match="too few steps"):
        calibrate_guided(features, (0.0, 10.0))
    assert calibrate(features, neutral=(0.0, 10.0)) is None


def test_calibration_dict_round_trip_and_words() -> None:
    cal = Calibration(np.eye(3), "guided", "sitting", "walking", (-0.04, 0.0, 0.999))
    back = Calibration.from_dict(cal.to_dict())
    assert np.allclose(back.rotation, cal.rotation) and back.walking_up == cal.walking_up
    assert describe_mounting(cal).startswith("sensor lying flat")
    # sensor +z forward, +x left, +y up: the front of the belt
    front = Calibration(np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]), "guided", "sitting")
    words = describe_mounting(front)
    assert words.startswith("sensor on the front of the belt") and "+y points up" in words
    with pytest.raises(ValueError):
        Calibration(-np.eye(3), "guided", "sitting")


def reclipped(seed: int, second_mounting: tuple[float, float, float]) -> tuple[Samples, float]:
    """Wearer with the sensor on the front, then (sensor off and clipped back) in ``second_mounting``."""
    # accelerometer errors off: with the cheap default accelerometer (20–50 mg bias) together with the power-on
    # gyro bias, the automatic re-calibration after a re-clip to (0, 0, 25) keeps a reversed forward axis
    # (calibrate_auto's sign check; reported in issue 10's notes for the automatic-calibration work)
    exact = dict(acc_bias_range=(0.0, 0.0), acc_scale=0.0, acc_cross_axis=0.0)
    first, _ = simulate(parse_scenario("stand 20 tilt=0, walk 40, sit 60, walk 30"), SensorModel(**exact), seed=seed)  # type: ignore[arg-type]
    second, _ = simulate(
        parse_scenario("stand 10, walk 60, sit 40, walk 30"),
        SensorModel(mounting_deg=second_mounting, **exact),  # type: ignore[arg-type]
        seed=seed + 50,
    )
    off = float(first.t[-1]) + 0.01
    return Samples.concat([first, Samples(second.t + off, second.acc, second.gyro)]), off


@pytest.mark.parametrize(
    ("second", "reason", "within_s"),
    [
        ((0.0, 0.0, 180.0), "walking vertical", 40.0),  # upside down: the first 10 s of walking
        ((0.0, 30.0, 0.0), "walking vertical", 70.0),  # tilted: within the first walking bout after it
        ((0.0, 0.0, 25.0), "walking vertical", 70.0),
        ((90.0, 0.0, 0.0), "forward direction", 100.0),  # turned around the belt: walking, then sitting
    ],
)
def test_reclip_is_detected_flagged_and_recalibrated(
    second: tuple[float, float, float], reason: str, within_s: float
) -> None:
    samples, t_clip = reclipped(3, second)
    features = features_of(samples)
    cal = calibrate_guided(features.select(features.t < t_clip - 1), (0.0, 20.0))
    out = MountingTracker(calibration=cal).update(features)
    reclips = [e for e in out.events if isinstance(e, ReclipEvent)]
    assert len(reclips) == 1
    event = reclips[0]
    assert event.reason == reason
    assert t_clip <= event.t_detected < t_clip + within_s
    assert event.t_onset <= t_clip  # the onset estimate covers the re-clip
    recal = [e for e in out.events if isinstance(e, CalibrationEvent) and e.t > event.t_detected]
    assert recal, "no re-calibration after the re-clip"
    gap = (features.t >= event.t_detected) & (features.t < recal[0].t)
    assert gap.any() and not out.calibrated[gap].any() and np.isnan(out.tilt_deg[gap]).all()
    assert out.calibrated[features.t >= recal[0].t].all()
    final = recal[-1].calibration
    true_second = SensorModel(mounting_deg=second)
    from sensor.simulate import realize_sensor

    assert final.rotation[0] @ realize_sensor(true_second, 53).mounting[0] > 0.9


def test_no_reclip_without_one_and_chunk_invariance() -> None:
    samples, _ = simulate(
        parse_scenario("stand 20 tilt=0, walk 40, sit 60, walk 30, stand 20, walk 40, sit 30"),
        SensorModel(mounting_deg="random"),
        seed=8,
    )
    features = features_of(samples)
    cal = calibrate_guided(features, (0.0, 20.0))
    whole = MountingTracker(calibration=cal).update(features)
    assert not [e for e in whole.events if isinstance(e, ReclipEvent)]
    assert whole.calibrated.all()
    # an uncalibrated start with a neutral window: chunked equals whole
    a = MountingTracker(neutral=(0.0, 20.0)).update(features)
    tracker = MountingTracker(neutral=(0.0, 20.0))
    parts = [tracker.update(features.select(slice(i, i + 17))) for i in range(0, len(features), 17)]
    assert np.array_equal(np.concatenate([p.calibrated for p in parts]), a.calibrated)
    assert np.allclose(np.concatenate([p.tilt_deg for p in parts]), a.tilt_deg, equal_nan=True)
    assert a.calibrated[-50:].all()


def test_reclip_detection_is_chunk_invariant() -> None:
    """The forward-direction cues carry their rolling state across ``update`` calls."""
    samples, t_clip = reclipped(4, (-90.0, 0.0, 0.0))
    features = features_of(samples)
    cal = calibrate_guided(features.select(features.t < t_clip - 1), (0.0, 20.0))
    whole = MountingTracker(calibration=cal).update(features)
    tracker = MountingTracker(calibration=cal)
    parts = [tracker.update(features.select(slice(i, i + 13))) for i in range(0, len(features), 13)]
    events = [e for p in parts for e in p.events]
    assert [e for e in events if isinstance(e, ReclipEvent)] == [e for e in whole.events if isinstance(e, ReclipEvent)]
    assert any(isinstance(e, ReclipEvent) and e.t_detected >= t_clip for e in events)
    assert np.array_equal(np.concatenate([p.calibrated for p in parts]), whole.calibrated)
    assert np.allclose(np.concatenate([p.tilt_deg for p in parts]), whole.tilt_deg, equal_nan=True)


@pytest.mark.parametrize("seed", [31, 32])
def test_guided_neutral_in_the_first_10_s_after_power_on_equals_one_an_hour_later(seed: int) -> None:
    # issue #10: power-on gyro bias up to ±3 °/s per axis (the default cheap sensor, plus its thermal drift
    # and random walk); a neutral taken in the first 10 s must give the same calibration as one an hour later
    scenario = parse_scenario(
        "stand 10 tilt=0, walk 300, sit 1200, walk 300, sit 1200, stand 200, walk 300, stand 30 tilt=0"
    )
    sensor = SensorModel(rate_hz=25.0, mounting_deg="random")
    samples, truth = simulate(scenario, sensor, seed=seed)
    real_bias = np.degrees(np.abs(realize_sensor(sensor, seed).gyro_bias))
    assert real_bias.max() > 1.5  # the power-on bias is large for this seed
    features = features_of(samples, rate_hz=25.0)
    end = float(truth.t[-1])
    true_up = np.einsum("nji,j->ni", truth.sensor_to_world(), [0.0, 0.0, 1.0])
    errors = []
    for window in ((0.0, 10.0), (end - 28.0, end)):
        cal = calibrate_guided(features, window)
        # the truth over the same samples: the still epochs wholly inside the window, as the calibration uses
        used = still_mask(features) & (features.t >= window[0]) & (features.t + 1.0 <= window[1])
        inside = np.isin(np.floor(truth.t - truth.t[0]), features.t[used] - features.t[0])
        truth_vertical = true_up[inside].mean(axis=0)
        errors.append(cal.rotation[2] - truth_vertical / np.linalg.norm(truth_vertical))
    # the simulated wearer does not stand exactly alike twice (obliquity differs by about 1°), so compare each
    # neutral with the truth of its own window: the error (accelerometer bias and scale) must be the same
    assert math.degrees(float(np.linalg.norm(errors[0] - errors[1]))) < 0.3
    # and the early calibration is usable an hour later: neutral standing reads the true tilt within 1°
    early = calibrate_guided(features, (0.0, 10.0))
    tilt, _ = pelvic_angles(features.up, early)
    ep = epoch_truth(truth)
    last = features.t >= end - 25.0
    n = min(len(tilt), len(ep.t))
    assert abs(float(np.nanmean((tilt[:n] - ep.tilt_deg[:n])[last[:n]]))) < 1.0


@pytest.mark.parametrize("seed", [1, 2])
def test_self_calibration_keeps_its_sign_through_anterior_standing_after_walking(seed: int) -> None:
    """Issue 12: a wearer who stands 10° anterior of their walking posture walks, then stands leaning 17°
    forward, then sits down. The lean of the anterior standing must not decide the anterior sign (it used to
    mirror it, and the forward-direction check then reported false re-clips all day)."""
    from sensor.simulate import with_stand_offset

    scenario = with_stand_offset(
        parse_scenario("stand 30 tilt=0, walk 50, stand 90 tilt=17, sit 300, walk 60, stand 40, walk 60, sit 200"),
        10.0,
    )
    sensor = SensorModel(mounting_deg=(0.0, -90.0, 0.0), acc_bias_range=(0.0, 0.0), acc_scale=0.0, acc_cross_axis=0.0)
    samples, truth = simulate(scenario, sensor, seed=seed)
    out = MountingTracker().update(features_of(samples))
    assert not [e for e in out.events if isinstance(e, ReclipEvent)]
    true_x = truth.mounting[0]
    for event in out.events:
        assert isinstance(event, CalibrationEvent)
        if event.calibration.sign_check == "sitting":  # a confirmed sign is the right one
            assert float(event.calibration.rotation[0] @ true_x) > 0.9, event
    final = out.calibrations[-1]
    assert final.sign_check == "sitting" and float(final.rotation[0] @ true_x) > 0.9


def test_a_guided_axis_the_turns_never_confirm_is_corrected_not_a_reclip() -> None:
    """A guided calibration whose forward axis is 60° off (a walking principal axis can be, as on HAPT user 8):
    the turning and the sitting both disagree from the start, so the axis is corrected from the turns on the same
    mounting (keeping the guided vertical) instead of a re-clip."""
    scenario = parse_scenario("stand 20 tilt=0, walk 120, sit 60, walk 120, sit 60, walk 120")
    sensor = SensorModel(mounting_deg=(20.0, 70.0, 0.0), acc_bias_range=(0.0, 0.0), acc_scale=0.0, acc_cross_axis=0.0)
    samples, truth = simulate(scenario, sensor, seed=5)
    features = features_of(samples)
    good = calibrate_guided(features, (0.0, 20.0))
    assert float(good.rotation[0] @ truth.mounting[0]) > 0.95
    a = math.radians(60.0)
    turn = np.array([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    off = Calibration(turn @ good.rotation, "guided", "walking", "walking", good.walking_up)
    out = MountingTracker(calibration=off).update(features)
    assert not [e for e in out.events if isinstance(e, ReclipEvent)]
    fixed = [e.calibration for e in out.events if isinstance(e, CalibrationEvent)]
    assert fixed and fixed[0].sign_check == "turning" and fixed[0].method == "guided"
    assert np.allclose(fixed[0].rotation[2], good.rotation[2])  # the guided vertical stays
    assert float(fixed[0].rotation[0] @ truth.mounting[0]) > 0.9
    assert out.mounting_ids == [0] * len(out.calibrations)  # one mounting throughout
    assert out.calibrated.all()


@pytest.mark.parametrize("walk_tilt_deg", [-8.0, 0.0, 5.0, 12.0])
def test_walking_tilt_is_the_tilt_pelvic_angles_gives_the_walking_vertical(walk_tilt_deg: float) -> None:
    # a sensor on the side of the belt, turned 30° about its own axis; walking leans the pelvis by walk_tilt_deg
    mount = Rotation.from_euler("zyx", [30.0, 0.0, -90.0], degrees=True).as_matrix()  # pelvis -> sensor
    vertical, forward = mount @ np.array([0.0, 0.0, 1.0]), mount @ np.array([1.0, 0.0, 0.0])
    lean = math.radians(walk_tilt_deg)  # anterior tilt: the pelvis' up vector leans back in the pelvis frame
    walking_up = mount @ np.array([-math.sin(lean), 0.0, math.cos(lean)])
    cal = from_axes(vertical, forward, "guided", "sitting", walking_up=walking_up)
    tilt, _obliquity = pelvic_angles(walking_up[None, :], cal)
    assert cal.walking_tilt_deg() == pytest.approx(float(tilt[0]), abs=1e-9)
    assert cal.walking_tilt_deg() == pytest.approx(walk_tilt_deg, abs=1e-9)
    assert from_axes(vertical, forward, "guided", "sitting").walking_tilt_deg() is None


def test_the_first_steady_rest_after_clipping_on_is_taken_as_standing_at_once() -> None:
    # Clipping the phone on (4 s of handling), then 3 s settling into the waist bag at rest, 4–5° a second
    # (HAPT users 2 and 8: the first standing seconds drifted 3–4° from one to the next), then still. The
    # standing vertical is assumed from the first resting second within 10° of the one before (it was 3°:
    # those seconds had no vertical, and so no activity), and replaced once the rest is steady within 3°.
    n = 20
    a = np.radians(np.r_[np.full(4, 40.0), 14.0, 9.5, 5.0, np.zeros(n - 7)])
    up = np.column_stack([-np.sin(a), np.zeros(n), np.cos(a)])
    acc_std = np.r_[np.full(4, 0.8), np.full(3, 0.2), np.full(n - 7, 0.03)]
    f = EpochFeatures(
        k=np.arange(n), t=np.arange(n, dtype=float), count=np.full(n, 50), coverage=np.ones(n), up=up,
        acc_mean=up * 9.81, acc_cov=np.zeros((n, 3, 3)), gyro_mean=np.zeros((n, 3)),
        gyro_cov=(acc_std**2 / 3)[:, None, None] * np.eye(3)[None], acc_norm_std=acc_std, vert_acc=np.zeros(n),
        vert_acc_late=np.zeros(n),
    )  # fmt: skip
    out = MountingTracker().update(f)
    assert out.calibration_index[:5].tolist() == [-1] * 5
    assert np.all(out.calibration_index[5:] >= 0)  # from the second resting second on
    upright = out.calibrations[out.calibration_index[-1]]
    assert upright.method == "upright" and upright.sign_check == "assumed"
    assert math.degrees(math.acos(min(1.0, float(upright.rotation[2] @ up[-1])))) < 0.5
