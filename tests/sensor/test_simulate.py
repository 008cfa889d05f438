"""The simulated wearer: physics consistency, truth, reproducibility, chunking, timing defects, scenarios."""

from __future__ import annotations

import csv
import gzip
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from processing.errors import ConfigError
from processing.samples import STANDARD_GRAVITY, Samples
from sensor.simulate import (
    ACTIVITIES,
    EpochTruthBuilder,
    Segment,
    SensorModel,
    Truth,
    epoch_truth,
    parse_scenario,
    realize_sensor,
    scenario_random,
    scenario_workday,
    simulate,
    simulate_chunks,
    write_truth_csv,
)

G = STANDARD_GRAVITY
# Everything the wearer does, transitions included.
TOUR = parse_scenario(
    "stand 6, walk 20, stand 8 tilt=14, sit 12, lie 12, lie 10 side=left, lie 8 side=right, sit 8, walk 10, stand 8"
)


#: The realistic error model's parts that default to non-zero, switched off.
NO_ERRORS: dict[str, object] = dict(
    acc_scale=0.0, gyro_power_on_max=0.0, gyro_thermal_max=0.0, acc_bias_range=(0.0, 0.0), acc_cross_axis=0.0
)


def noiseless(rate_hz: float = 100.0, **kwargs: object) -> SensorModel:
    """A perfect sensor, except for what kwargs ask (e.g. a random mounting with its lever arm)."""
    base: dict[str, object] = dict(
        rate_hz=rate_hz, acc_noise=0.0, gyro_noise=0.0, acc_bias=0.0, gyro_bias=0.0, gyro_bias_walk=0.0, **NO_ERRORS
    )
    base.update(kwargs)
    return SensorModel(**base)  # type: ignore[arg-type]


def settled(segments: list[Segment], truth: Truth, after_s: float = 3.5, before_s: float = 0.5) -> np.ndarray:
    """Mask of samples well inside their segment: after its transition, before the next one."""
    ends = np.cumsum([s.duration_s for s in segments])
    k = np.searchsorted(ends, truth.t, side="right")
    start = np.concatenate(([0.0], ends))[k]
    return (truth.t >= start + after_s) & (truth.t < ends[np.minimum(k, len(ends) - 1)] - before_s)


# --- physics ------------------------------------------------------------------------------------------


def test_still_standing_reads_gravity_only() -> None:
    samples, truth = simulate([Segment("standing", 5, motion_scale=0)], SensorModel.ideal(), seed=4)
    np.testing.assert_allclose(np.linalg.norm(samples.acc, axis=1), G, atol=1e-9)
    expected = np.einsum("nji,j->ni", truth.sensor_to_world(), [0.0, 0.0, G])  # R^T [0, 0, g]
    np.testing.assert_allclose(samples.acc, expected, atol=1e-9)
    np.testing.assert_allclose(samples.gyro, 0.0, atol=1e-12)


def integrate_quaternions(q0: np.ndarray, rotvecs: np.ndarray) -> np.ndarray:
    """Scalar-last quaternions q0, q0*exp(r0), q0*exp(r0)*exp(r1), ... (a plain loop, fast on floats)."""
    steps = Rotation.from_rotvec(rotvecs).as_quat().tolist()
    x, y, z, w = q0.tolist()
    out = [(x, y, z, w)]
    for bx, by, bz, bw in steps:
        x, y, z, w = (
            w * bx + x * bw + y * bz - z * by,
            w * by - x * bz + y * bw + z * bx,
            w * bz + x * by - y * bx + z * bw,
            w * bw - x * bx - y * by - z * bz,
        )
        out.append((x, y, z, w))
    return np.array(out)


