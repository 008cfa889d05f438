"""Known-answer and chunk-invariance tests for processing.orientation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from processing import orientation
from processing.gravity import HindsightUp
from processing.orientation import (
    ACCEL_CALIBRATION_ON,
    OrientationEstimator,
    OrientationParams,
    OrientationResult,
    estimate_up,
)
from processing.samples import STANDARD_GRAVITY, Samples

G = STANDARD_GRAVITY


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.degrees(np.arccos(np.clip(np.sum(a * b, axis=1), -1.0, 1.0)))


def constant_rotation(rate_hz: float, seconds: float, omega: np.ndarray, up0: np.ndarray) -> tuple[Samples, np.ndarray]:
    """Sensor spinning at constant body rate ``omega``: analytic up vector ``exp(-[ω]t) up0``."""
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    up = Rotation.from_rotvec(-np.outer(t, omega)).apply(up0)
    return Samples(t, G * up, np.tile(omega, (t.shape[0], 1))), up


def wobble(rate_hz: float, seconds: float, seed: int = 0, jitter: float = 0.0) -> tuple[Samples, np.ndarray]:
    """Smooth 3-axis wobble with analytic orientation; returns samples and the true up vector."""
    rng = np.random.default_rng(seed)
    n = int(seconds * rate_hz)
    t = np.arange(n) / rate_hz
    if jitter:
        t = t + rng.uniform(-jitter, jitter, n) / rate_hz

    # orientation as a known function of time (sensor -> world), body rates from its derivative
    def rot(tt: np.ndarray) -> Rotation:
        return Rotation.from_euler("zyx", np.stack([0.6 * tt, 0.5 * np.sin(0.7 * tt), 0.4 * np.sin(1.1 * tt + 1)], 1))

    # body-frame rate over the interval ending at each sample (what a sensor's filtered output and BROAD's
    # recordings give, and what the estimator integrates); the first sample's interval is one nominal period
    r0 = rot(t)
    prev = np.concatenate(([t[0] - 1.0 / rate_hz], t[:-1]))
    omega = (rot(prev).inv() * r0).as_rotvec() / (t - prev)[:, None]
    up = r0.inv().apply([0.0, 0.0, 1.0])
    return Samples(t, G * up, omega), up


def run(samples: Samples, params: OrientationParams | None = None) -> OrientationResult:
    return OrientationEstimator(params).update(samples)


def test_constant_tilt_up_is_normalised_acc() -> None:
    n = 500
    acc = np.tile([1.0, -2.0, 9.0], (n, 1))
    res = run(Samples(np.arange(n) / 100.0, acc, np.zeros((n, 3))))
    np.testing.assert_allclose(res.up, acc / np.linalg.norm(acc[0]), atol=1e-12)
    assert res.rest[-1] and not res.rest[0]
    assert res.reinit[0] and not res.reinit[1:].any()


@pytest.mark.parametrize("rate_hz", [25.0, 100.0, 400.0])
def test_constant_rate_rotation_follows_analytic_up(rate_hz: float) -> None:
    omega = np.array([0.3, -0.5, 1.2])
    samples, up = constant_rotation(rate_hz, 30.0, omega, np.array([0.2, 0.1, 0.97]))
    res = run(samples)
    assert angle_deg(res.up, up).max() < 0.05


@pytest.mark.parametrize(("rate_hz", "jitter"), [(25.0, 0.0), (400.0, 0.0), (100.0, 0.4)])
def test_wobble_with_noise(rate_hz: float, jitter: float) -> None:
    samples, up = wobble(rate_hz, 60.0, jitter=jitter)
    rng = np.random.default_rng(1)
    noisy = Samples(
        samples.t,
        samples.acc + rng.normal(0, 0.05, samples.acc.shape),
        samples.gyro + rng.normal(0, 0.003, samples.gyro.shape),
    )
    res = run(noisy)
    err = angle_deg(res.up, up)
    assert err.max() < 1.0


def test_gyro_bias_step_at_rest_is_estimated() -> None:
    rate = 100.0
    n = int(120 * rate)
    t = np.arange(n) / rate
    acc = np.tile(G * np.array([0.3, 0.0, math.sqrt(1 - 0.09)]), (n, 1))
    bias = np.where(t[:, None] >= 30.0, [0.01, -0.02, 0.015], 0.0)
    res = run(Samples(t, acc, bias + np.random.default_rng(2).normal(0, 0.002, (n, 3))))
    after = t >= 60.0  # recovers within 30 s of the step
    np.testing.assert_allclose(res.bias[after], bias[after], atol=1e-3)
    assert angle_deg(res.up[after], acc[after]).max() < 0.2
    assert res.rest[t > 5].all()


def test_gyro_bias_in_motion_reduces_error() -> None:
    samples, up = wobble(100.0, 300.0, seed=3)
    b = np.array([0.008, -0.006, 0.004])
    biased = Samples(samples.t, samples.acc, samples.gyro + b)
    res = run(biased)
    no_bias = run(biased, OrientationParams(motion_drift_sd_rad=1e9))  # motion equations ignored
    late = samples.t > 200
    assert angle_deg(res.up[late], up[late]).mean() < 0.95 * angle_deg(no_bias.up[late], up[late]).mean()
    assert abs(res.bias[-1, 1] - b[1]) < 0.5 * abs(b[1])
    assert not res.rest.any()


def test_gap_reinitialises_from_accelerometer_and_keeps_bias() -> None:
    rate = 100.0
    t1 = np.arange(0, 40, 1 / rate)
    t2 = np.arange(42, 60, 1 / rate)
    t = np.concatenate([t1, t2])
    up_a = np.array([0.0, 0.0, 1.0])
    up_b = np.array([0.5, 0.0, math.sqrt(0.75)])
    acc = np.where((t < 41)[:, None], G * up_a, G * up_b)
    gyro = np.tile([0.01, 0.0, 0.0], (t.shape[0], 1))
    res = run(Samples(t, acc, gyro))
    k = t1.shape[0]
    assert res.reinit[0] and res.reinit[k] and res.reinit.sum() == 2
    np.testing.assert_allclose(res.up[k], up_b, atol=1e-12)
    # bias kept across the gap (learnt at rest before it)
    assert abs(res.bias[k - 1, 0] - 0.01) < 1e-3 and abs(res.bias[k, 0] - 0.01) < 1e-3


def test_gap_by_nominal_period() -> None:
    # 0.1 s gap at 400 Hz: shorter than gap_s but 40 periods
    t = np.concatenate([np.arange(0, 5, 1 / 400), np.arange(5.1, 8, 1 / 400)])
    n = t.shape[0]
    res = run(Samples(t, np.tile([0, 0, G], (n, 1)), np.zeros((n, 3))))
    assert res.reinit.sum() == 2


def test_rejects_non_increasing_time() -> None:
    est = OrientationEstimator()
    est.update(Samples(np.array([0.0, 0.01]), np.tile([0, 0, G], (2, 1)), np.zeros((2, 3))))
    with pytest.raises(ValueError, match="increasing"):
        est.update(Samples(np.array([0.01]), np.array([[0, 0, G]]), np.zeros((1, 3))))


def test_params_validation() -> None:
    with pytest.raises(ValueError, match="tau_acc_s"):
        OrientationParams(tau_acc_s=0.0)
    with pytest.raises(ValueError, match="rest_min_s"):
        OrientationParams(rest_min_s=-1.0)


def test_reset_gives_same_results() -> None:
    samples, _ = wobble(100.0, 20.0)
    est = OrientationEstimator()
    a = est.update(samples)
    est.reset()
    b = est.update(samples)
    np.testing.assert_array_equal(a.up, b.up)


_SAMPLES, _ = wobble(100.0, 80.0, seed=5, jitter=0.3)
_NOISY = Samples(
    # a gap, bias, noise and walking-like accelerations, so that every code path runs
    np.concatenate([_SAMPLES.t[:4000], _SAMPLES.t[4000:] + 1.0]),
    _SAMPLES.acc + 2.0 * np.sin(2 * np.pi * 1.8 * _SAMPLES.t)[:, None] * [1, 0.3, 0.5],
    np.add(_SAMPLES.gyro, [0.01, -0.005, 0.002]),
)
_NOISY = Samples(
    np.concatenate([_NOISY.t[:6000], _NOISY.t[6000:] + 3.0]),
    np.concatenate([_NOISY.acc[:6000], np.tile([0, 0.1, G + 0.2], (_NOISY.t.shape[0] - 6000, 1))]),
    np.concatenate([_NOISY.gyro[:6000], np.tile([0.01, -0.005, 0.002], (_NOISY.t.shape[0] - 6000, 1))]),
)
_CAL = OrientationParams(acc_bias_prior_sd_mps2=ACCEL_CALIBRATION_ON)  # every code path, the calibration too
_WHOLE = OrientationEstimator(_CAL).update(_NOISY)


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=40), st.booleans())
def test_chunk_invariance(sizes: list[int], singles: bool) -> None:
    est = OrientationEstimator(_CAL)
    parts = []
    i, j = 0, 0
    n = len(_NOISY)
    while i < n:
        k = 1 if singles and j % 7 == 0 else sizes[j % len(sizes)]
        parts.append(est.update(_NOISY.slice(i, i + k)))
        i += k
        j += 1
    res = OrientationResult.concat(parts)
    assert _WHOLE.rest.any() and _WHOLE.reinit.sum() == 3 and _WHOLE.acc_gain[-1] > 0.01
    np.testing.assert_allclose(res.up, _WHOLE.up, atol=1e-9, rtol=0)
    np.testing.assert_allclose(res.bias, _WHOLE.bias, atol=1e-9, rtol=0)
    np.testing.assert_allclose(res.acc_gain, _WHOLE.acc_gain, atol=1e-12, rtol=0)
    np.testing.assert_allclose(res.acc_across, _WHOLE.acc_across, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(res.rest, _WHOLE.rest)
    np.testing.assert_array_equal(res.reinit, _WHOLE.reinit)


@pytest.mark.parametrize("max_chunk", [1, 3, 20])
def test_small_chunks_match_batch(max_chunk: int) -> None:
    # chunks of up to 8 samples take the per-sample plain-float step; it must give the batch path's numbers
    rng = np.random.default_rng(max_chunk)
    est = OrientationEstimator(_CAL)
    parts = []
    i = 0
    while i < len(_NOISY):
        k = int(rng.integers(1, max_chunk + 1))
        parts.append(est.update(_NOISY.slice(i, i + k)))
        i += k
    res = OrientationResult.concat(parts)
    np.testing.assert_allclose(res.up, _WHOLE.up, atol=1e-9, rtol=0)
    np.testing.assert_allclose(res.bias, _WHOLE.bias, atol=1e-9, rtol=0)
    np.testing.assert_allclose(res.acc_gain, _WHOLE.acc_gain, atol=1e-12, rtol=0)
    np.testing.assert_allclose(res.acc_across, _WHOLE.acc_across, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(res.rest, _WHOLE.rest)
    np.testing.assert_array_equal(res.reinit, _WHOLE.reinit)


def test_small_chunk_rejects_bad_input() -> None:
    est = OrientationEstimator()
    with pytest.raises(ValueError, match="NaN"):
        est.update(Samples(np.array([0.0]), np.array([[0.0, 0.0, np.nan]]), np.zeros((1, 3))))
    est.update(Samples(np.array([0.0, 0.01]), np.tile([0, 0, G], (2, 1)), np.zeros((2, 3))))
    with pytest.raises(ValueError, match="increasing"):
        est.update(Samples(np.array([0.02, 0.02]), np.tile([0, 0, G], (2, 1)), np.zeros((2, 3))))


@pytest.mark.parametrize("where", ["first", "after_gap"])
def test_all_zero_sample_first_or_after_a_gap_does_not_crash(where: str) -> None:
    # issue #11 row 2: an all-zero sample (a sensor glitch, a reconnect) where the attitude initialises from
    # the accelerometer used to raise ZeroDivisionError in replay and analyze
    rate = 100.0
    t = np.arange(1000) / rate
    t[500:] += 1.0  # a 1 s gap: sample 500 re-initialises
    acc = np.tile(G * np.array([0.0, math.sin(0.2), math.cos(0.2)]), (1000, 1))
    gyro = np.zeros((1000, 3))
    k = 0 if where == "first" else 500
    acc[k] = 0.0
    for chunks in ([1000], [1] * 1000):
        est = OrientationEstimator()
        res = OrientationResult.concat(
            [
                est.update(Samples(t[s : s + c], acc[s : s + c], gyro[s : s + c]))
                for s, c in zip(np.cumsum([0, *chunks[:-1]]), chunks, strict=True)
            ]
        )
        assert np.isfinite(res.up).all()
        np.testing.assert_allclose(np.linalg.norm(res.up, axis=1), 1.0, atol=1e-12)
        assert res.reinit[k]
        # within a few samples the zero is outvoted by the running mean of the start
        assert angle_deg(res.up[k + 5 :], acc[k + 5 :]).max() < 0.05


def test_per_sample_live_path_equals_batch() -> None:
    # the live path feeds one sample per call; it must give what one call over the recording gives
    samples, _ = wobble(100.0, 40.0, seed=7)
    biased = Samples(samples.t, samples.acc, samples.gyro + np.array([0.02, -0.01, 0.03]))
    batch = run(biased)
    est = OrientationEstimator()
    one = [Samples(biased.t[k : k + 1], biased.acc[k : k + 1], biased.gyro[k : k + 1]) for k in range(len(biased))]
    live = OrientationResult.concat([est.update(s) for s in one])
    np.testing.assert_allclose(live.up, batch.up, atol=1e-9, rtol=0)
    np.testing.assert_allclose(live.bias, batch.bias, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(live.rest, batch.rest)


def test_power_on_bias_of_3_deg_per_s_is_learnt_at_rest_and_tilt_converges_within_30_s() -> None:
    rate = 100.0
    n = int(90 * rate)
    t = np.arange(n) / rate
    up_true = np.array([0.3, -0.2, 0.93])
    up_true /= np.linalg.norm(up_true)
    rng = np.random.default_rng(5)
    bias = np.radians([3.0, -3.0, 2.5])
    acc = G * up_true + rng.normal(0, 0.02, (n, 3))
    res = run(Samples(t, acc, bias + rng.normal(0, 0.005, (n, 3))))
    after = t >= 30.0
    assert angle_deg(res.up[after], np.tile(up_true, (int(after.sum()), 1))).max() < 1.0
    np.testing.assert_allclose(res.bias[-1], bias, atol=np.radians(0.05))


def test_offline_path_uses_hindsight_and_beats_live_on_a_biased_wobble() -> None:
    samples, up = wobble(100.0, 120.0, seed=4)
    still = 20 * 100
    # 20 s of rest at the start and the end show the bias; the motion between is a wobble
    acc = np.concatenate((np.tile(samples.acc[0], (still, 1)), samples.acc, np.tile(samples.acc[-1], (still, 1))))
    gyro = np.concatenate((np.zeros((still, 3)), samples.gyro, np.zeros((still, 3)))) + np.radians([1.0, -0.5, 0.8])
    truth = np.concatenate((np.tile(up[0], (still, 1)), up, np.tile(up[-1], (still, 1))))
    t = np.arange(acc.shape[0]) / 100.0
    live = estimate_up(t, gyro, acc)
    offline = estimate_up(t, gyro, acc, offline=True)
    np.testing.assert_allclose(live, run(Samples(t, acc, gyro)).up, atol=0, rtol=0)
    e_live, e_off = angle_deg(live, truth), angle_deg(offline, truth)
    assert np.sqrt(np.mean(e_off**2)) < np.sqrt(np.mean(e_live**2))
    np.testing.assert_allclose(np.linalg.norm(offline, axis=1), 1.0, atol=1e-12)


def test_sensor_put_on_with_fast_rotations_does_not_spoil_the_start_up_bias() -> None:
    # the first seconds of a recording are often the sensor being clipped on: fast rotations while the gravity
    # low-pass is still a running mean. The bias must not be "learnt" from them (HAPT showed 8 °/s jumps).
    rate = 50.0
    t = np.arange(int(60 * rate)) / rate
    fade = np.clip(1.0 - t / 3.0, 0.0, 1.0) ** 2  # motion for 3 s, then still

    def rot(tt: np.ndarray) -> Rotation:
        f = np.clip(1.0 - tt / 3.0, 0.0, 1.0) ** 2
        return Rotation.from_euler(
            "zyx", np.stack([2.0 * f * np.sin(3 * tt), f * np.sin(4 * tt + 1), 0.3 + 0.8 * f * np.sin(5 * tt)], 1)
        )

    r0 = rot(t)
    prev = np.concatenate(([t[0] - 1.0 / rate], t[:-1]))
    omega = (rot(prev).inv() * r0).as_rotvec() / (t - prev)[:, None]
    up = r0.inv().apply([0.0, 0.0, 1.0])
    bias = np.radians([1.5, -2.0, 1.0])
    rng = np.random.default_rng(11)
    # and the hand that clips it on accelerates it (up to ~3 m/s², as on HAPT's first seconds)
    shake = 3.0 * fade[:, None] * np.stack([np.sin(7 * t), np.cos(9 * t + 1), np.sin(11 * t + 2)], 1)
    acc = G * up + shake + rng.normal(0, 0.03, up.shape)
    res = run(Samples(t, acc, omega + bias + rng.normal(0, 0.004, omega.shape)))
    assert np.degrees(np.abs(omega[t < 2.5]).max()) > 100.0 and fade[-1] == 0.0
    assert np.degrees(np.abs(res.bias - bias).max(axis=1)).max() < 2.5  # never a wild jump
    later = t >= 20.0
    assert np.degrees(np.abs(res.bias[later] - bias).max()) < 0.2
    assert angle_deg(res.up[t >= 15.0], up[t >= 15.0]).max() < 0.5


def _windowed(h: HindsightUp, samples: Samples, chunk: int) -> tuple[np.ndarray, int]:
    """Feed ``samples`` in chunks; returns the released up vectors and the largest buffer seen (samples)."""
    ups, biggest = [], 0
    for i in range(0, len(samples), chunk):
        released = h.push(samples.slice(i, i + chunk))
        biggest = max(biggest, h._n)
        ups.extend(h.update(piece) for piece in released)
    ups.extend(h.update(piece) for piece in h.finish())
    return np.concatenate(ups), biggest


def test_hindsight_windows_match_whole_recording_smoothing_in_bounded_memory() -> None:
    # 5 min of biased wobble between rests: windows of 60 s with 20 s of context each side
    samples, up = wobble(50.0, 300.0, seed=7)
    still = 20 * 50
    acc = np.concatenate((np.tile(samples.acc[0], (still, 1)), samples.acc, np.tile(samples.acc[-1], (still, 1))))
    gyro = np.concatenate((np.zeros((still, 3)), samples.gyro, np.zeros((still, 3)))) + np.radians([1.0, -0.5, 0.8])
    truth = np.concatenate((np.tile(up[0], (still, 1)), up, np.tile(up[-1], (still, 1))))
    rec = Samples(np.arange(acc.shape[0]) / 50.0, acc, gyro)
    whole = estimate_up(rec.t, gyro, acc, offline=True)
    a, biggest_a = _windowed(HindsightUp(50.0, window_s=60.0, margin_s=20.0), rec, 1000)
    b, _ = _windowed(HindsightUp(50.0, window_s=60.0, margin_s=20.0), rec, 37)
    assert a.shape == truth.shape
    np.testing.assert_array_equal(a, b)  # independent of the input's chunking
    assert biggest_a <= (60 + 2 * 20) * 50 + 1000  # window + context + one chunk, not the recording
    # hindsight quality is kept: close to smoothing the whole recording, and better than the live path
    e_win, e_whole = angle_deg(a, truth), angle_deg(whole, truth)
    e_live = angle_deg(estimate_up(rec.t, gyro, acc), truth)
    assert np.sqrt(np.mean(e_win**2)) < 1.6 * np.sqrt(np.mean(e_whole**2))
    assert np.sqrt(np.mean(e_win**2)) < np.sqrt(np.mean(e_live**2))


def test_hindsight_update_rejects_a_piece_it_did_not_release() -> None:
    samples, _ = wobble(50.0, 10.0)
    h = HindsightUp(50.0, window_s=4.0, margin_s=1.0)
    with pytest.raises(ValueError, match="no released piece"):
        h.update(samples)
    pieces = h.push(samples)
    with pytest.raises(ValueError, match="not the next piece"):
        h.update(samples.slice(1, 1 + len(pieces[0])))


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("offline", [False, True])
def test_very_short_recordings_give_the_accelerometer_vertical(n: int, offline: bool) -> None:
    """A recording of one to three samples (a cut-off file) is one block: no crash on either path."""
    t = np.arange(n) * 0.01
    acc = np.tile([0.0, 0.0, STANDARD_GRAVITY], (n, 1))
    up = estimate_up(t, np.zeros((n, 3)), acc, offline=offline)
    assert up.shape == (n, 3)
    np.testing.assert_allclose(up, np.tile([0.0, 0.0, 1.0], (n, 1)), atol=1e-9)


@pytest.mark.parametrize(
    "params",
    [
        OrientationParams(),
        OrientationParams(rate_hz=100.0, latency_s=0.02),
        OrientationParams(acc_bias_prior_sd_mps2=0.0),  # the accelerometer calibration off
    ],
)
def test_plain_float_live_step_matches_the_array_path(
    params: OrientationParams, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one sample per call takes the plain-float step (OrientationEstimator._step) where it applies; the same
    # one-sample chunks through the numpy path (_FAST_STEPS = 0) must give the same numbers. The first 6500
    # samples of _NOISY hold two gaps, motion, a rest onset and (rate_hz None) new nominal periods.
    n = 6500
    taken = _count_steps(monkeypatch)
    est = OrientationEstimator(params)
    fast = OrientationResult.concat([est.update(_NOISY.slice(k, k + 1)) for k in range(n)])
    monkeypatch.setattr(orientation, "_FAST_STEPS", 0)
    est = OrientationEstimator(params)
    slow = OrientationResult.concat([est.update(_NOISY.slice(k, k + 1)) for k in range(n)])
    assert len(taken) == n and 0.85 < np.mean(taken) < 1.0  # mostly the step, the rest the general path
    assert slow.rest.any() and slow.reinit.sum() == 3
    np.testing.assert_allclose(fast.up, slow.up, atol=1e-12, rtol=0)
    np.testing.assert_allclose(fast.bias, slow.bias, atol=1e-12, rtol=0)
    np.testing.assert_allclose(fast.acc_gain, slow.acc_gain, atol=1e-12, rtol=0)
    np.testing.assert_allclose(fast.acc_across, slow.acc_across, atol=1e-12, rtol=0)
    np.testing.assert_array_equal(fast.t, slow.t)
    np.testing.assert_array_equal(fast.rest, slow.rest)
    np.testing.assert_array_equal(fast.reinit, slow.reinit)


def test_small_chunk_with_a_time_step_back_is_rejected_whole() -> None:
    # the per-sample path checks the whole chunk first: a rejected chunk leaves the estimator as it was
    t = np.arange(400) / 100.0
    acc = np.tile([0.0, 0.0, G], (400, 1))
    gyro = np.zeros((400, 3))
    a, b = OrientationEstimator(), OrientationEstimator()
    a.update(Samples(t[:300], acc[:300], gyro[:300]))
    b.update(Samples(t[:300], acc[:300], gyro[:300]))
    with pytest.raises(ValueError, match="increasing"):
        a.update(Samples(np.array([t[300], t[300]]), acc[300:302], gyro[300:302]))
    np.testing.assert_array_equal(
        a.update(Samples(t[300:], acc[300:], gyro[300:])).up, b.update(Samples(t[300:], acc[300:], gyro[300:])).up
    )


def stand_sit_stand(rate_hz: float, acc_bias: np.ndarray) -> tuple[Samples, np.ndarray]:
    """20 s standing (up = z), 2 s turning 20° about x, 30 s sitting, 2 s back, 20 s standing; the accelerometer
    reads ``G up + acc_bias`` (m/s²) plus a little noise. Returns the samples and the true up (n, 3)."""
    pieces = [(20.0, 0.0), (2.0, 10.0), (30.0, 0.0), (2.0, -10.0), (20.0, 0.0)]  # (seconds, deg/s about x)
    rate = np.concatenate([np.full(round(s * rate_hz), math.radians(w)) for s, w in pieces])
    n = rate.shape[0]
    angle = np.concatenate(([0.0], np.cumsum(rate[1:]) / rate_hz))
    up = np.stack((np.zeros(n), np.sin(angle), np.cos(angle)), axis=1)  # R_x(angle)ᵀ e_z
    rng = np.random.default_rng(3)
    acc = G * up + acc_bias + rng.normal(0.0, 0.01, (n, 3))
    gyro = np.stack((rate, np.zeros(n), np.zeros(n)), axis=1) + rng.normal(0.0, 0.002, (n, 3))
    return Samples(np.arange(n) / rate_hz, acc, gyro), up


def test_accelerometer_norm_error_at_rest_is_removed_in_sitting_and_standing_does_not_turn() -> None:
    # 40 mg along the standing vertical (a bias, or a sensitivity error there: the two read the same) tilts
    # the sitting vertical by 0.04 sin 20° rad = 0.78°; the calibration from rests removes most of it.
    samples, up = stand_sit_stand(100.0, np.array([0.0, 0.0, 0.04 * G]))
    t = samples.t
    sitting = (t > 30.0) & (t < 50.0)
    standing = t > 60.0
    raw = angle_deg(samples.acc, up)[sitting].mean()
    assert raw > 0.7
    live = run(samples, _CAL)
    assert angle_deg(live.up, up)[sitting].mean() < 0.25 * raw
    # the reference posture (the first rest's) keeps the accelerometer's own direction: a neutral calibration
    # read from the raw accelerometer there stays valid
    mean_acc = samples.acc[standing].mean(axis=0)
    assert angle_deg(live.up[standing].mean(axis=0)[None, :], mean_acc[None, :])[0] < 0.01
    assert live.acc_gain[-1] == pytest.approx(0.04 / 1.04, rel=0.05)  # |a| - g over g, along the vertical
    offline = estimate_up(t, samples.gyro, samples.acc, offline=True, params=_CAL)
    assert angle_deg(offline, up)[sitting].mean() < 0.25 * raw
    # analyze's windows release the calibrated accelerometer (so the epochs' mean agrees with up)
    h = HindsightUp(
        100.0,
        window_s=30.0,
        margin_s=10.0,
        params=OrientationParams(rate_hz=100.0, acc_bias_prior_sd_mps2=ACCEL_CALIBRATION_ON),
    )
    released = Samples.concat(h.push(samples) + h.finish())
    assert abs(np.linalg.norm(released.acc[standing].mean(axis=0)) - G) < 0.05 < 0.04 * G
    # the live path is still one call = one sample per call
    est = OrientationEstimator(_CAL)
    one = OrientationResult.concat([est.update(samples.slice(k, k + 1)) for k in range(0, len(samples))])
    np.testing.assert_allclose(one.up, live.up, atol=1e-9, rtol=0)
    np.testing.assert_allclose(one.acc_gain, live.acc_gain, atol=1e-12, rtol=0)


def test_accelerometer_calibration_is_on_by_default_and_can_be_switched_off() -> None:
    samples, up = stand_sit_stand(50.0, np.array([0.0, 0.03 * G, 0.04 * G]))
    sitting = (samples.t > 30.0) & (samples.t < 50.0)
    on = run(samples)
    assert on.acc_gain[-1] > 0.02 and np.abs(on.acc_across[-1]).max() > 0.1  # 40 mg along, 30 mg across
    off = run(samples, OrientationParams(acc_bias_prior_sd_mps2=0.0))
    assert not off.acc_gain.any() and not off.acc_across.any()
    assert angle_deg(off.up, samples.acc)[sitting].mean() < 0.1  # off: follows the raw accelerometer
    # on: the angle from standing (where the bias was first seen) to sitting, 20° in truth, is nearer the truth
    standing = samples.t < 18.0

    def turn_deg(u: np.ndarray) -> float:
        return float(angle_deg(u[standing].mean(axis=0)[None], u[sitting].mean(axis=0)[None])[0])

    err_on, err_off = abs(turn_deg(on.up) - turn_deg(up)), abs(turn_deg(off.up) - turn_deg(up))
    assert err_on < 0.5 * err_off, (err_on, err_off)


def test_accelerometer_bias_across_the_vertical_is_learnt_from_sitting_and_standing_still_reads_raw() -> None:
    # 30 mg in the tilt plane across the standing vertical and 40 mg along it: rests 20° apart (sitting and
    # standing) show both; the part across is removed too, while the standing output stays the raw direction
    bias = np.array([0.0, 0.03 * G, 0.04 * G])
    samples, up = stand_sit_stand(100.0, bias)
    t = samples.t
    live = run(samples, _CAL)
    late = t > 60.0  # standing again, after the sitting showed the bias across
    assert live.acc_across[t < 20.0].max() == 0.0  # nothing across before the rests span 10°
    # sitting against standing: the raw accelerometer is off by ~0.8°, the estimate by much less
    sitting = (t > 30.0) & (t < 50.0)
    tilt = angle_deg(live.up[sitting].mean(axis=0)[None, :], live.up[late].mean(axis=0)[None, :])[0]
    raw_tilt = angle_deg(samples.acc[sitting].mean(axis=0)[None, :], samples.acc[late].mean(axis=0)[None, :])[0]
    true_tilt = angle_deg(up[sitting].mean(axis=0)[None, :], up[late].mean(axis=0)[None, :])[0]
    assert abs(raw_tilt - true_tilt) > 0.5 and abs(tilt - true_tilt) < 0.3 * abs(raw_tilt - true_tilt)
    assert live.acc_across[-1, 1] == pytest.approx(bias[1], rel=0.4)
    u0 = samples.acc[(t > 2.0) & (t < 19.0)].mean(axis=0)
    assert abs(live.acc_across[-1] @ u0) < 1e-3 * G and abs(live.acc_across[-1, 0]) < 0.02  # across u0, in the plane
    mean_acc = samples.acc[late].mean(axis=0)
    assert angle_deg(live.up[late].mean(axis=0)[None, :], mean_acc[None, :])[0] < 0.01
    est = OrientationEstimator(_CAL)
    one = OrientationResult.concat([est.update(samples.slice(k, k + 7)) for k in range(0, len(samples), 7)])
    np.testing.assert_allclose(one.up, live.up, atol=1e-9, rtol=0)
    np.testing.assert_allclose(one.acc_across, live.acc_across, atol=1e-12, rtol=0)


def _simulated(scenario: str, seed: int, rate_hz: float, ideal: bool = False) -> tuple[Samples, np.ndarray, np.ndarray]:
    """A simulated wearer (the default cheap sensor, or an ideal one): the samples, the true vertical in the sensor
    frame and the walking mask."""
    from sensor.simulate import SensorModel, parse_scenario, simulate

    sensor = SensorModel.ideal(rate_hz=rate_hz) if ideal else SensorModel(rate_hz=rate_hz)
    samples, truth = simulate(parse_scenario(scenario), sensor, seed=seed)
    return samples, truth.sensor_to_world()[:, 2, :], truth.activity == "walking"


def _walk_off(seed: int) -> tuple[Samples, np.ndarray, np.ndarray]:
    """Ideal sensor, 100 Hz: standing still, then walking off, stopping and walking again."""
    return _simulated("stand 20 tilt=0, walk 20, stand 15, walk 15", seed, 100.0, ideal=True)


def _turning_walk(seed: int, rate_hz: float = 50.0, ideal: bool = False) -> tuple[Samples, np.ndarray, np.ndarray]:
    """Standing, then 4 min of walking with the simulator's turns, standing and walking again."""
    return _simulated("stand 20 tilt=0, walk 240, stand 15, walk 120", seed, rate_hz, ideal)


