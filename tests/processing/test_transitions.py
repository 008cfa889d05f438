"""Postural transitions: the vertical displacement between two rests, on exact profiles and on the simulator."""

from __future__ import annotations

import math

import numpy as np
import pytest

from processing.calibration import Calibration, pelvic_angles
from processing.features import EpochFeatures, FeatureExtractor
from processing.gravity import make_up_estimator
from processing.transitions import Transition, TransitionDetector
from sensor.simulate import SensorModel, parse_scenario, simulate

UP = (0.0, 0.0, 1.0)


def feed(det: TransitionDetector, epochs: list[tuple[bool, float, float]], *, bias: float = 0.0) -> list[Transition]:
    """Epochs of (rest, vert_acc, vert_acc_late) at 1 s spacing, all with the same bias added."""
    out = []
    for i, (rest, a, late) in enumerate(epochs):
        e = det.update(
            float(i), present=True, rest=rest, vert_acc=a + bias, vert_acc_late=late + 0.5 * bias,
            incl_deg=0.0, tilt_deg=0.0, up=UP,
        )  # fmt: skip
        if e is not None:
            out.append(e)
    return out


def test_a_constant_bias_does_not_change_the_displacement():
    # Down at 0.4 m/s² for 1 s, then braking for 1 s: 0.4 m lower.
    profile = [(True, 0.0, 0.0)] * 3 + [(False, -0.4, -0.2), (False, 0.4, 0.2)] + [(True, 0.0, 0.0)] * 2
    for bias in (0.0, 0.35, -0.2):
        (event,) = feed(TransitionDetector(), profile, bias=bias)
        assert event.dz_m == pytest.approx(-0.4, abs=1e-9)
        assert (event.t_start, event.t_end) == (3.0, 5.0)


def test_a_pause_inside_a_slow_transition_gives_an_event_that_supersedes_the_first():
    profile = [(True, 0.0, 0.0)] * 2 + [(False, 0.3, 0.15), (True, 0.0, 0.0), (False, -0.3, -0.15)]
    events = feed(TransitionDetector(), profile + [(True, 0.0, 0.0)] * 2)
    assert len(events) == 2 and events[0].t_start == events[1].t_start == 2.0
    assert events[1].dz_m == pytest.approx(0.3 + 0.3, abs=1e-9)  # up 0.3 m/s for 2 s, braking half of it


def test_a_gap_forgets_the_movement():
    det = TransitionDetector()
    feed(det, [(True, 0.0, 0.0)] * 2 + [(False, -0.4, -0.2)])
    assert (
        det.update(3.0, present=False, rest=True, vert_acc=0.0, vert_acc_late=0.0, incl_deg=0.0, tilt_deg=0.0) is None
    )
    assert det.update(4.0, present=True, rest=True, vert_acc=0.0, vert_acc_late=0.0, incl_deg=0.0, tilt_deg=0.0) is None


def simulated_events(spec: str, seed: int) -> list[Transition]:
    sensor = SensorModel(rate_hz=50.0, mounting_deg=(40.0, 70.0, 10.0), jitter_s=0.002)
    samples, truth = simulate(parse_scenario(spec), sensor, seed=seed)
    fx = FeatureExtractor(rate_hz=50.0, up_estimator=make_up_estimator(50.0))
    f = EpochFeatures.concat([fx.update(samples), fx.finish()])
    assert f.vert_acc is not None and f.vert_acc_late is not None
    cal = Calibration(truth.mounting, "guided", "assumed")
    tilt, _ = pelvic_angles(f.up, cal)
    incl = np.degrees(np.arccos(np.clip(f.up @ cal.rotation[2], -1.0, 1.0)))
    gyro_rms = np.sqrt(np.trace(f.gyro_cov, axis1=1, axis2=2))
    det = TransitionDetector()
    events = []
    for i in range(len(f)):
        e = det.update(
            float(f.t[i]), present=True, rest=bool(f.acc_norm_std[i] < 0.3 and gyro_rms[i] < 0.3),
            vert_acc=float(f.vert_acc[i]), vert_acc_late=float(f.vert_acc_late[i]), incl_deg=float(incl[i]),
            tilt_deg=float(tilt[i]), up=(float(f.up[i, 0]), float(f.up[i, 1]), float(f.up[i, 2])),
        )  # fmt: skip
        if e is not None and abs(e.dz_m) > 0.1:
            events.append(e)
    return events