@pytest.mark.parametrize("seed", [1, 2])
def test_gyro_is_the_rate_of_the_orientation_the_accelerometer_sees(seed: int) -> None:
    # postures held perfectly still (walking is not), so the accelerometer sees gravity only when settled
    tour = [s if s.activity == "walking" else replace(s, motion_scale=0.0) for s in TOUR]
    samples, truth = simulate(tour, noiseless(200.0, mounting_deg="random"), seed=seed)
    rot = Rotation.from_matrix(truth.sensor_to_world())
    dt = np.diff(samples.t)[:, None]
    mid_gyro = 0.5 * (samples.gyro[1:] + samples.gyro[:-1])
    finite_diff = (rot[:-1].inv() * rot[1:]).as_rotvec() / dt
    assert np.abs(finite_diff - mid_gyro).max() < 1e-3  # rad/s, against peaks of several rad/s
    assert np.abs(samples.gyro).max() > 1.0

    # integrate the gyro from the true initial orientation; compare with gravity in the accelerometer
    integrated = Rotation.from_quat(integrate_quaternions(rot[0].as_quat(), mid_gyro * dt))
    assert np.degrees((integrated.inv() * rot).magnitude()).max() < 0.05
    up_gyro = integrated.inv().apply([0.0, 0.0, 1.0])
    mask = settled(tour, truth) & (truth.activity != "walking")
    up_acc = samples.acc[mask] / np.linalg.norm(samples.acc[mask], axis=1, keepdims=True)
    angle = np.degrees(np.arccos(np.clip(np.sum(up_gyro[mask] * up_acc, axis=1), -1.0, 1.0)))
    assert mask.sum() > 0.3 * len(samples)
    assert angle.max() < 0.05


def test_specific_force_integrates_to_a_trajectory_that_comes_to_rest() -> None:
    """From rest to rest (stand -> sit -> lie -> sit -> stand), world velocity returns to zero."""
    segments = parse_scenario("stand 3, sit 8, lie 8, sit 8, stand 5")
    for sensor in (SensorModel.ideal(400.0), noiseless(400.0, mounting_deg="random")):
        samples, truth = simulate(segments, sensor, seed=7)
        lin = Rotation.from_matrix(truth.sensor_to_world()).apply(samples.acc) - [0.0, 0.0, G]
        dt = np.diff(samples.t)[:, None]
        vel = np.concatenate([np.zeros((1, 3)), np.cumsum(0.5 * (lin[1:] + lin[:-1]) * dt, axis=0)])
        assert np.abs(vel).max() > 0.2  # transitions move the sensor...
        np.testing.assert_allclose(vel[-1], 0.0, atol=2e-3)  # ...and it stops again
        rise = np.sum(0.5 * (vel[1:, 2] + vel[:-1, 2]) * dt[:, 0])
        assert abs(rise) < 0.01  # standing again at the same height


def test_sit_to_stand_rises_by_the_seat_height() -> None:
    samples, truth = simulate(parse_scenario("sit 3, stand 4"), SensorModel.ideal(400.0), seed=3)
    lin = Rotation.from_matrix(truth.sensor_to_world()).apply(samples.acc) - [0.0, 0.0, G]
    dt = 1.0 / 400.0
    vel = np.cumsum(lin, axis=0) * dt
    height = np.cumsum(vel[:, 2]) * dt
    assert height[-1] == pytest.approx(0.45, abs=0.01)
    assert 0.3 < vel[:, 2].max() < 0.6  # m/s: minimum-jerk peak speed 1.875 * 0.45 m / (1.5..2.5 s)


