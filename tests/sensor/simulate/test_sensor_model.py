"""The simulated IMU: mounting, the errors asked for, the default cheap sensor."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from sensor.simulate import (
    Segment,
    SensorModel,
    realize_sensor,
    simulate,
)
from tests.sensor.simulate.support import NO_ERRORS, G


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