@pytest.mark.parametrize("seed", [1, 2])
def test_sitting_down_and_standing_up_move_the_pelvis_by_about_half_a_metre(seed):
    events = simulated_events("stand 20, sit 30, stand 30", seed)
    # The simulated pelvis drops from 0.95 m to 0.50 m and comes back.
    assert [math.copysign(1, e.dz_m) for e in events] == [-1, 1]
    assert events[0].dz_m == pytest.approx(-0.45, abs=0.15)
    assert events[1].dz_m == pytest.approx(0.45, abs=0.15)
    assert events[0].t_start >= 19.0 and events[0].t_end <= 25.0
    assert events[1].t_start >= 49.0 and events[1].t_end <= 55.0


def test_a_transition_carries_the_gravity_directions_of_its_rests():
    events = simulated_events("stand 20, sit 30, stand 30", 1)
    sit_down = events[0]
    assert len(sit_down.up_before) == 3 and len(sit_down.up_after) == 3
    assert math.isclose(sum(v * v for v in sit_down.up_before), 1.0, abs_tol=1e-6)
    # sitting turns the pelvis back by 15–25°: the rests' gravity directions differ as much
    assert 10.0 < sit_down.turn_deg < 30.0


def test_walk_sit_rule_strict_needs_both_integrations_to_drop():
    from processing.transitions import WalkSitRule

    def stop(dz_m: float, level_m: float, turn_deg: float) -> Transition:
        a = math.radians(turn_deg)
        return Transition(
            0.0, 2.0, dz_m, 3.0, 3.0 + turn_deg, math.nan, math.nan, False, True,
            (0.0, 0.0, 1.0), (math.sin(a), 0.0, math.cos(a)), level_m,
        )  # fmt: skip

    loose, strict = WalkSitRule(), WalkSitRule(confirm_m=0.1)
    one_only = stop(-0.45, 0.02, 10.0)  # a real stop into standing can integrate like this (HAPT)
    assert loose.sat(one_only) and not strict.sat(one_only)
    both = stop(-0.35, -0.25, 20.0)
    assert loose.sat(both) and strict.sat(both)
    assert not strict.sat(stop(-0.35, -0.25, 2.0))  # no turn: not a sit-down
    assert not loose.sat(stop(-0.1, -0.15, 20.0))  # no drop


def test_a_long_swaying_stand_then_a_sit_down_integrates_from_a_rest():
    """A wearer who sways too much for a quiet anchor (HAPT user 3) stands for longer than the detector
    integrates, then sits: the tail starts at a resting epoch, so its displacement counts (``from_rest``)."""
    det = TransitionDetector(max_epochs=8)
    still = dict(present=True, incl_deg=0.0, tilt_deg=0.0, vert_acc=0.0, vert_acc_late=0.0)
    t = 0.0
    for _ in range(2):  # the anchor: two quiet epochs
        assert det.update(t, rest=True, quiet=True, **still) is None
        t += 1.0
    event = None
    for _ in range(10):  # swaying: resting, never quiet
        event = det.update(t, rest=True, quiet=False, **still)
        t += 1.0
    moving = dict(present=True, incl_deg=0.0, tilt_deg=0.0, rest=False, quiet=False)
    assert det.update(t, vert_acc=-0.5, vert_acc_late=-0.25, **moving) is None
    assert det.update(t + 1.0, vert_acc=0.5, vert_acc_late=0.25, **moving) is None
    event = det.update(t + 2.0, rest=True, quiet=False, **still)
    assert event is not None and event.truncated and event.from_rest
    assert event.dz_m == pytest.approx(-0.5, abs=0.01)