def test_static_tilt_truth_matches_gravity_in_the_accelerometer() -> None:
    segments = [
        Segment("standing", 6, motion_scale=0),
        Segment("standing", 6, tilt_deg=15, obliquity_deg=3, motion_scale=0),
        Segment("sitting", 8, motion_scale=0),
        Segment("lying", 8, motion_scale=0),
        Segment("lying", 8, side="left", motion_scale=0),
        Segment("lying", 8, side="right", tilt_deg=10, motion_scale=0),
    ]
    samples, truth = simulate(segments, SensorModel.ideal(), seed=5)
    mask = settled(segments, truth)
    ax, ay, az = (samples.acc[mask] / G).T
    tilt = np.degrees(-np.arcsin(np.clip(ax, -1, 1)))
    np.testing.assert_allclose(tilt, truth.tilt_deg[mask], atol=1e-6)
    not_supine = np.abs(truth.tilt_deg[mask]) < 60
    obliquity = np.degrees(np.arctan2(ay, az))
    np.testing.assert_allclose(obliquity[not_supine], truth.obliquity_deg[mask][not_supine], atol=1e-6)
    # the postures are where they should be
    by_segment = np.searchsorted(np.cumsum([s.duration_s for s in segments]), truth.t[mask], side="right")
    mean = [truth.tilt_deg[mask][by_segment == k].mean() for k in range(len(segments))]
    assert abs(mean[0]) <= 1.0 and mean[1] == pytest.approx(15.0)
    assert -25.0 <= mean[2] <= -15.0 and -90.0 < mean[3] < -80.0
    side = [truth.obliquity_deg[mask][by_segment == k].mean() for k in (4, 5)]
    assert side[0] == pytest.approx(-90.0, abs=6.0) and side[1] == pytest.approx(90.0, abs=6.0)


def test_sway_keeps_standing_within_a_degree_and_the_accelerometer_agrees() -> None:
    samples, truth = simulate([Segment("standing", 60)], SensorModel.ideal(), seed=11)
    assert np.abs(truth.tilt_deg).max() <= 2.0
    assert truth.tilt_deg.std() > 0.05  # it does sway
    tilt_acc = np.degrees(-np.arcsin(samples.acc[:, 0] / np.linalg.norm(samples.acc, axis=1)))
    assert np.abs(tilt_acc - truth.tilt_deg).max() < 0.5  # sway accelerations are small


def test_mounting_rotates_the_signals() -> None:
    still = Segment("standing", 2, tilt_deg=0, obliquity_deg=0, motion_scale=0)
    samples, truth = simulate([still], SensorModel.ideal(mounting_deg=(0, 90, 0)))
    np.testing.assert_allclose(samples.acc, np.tile([-G, 0.0, 0.0], (len(samples), 1)), atol=1e-9)
    np.testing.assert_allclose(truth.mounting @ [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], atol=1e-12)
    real = realize_sensor(SensorModel(mounting_deg="random"), seed=9)
    np.testing.assert_allclose(real.mounting.T @ real.mounting, np.eye(3), atol=1e-12)
    assert np.linalg.det(real.mounting) == pytest.approx(1.0)
    assert 0.05 < np.linalg.norm(real.lever_arm_m) < 0.25
    _, truth9 = simulate([Segment("standing", 1)], SensorModel(mounting_deg="random"), seed=9)
    np.testing.assert_array_equal(truth9.mounting, real.mounting)


def test_sensor_errors_are_what_was_asked() -> None:
    sensor = SensorModel(
        acc_noise=0.02,
        gyro_noise=0.005,
        acc_bias=(0.1, -0.2, 0.05),
        gyro_bias=(0.01, 0, -0.02),
        gyro_bias_walk=2e-5,
        **NO_ERRORS,  # type: ignore[arg-type]
    )
    samples, _ = simulate([Segment("standing", 60, motion_scale=0)], sensor, seed=2)
    ideal, _ = simulate([Segment("standing", 60, motion_scale=0)], SensorModel.ideal(), seed=2)
    acc_err, gyro_err = samples.acc - ideal.acc, samples.gyro - ideal.gyro
    np.testing.assert_allclose(acc_err.mean(axis=0), [0.1, -0.2, 0.05], atol=0.002)
    np.testing.assert_allclose(acc_err.std(axis=0), 0.02, rtol=0.05)
    np.testing.assert_allclose(gyro_err[:100].mean(axis=0), [0.01, 0, -0.02], atol=0.002)
    np.testing.assert_allclose(np.diff(gyro_err, axis=0).std(axis=0), 0.005 * math.sqrt(2), rtol=0.05)


