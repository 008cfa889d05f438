"""Physics of the simulated wearer: the accelerometer and gyroscope agree with one trajectory; walking; transitions."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from sensor.simulate import (
    Segment,
    SensorModel,
    parse_scenario,
    simulate,
)
from tests.sensor.simulate.support import TOUR, G, noiseless, settled


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