def _pooled_rms_on_off(
    runs: list[tuple[Samples, np.ndarray, np.ndarray]], on: OrientationParams, off: OrientationParams, offline: bool
) -> tuple[float, float]:
    """Inclination RMS (deg) with ``on`` and with ``off``, pooled over ``runs`` of (samples, true up, scored mask)."""
    sq: dict[str, list[np.ndarray]] = {"on": [], "off": []}
    for samples, up_true, scored in runs:
        for name, params in (("on", on), ("off", off)):
            up = estimate_up(samples.t, samples.gyro, samples.acc, offline=offline, params=params)
            sq[name].append(angle_deg(up, up_true)[scored] ** 2)
    rms_on, rms_off = (float(np.sqrt(np.mean(np.concatenate(sq[k])))) for k in ("on", "off"))
    return rms_on, rms_off


def _first_steps(samples: Samples, walking: np.ndarray) -> np.ndarray:
    """The first 8 s of every walk."""
    starts = samples.t[np.flatnonzero(walking[1:] & ~walking[:-1]) + 1]
    mask: np.ndarray = walking & np.any(np.abs(samples.t[:, None] - (starts + 4.0)[None, :]) < 4.0, axis=1)
    return mask


def _count_steps(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, per call of the plain-float step, whether it took the sample (not None)."""
    taken: list[bool] = []
    step = OrientationEstimator._step

    def counted(self: OrientationEstimator, t: float, acc: list[float], gyro: list[float]) -> object:
        row = step(self, t, acc, gyro)
        taken.append(row is not None)
        return row

    monkeypatch.setattr(OrientationEstimator, "_step", counted)
    return taken


def test_setting_off_from_rest_is_not_taken_for_a_tilt() -> None:
    # the first steps change the body's velocity by ~1 m/s; fed to the gravity low-pass that reads as a 2-3° dip
    # lasting seconds. With rest_hold_s the gyro carries the vertical over them (live and hindsight). Pooled
    # over five simulated wearers, the first 8 s of every walk.
    off = OrientationParams(rate_hz=100.0, rest_hold_s=0.0)
    on = OrientationParams(rate_hz=100.0)
    assert on.rest_hold_s > 0.0
    runs = []
    for seed in (3, 4, 5, 6, 7):
        samples, up_true, walking = _walk_off(seed)
        runs.append((samples, up_true, _first_steps(samples, walking)))
    for offline in (False, True):
        rms_on, rms_off = _pooled_rms_on_off(runs, on, off, offline)
        assert rms_on < 0.85 * rms_off, (offline, rms_on, rms_off)


def test_plain_float_step_holds_after_rest_as_the_array_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # rests that end in walking: the plain-float step's hold after a rest gives the array path's numbers
    samples, _, _ = _walk_off(3)
    n = len(samples)
    taken = _count_steps(monkeypatch)
    params = OrientationParams(rate_hz=100.0)
    est = OrientationEstimator(params)
    fast = OrientationResult.concat([est.update(samples.slice(k, k + 1)) for k in range(n)])
    whole = OrientationEstimator(params).update(samples)
    rest_ends = np.flatnonzero(whole.rest[:-1] & ~whole.rest[1:])
    assert rest_ends.size >= 2 and np.mean(taken) > 0.9
    np.testing.assert_allclose(fast.up, whole.up, atol=1e-9, rtol=0)
    np.testing.assert_array_equal(fast.rest, whole.rest)


def _turning_walk(seed: int, rate_hz: float = 50.0, ideal: bool = False) -> tuple[Samples, np.ndarray, np.ndarray]:
    """A simulated wearer (the default cheap sensor, or an ideal one) who stands, then walks for 4 min with the
    simulator's turns, stands and walks again: the samples, the true vertical in the sensor frame and the walking
    mask."""
    from sensor.simulate import SensorModel, parse_scenario, simulate

    sensor = SensorModel.ideal(rate_hz=rate_hz) if ideal else SensorModel(rate_hz=rate_hz)
    samples, truth = simulate(parse_scenario("stand 20 tilt=0, walk 240, stand 15, walk 120"), sensor, seed=seed)
    return samples, truth.sensor_to_world()[:, 2, :], truth.activity == "walking"


def test_walking_turns_are_not_taken_for_a_tilt() -> None:
    # a turn presses the accelerometer sideways by ω × v (2-3 m/s²), which the gravity low-pass reads as a tilt;
    # the turn compensation learns v from the turns and removes it (live and hindsight). Pooled over 3 wearers
    # with an ideal sensor (the cheap one's accelerometer bias would dominate the absolute vertical).
    off = OrientationParams(rate_hz=50.0, turn_memory=0.0)
    on = OrientationParams(rate_hz=50.0)
    assert on.turn_memory > 0.0
    runs = [_turning_walk(seed, ideal=True) for seed in (3, 4, 5)]
    for offline in (False, True):
        rms_on, rms_off = _pooled_rms_on_off(runs, on, off, offline)
        assert rms_on < 0.9 * rms_off, (offline, rms_on, rms_off)


def test_turn_compensation_stays_off_without_walking_turns() -> None:
    # wobbling and shaking by hand (no steps with turns about a steady vertical): nothing is learnt
    est = OrientationEstimator()
    est.update(_NOISY)
    assert est.state.turns.c == (0.0, 0.0, 0.0) and est.state.turns.turns == 0


def test_turn_compensation_is_the_same_per_sample_and_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    samples, _, _ = _turning_walk(3, rate_hz=25.0)
    params = OrientationParams(rate_hz=25.0)
    whole_est = OrientationEstimator(params)
    whole = whole_est.update(samples)
    assert whole_est.state.turns.turns >= 2  # the compensation is active in this recording
    off = OrientationEstimator(OrientationParams(rate_hz=25.0, turn_memory=0.0)).update(samples)
    assert np.abs(whole.up - off.up).max() > 1e-3
    rng = np.random.default_rng(0)
    est = OrientationEstimator(params)
    parts, i = [], 0
    while i < len(samples):
        k = int(rng.integers(1, 400))
        parts.append(est.update(samples.slice(i, i + k)))
        i += k
    np.testing.assert_allclose(OrientationResult.concat(parts).up, whole.up, atol=1e-9, rtol=0)
    # one sample per call: the plain-float step against the array path
    n = 6000
    est = OrientationEstimator(params)
    fast = OrientationResult.concat([est.update(samples.slice(k, k + 1)) for k in range(n)])
    monkeypatch.setattr(orientation, "_FAST_STEPS", 0)
    est = OrientationEstimator(params)
    slow = OrientationResult.concat([est.update(samples.slice(k, k + 1)) for k in range(n)])
    np.testing.assert_allclose(fast.up, slow.up, atol=1e-12, rtol=0)