# --- walking ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate_hz", [25.0, 100.0, 400.0])
def test_walking_steps_at_1_8_to_2_hz_with_realistic_amplitudes(rate_hz: float) -> None:
    samples, truth = simulate([Segment("walking", 64, turns_per_min=0)], SensorModel.ideal(rate_hz), seed=21)
    assert len(samples) == round(64 * rate_hz)
    np.testing.assert_allclose(np.diff(samples.t), 1.0 / rate_hz, rtol=1e-9)
    steady = (samples.t > 4) & (samples.t < 60)
    vertical = samples.acc[steady, 2] - samples.acc[steady, 2].mean()
    spectrum = np.abs(np.fft.rfft(vertical * np.hanning(vertical.size)))
    freqs = np.fft.rfftfreq(vertical.size, 1.0 / rate_hz)
    assert 1.8 <= freqs[np.argmax(spectrum)] <= 2.0
    # about ±2-3 m/s² vertical with sharper heel-strike peaks; AP and ML around ±1-2 and ±1
    assert 1.5 <= np.percentile(np.abs(vertical), 99) <= 4.5
    assert vertical.max() > -vertical.min()  # peaks point up (heel strike)
    ap, ml = samples.acc[steady, 0], samples.acc[steady, 1]
    assert 0.5 <= np.percentile(np.abs(ap - ap.mean()), 99) <= 3.0
    assert 0.4 <= np.percentile(np.abs(ml - ml.mean()), 99) <= 2.5
    # pelvic rotations
    tilt, obl = truth.tilt_deg[steady], truth.obliquity_deg[steady]
    assert 1.0 <= tilt.mean() <= 4.5
    assert 1.5 <= (np.percentile(tilt, 99) - np.percentile(tilt, 1)) / 2 <= 4.5
    assert 3.0 <= (np.percentile(obl, 99) - np.percentile(obl, 1)) / 2 <= 7.0


def test_walking_turns_change_heading() -> None:
    _, truth = simulate([Segment("walking", 60, turns_per_min=4)], SensorModel.ideal(50.0), seed=8)
    heading = np.unwrap(np.radians(truth.heading_deg))
    assert np.degrees(np.ptp(heading)) > 60.0


# --- transitions and truth labels ----------------------------------------------------------------------


def test_transitions_are_flagged_smooth_and_lean_forward() -> None:
    samples, truth = simulate(parse_scenario("stand 5, sit 10, stand 5"), SensorModel.ideal(), seed=6)
    edges = np.flatnonzero(np.diff(truth.transition.astype(int)))
    assert len(edges) == 4  # two transitions
    for start, stop in zip(edges[::2], edges[1::2], strict=True):
        assert 1.0 <= truth.t[stop] - truth.t[start] <= 3.0
    stand_to_sit = truth.transition & (truth.t < 10)
    sit_to_stand = truth.transition & (truth.t > 10)
    assert truth.tilt_deg[sit_to_stand].max() > 10.0  # the forward lean of rising
    assert truth.tilt_deg[stand_to_sit].max() > 5.0
    # activity switches halfway through the transition
    labels = truth.activity[sit_to_stand]
    assert labels[0] == "sitting" and labels[-1] == "standing"
    assert np.abs(np.diff(truth.tilt_deg)).max() < 1.5  # no jumps at 100 Hz (150 °/s)
    assert np.abs(np.diff(samples.acc, axis=0)).max() < 1.0


