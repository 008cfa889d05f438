"""Exercise detection (pelvic-tilt drills, glute bridges) on simulated wearers, through the real pipeline."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from processing.activity import ACTIVITIES, WALKING
from processing.exercise import ExerciseBout, ExerciseDetector, ExerciseParams, detect_exercise
from processing.pipeline import Epochs, Pipeline, PipelineParams
from sensor.simulate import SensorModel, parse_scenario, scenario_random, scenario_workday, simulate

RATE_HZ = 25.0


@cache
def _epochs(spec: str, seed: int) -> Epochs:
    """The pipeline's epochs for a scenario (calibrated from its first 18 s of neutral standing)."""
    segments = parse_scenario(spec) if spec not in ("workday", "random") else None
    if spec == "workday":
        segments = scenario_workday(seed)
    elif spec == "random":
        segments = scenario_random(180, seed)
    assert segments is not None
    samples, _ = simulate(segments, SensorModel.ideal(rate_hz=RATE_HZ), seed=seed)
    pipeline = Pipeline(PipelineParams(rate_hz=RATE_HZ, neutral=(2.0, 18.0)))
    parts = [pipeline.update(samples).epochs, pipeline.finish().epochs]
    return Epochs.concat(parts)


def _bouts(spec: str, seed: int = 1) -> list[ExerciseBout]:
    e = _epochs(spec, seed)
    return detect_exercise(e.t, e.tilt_deg, e.activity)


STANDING_DRILL = "stand 20, walk 30, stand 90 rock_deg=20 rock_hz=0.25, walk 30, sit 60"
SUPINE_BRIDGES = "stand 20, walk 30, lie 120 rock_deg=16 rock_hz=0.2, sit 30"


def test_standing_pelvic_tilts_are_one_bout_of_about_their_length() -> None:
    (bout,) = _bouts(STANDING_DRILL)
    # the drill runs 50..140 s (its first second is the step into it)
    assert 50.0 <= bout.start_s <= 56.0 and 134.0 <= bout.end_s <= 141.0
    assert bout.rate_hz == pytest.approx(0.25, abs=0.03)
    assert 12.0 <= bout.swing_deg <= 20.0  # epoch means of a 20° peak-to-peak rocking
    assert bout.cycles >= 20


def test_supine_glute_bridges_count_while_lying() -> None:
    e = _epochs(SUPINE_BRIDGES, 1)
    (bout,) = detect_exercise(e.t, e.tilt_deg, e.activity)
    inside = (e.t >= bout.start_s) & (e.t < bout.end_s)
    assert np.mean(e.activity[inside] == ACTIVITIES.index("lying")) > 0.9
    assert 50.0 <= bout.start_s <= 58.0 and 160.0 <= bout.end_s <= 171.0
    assert bout.rate_hz == pytest.approx(0.2, abs=0.03)


@pytest.mark.parametrize(
    ("rock", "found"),
    [
        ("rock_deg=10 rock_hz=0.4", True),  # quick and small: still seen through 1 s epochs
        ("rock_deg=25 rock_hz=0.1", True),  # slow and full range
        ("rock_deg=4 rock_hz=0.25", False),  # too small to be a drill (sway, weight shifts)
        ("rock_deg=20 rock_hz=0.03", False),  # too slow to be rhythmic
    ],
)
def test_amplitude_and_rate_limits(rock: str, found: bool) -> None:
    bouts = _bouts(f"stand 20, walk 30, stand 70 {rock}, sit 30")
    assert bool(bouts) is found


def test_a_drill_shorter_than_30_s_does_not_count() -> None:
    assert _bouts("stand 20, walk 30, stand 22 rock_deg=20 rock_hz=0.25, sit 30") == []


@pytest.mark.parametrize("seed", [0, 1])
def test_no_exercise_in_a_workday_of_walking_sitting_fidgets_and_anterior_tilt(seed: int) -> None:
    assert _bouts("workday", seed) == []


@pytest.mark.parametrize("seed", [3, 4])
def test_no_exercise_in_random_daily_life(seed: int) -> None:
    assert _bouts("random", seed) == []


def test_walking_and_missing_tilt_end_a_run() -> None:
    t = np.arange(200.0)
    tilt = 10.0 * np.sin(2 * np.pi * 0.2 * t)
    standing = np.full(200, ACTIVITIES.index("standing"), np.int8)
    (whole,) = detect_exercise(t, tilt, standing)
    assert whole.duration_s > 190
    activity = standing.copy()
    activity[100:110] = WALKING
    first, second = detect_exercise(t, tilt, activity)
    assert first.end_s <= 100.0 and second.start_s >= 110.0
    holes = tilt.copy()
    holes[100:103] = np.nan
    assert len(detect_exercise(t, holes, standing)) == 2
    gap_t = t.copy()
    gap_t[100:] += 30.0
    assert len(detect_exercise(gap_t, tilt, standing)) == 2


def test_chunk_invariance() -> None:
    e = _epochs(STANDING_DRILL + ", " + SUPINE_BRIDGES, 2)
    whole = detect_exercise(e.t, e.tilt_deg, e.activity)
    assert len(whole) == 2
    rng = np.random.default_rng(0)
    for _ in range(3):
        detector = ExerciseDetector()
        got: list[ExerciseBout] = []
        cuts = np.sort(rng.choice(np.arange(1, len(e)), size=25, replace=False))
        for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(e)], strict=True):
            got += detector.update(e.t[lo:hi], e.tilt_deg[lo:hi], e.activity[lo:hi])
        got += detector.finish()
        assert got == whole


def test_current_s_shows_a_bout_in_progress() -> None:
    t = np.arange(60.0)
    tilt = 10.0 * np.sin(2 * np.pi * 0.25 * t + 0.5)
    detector = ExerciseDetector()
    assert detector.update(t[:20], tilt[:20], np.full(20, 2, np.int8)) == []
    assert detector.current_s == 0.0  # not yet 30 s
    assert detector.update(t[20:], tilt[20:], np.full(40, 2, np.int8)) == []
    in_progress = detector.current_s
    assert in_progress >= 50.0
    (bout,) = detector.finish()
    assert bout.duration_s == in_progress
    assert detector.current_s == 0.0


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="min_half_s"):
        ExerciseParams(min_half_s=5.0, max_half_s=2.0)
    with pytest.raises(ValueError, match="min_swing_deg"):
        ExerciseParams(min_swing_deg=0.0)