def test_epoch_truth_and_csv(tmp_path: Path) -> None:
    samples, truth = simulate(parse_scenario("stand 5.5, sit 10, walk 6.5"), SensorModel(jitter_s=0.002), seed=3)
    epochs = epoch_truth(truth)
    assert len(epochs) == 22
    np.testing.assert_array_equal(epochs.t, np.arange(22.0))
    assert list(epochs.activity[:5]) == ["standing"] * 5 and list(epochs.activity[-3:]) == ["walking"] * 3
    assert epochs.transition[5] and not epochs.transition[10] and epochs.transition[16]
    assert "walking" not in truth.activity[truth.transition]  # getting up comes before the first step
    k = np.floor(truth.t).astype(int)
    assert epochs.tilt_deg[12] == pytest.approx(truth.tilt_deg[k == 12].mean())
    assert epochs.n_samples.sum() == len(samples)

    builder = EpochTruthBuilder()
    parts = [
        builder.update(chunk)
        for _, chunk in simulate_chunks(
            parse_scenario("stand 5.5, sit 10, walk 6.5"), SensorModel(jitter_s=0.002), seed=3, chunk_s=0.77
        )
    ]
    parts.append(builder.finish())
    streamed = type(epochs).concat(parts)
    for name in ("t", "activity", "transition", "n_samples"):
        np.testing.assert_array_equal(getattr(streamed, name), getattr(epochs, name))
    np.testing.assert_allclose(streamed.tilt_deg, epochs.tilt_deg, rtol=1e-12)

    for name in ("truth.csv", "truth.csv.gz"):
        path = tmp_path / name
        write_truth_csv(path, parts)
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert rows[0] == ["t", "activity", "tilt_deg", "obliquity_deg", "transition"]
        assert len(rows) == 23
        assert rows[6][0] == "5" and rows[6][1] in ACTIVITIES and rows[6][4] == "1"
        assert float(rows[13][2]) == pytest.approx(epochs.tilt_deg[12], abs=1e-3)


# --- determinism, chunking, timing defects -----------------------------------------------------------


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


# --- scenarios and validation ----------------------------------------------------------------------------


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


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_default_sensor_has_a_cheap_imus_errors(seed: int) -> None:
    # issue #10: power-on gyro bias up to ±3 °/s per axis, random walk 0.15 °/s/√h, thermal drift ~0.3 °/s
    # over hours, accelerometer bias 20–50 mg, scale 1 %, cross-axis 0.2 %
    sensor = SensorModel()
    real = realize_sensor(sensor, seed)
    assert np.all(np.abs(real.gyro_bias) <= math.radians(3.0))
    assert np.all((np.abs(real.acc_bias) >= 0.020 * G - 1e-12) & (np.abs(real.acc_bias) <= 0.050 * G + 1e-12))
    assert np.all(np.abs(real.gyro_thermal) <= math.radians(0.3))
    assert np.abs(real.acc_scale).max() < 0.05 and np.abs(real.acc_scale).max() > 0.0
    assert np.all(np.diag(real.acc_cross) == 0.0) and 0.0 < np.abs(real.acc_cross).max() < 0.01
    assert sensor.gyro_bias_walk == pytest.approx(math.radians(0.15) / 60.0)
    # the realisation: still, mounted flat, the errors are what the realisation says
    still = [Segment("standing", 30, motion_scale=0)]
    quiet = replace(sensor, acc_noise=0.0, gyro_noise=0.0, gyro_bias_walk=0.0)
    samples, _ = simulate(still, quiet, seed=seed)
    ideal, _ = simulate(still, SensorModel.ideal(), seed=seed)
    f = ideal.acc[0]
    expected_acc = f * (1.0 + real.acc_scale) + real.acc_cross @ f + real.acc_bias
    np.testing.assert_allclose(samples.acc[0], expected_acc, atol=1e-9)
    thermal = -np.expm1(-samples.t[-1] / sensor.gyro_thermal_tau_s) * real.gyro_thermal
    np.testing.assert_allclose(samples.gyro[-1] - ideal.gyro[-1], real.gyro_bias + thermal, atol=1e-12)
