"""Postural transitions from 1 s epochs: how far the pelvis rose or fell between two rests.

A transition is a run of moving epochs between a rest (or walking) before it and a resting epoch after it. The vertical
acceleration of the sensor (``EpochFeatures.vert_acc`` and ``vert_acc_late``, exact integrals over each epoch
whatever the sensor does inside it) integrates twice to the vertical displacement, with zero velocity at both
rests. Two corrections make that work on real sensors:

- **Bias.** A phone's accelerometer is often off by 0.2–0.4 m/s² along the vertical, by a different amount in
  each orientation. The bias is read from the rests before and after (where the true acceleration is zero) and
  interpolated in between along the change of inclination, since it is the turning that changes it.
- **Drift.** The velocity left at the end of the run is removed linearly (a zero-velocity update).

Sitting down lowers the pelvis by 0.3–0.5 m and standing up raises it as much; fidgets and weight shifts move
it a few centimetres. A run longer than ``max_epochs`` (moving about while standing) is integrated over its
last ``max_epochs`` epochs only, starting from the epoch before them.

>>> det = TransitionDetector()
>>> rest = dict(present=True, incl_deg=0.0, tilt_deg=0.0)
>>> det.update(-1.0, rest=True, vert_acc=0.0, vert_acc_late=0.0, **rest) is None
True
>>> det.update(0.0, rest=True, vert_acc=0.0, vert_acc_late=0.0, **rest) is None
True
>>> # 1 s falling at 0.5 m/s², then 1 s braking: the pelvis went down 0.5 m/s² x 1 s² = 0.5 m
>>> det.update(1.0, rest=False, vert_acc=-0.5, vert_acc_late=-0.25, **rest) is None
True
>>> det.update(2.0, rest=False, vert_acc=0.5, vert_acc_late=0.25, **rest) is None
True
>>> round(det.update(3.0, rest=True, vert_acc=0.0, vert_acc_late=0.0, **rest).dz_m, 3)
-0.5
"""

from __future__ import annotations

import dataclasses
import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from processing.features import EpochFeatures
from processing.samples import FloatArray
from processing.stage import SnapshotState

_COS_STEADY = math.cos(math.radians(3.0))
_COS_10 = math.cos(math.radians(10.0))  # two resting epochs this close in orientation make an anchor
_MIN_TURN2 = (2.0 * math.sin(math.radians(1.5))) ** 2  # turns below 3° between the rests: interpolate in time


@dataclass(frozen=True, slots=True)
class Transition:
    """A movement between two rests.

    t_start, t_end: s (stream clock), start of the first and end of the last moving epoch integrated.
    dz_m: vertical displacement of the sensor over it, m, up positive.
    incl_before_deg, incl_after_deg: inclination of the pelvis' superior axis from vertical at the rests, degrees.
    tilt_before_deg, tilt_after_deg: pelvic tilt at the rests, degrees, anterior positive (NaN if unknown).
    truncated: the run was longer than the detector integrates (only its tail was used).
    after_walking: it started from walking (whose velocity at the start is only zero on average).
    up_before, up_after: the gravity direction (unit, sensor frame) at the rest before and after: a
    self-calibration reads the standing vertical from them, whatever the mounting.
    dz_level_m: after walking only (else NaN): the vertical displacement, m, taking the walking's mean
        vertical velocity (zero) as the start and removing the velocity left at the rest linearly, as between
        two rests. Noisier per step than ``dz_m`` for a stop, but it keeps the drop of a sit-down straight from
        walking (on the simulator: sit-downs -0.2 to -0.8 m, stops into standing within ±0.13 m).
    from_rest: truncated, but the epoch the tail's integration starts from was a rest (its velocity about
        zero): the displacement is then as good as between two rests (a wearer who sways too much for a quiet
        anchor while standing, HAPT user 3, sits down after more than ``max_epochs`` of it).
    """

    t_start: float
    t_end: float
    dz_m: float
    incl_before_deg: float
    incl_after_deg: float
    tilt_before_deg: float
    tilt_after_deg: float
    truncated: bool
    after_walking: bool = False
    up_before: tuple[float, float, float] = (0.0, 0.0, 1.0)
    up_after: tuple[float, float, float] = (0.0, 0.0, 1.0)
    dz_level_m: float = math.nan
    from_rest: bool = False

    @property
    def turn_deg(self) -> float:
        """Angle between the gravity directions at the rests before and after, degrees (mounting-free)."""
        dot = sum(a * b for a, b in zip(self.up_before, self.up_after, strict=True))
        return math.degrees(math.acos(max(-1.0, min(1.0, dot))))

    @property
    def duration_s(self) -> float:
        return self.t_end - self.t_start


@dataclass(frozen=True, slots=True)
class _Epoch:
    t: float
    vert_acc: float
    vert_acc_late: float
    incl_deg: float
    tilt_deg: float
    up: tuple[float, float, float]
    rest: bool = False


class TransitionDetector(SnapshotState):
    """Streaming: feed every epoch in order with :meth:`update`.

    A movement starts after an *anchor*: a quiet epoch preceded by one within 3° of it, or an epoch of steady
    walking (the mean vertical velocity over a step cycle is zero; the caller says which vigorous epochs are
    gait). A :class:`Transition` comes out with every resting epoch after it; when the movement resumes right after a
    single resting epoch (a pause inside a slow transition), the next one covers the whole movement again,
    with the same ``t_start`` (it supersedes the previous one). A missing epoch (gap) forgets the movement in
    progress.

    max_epochs: epochs integrated at most (the tail of a longer movement, marked ``truncated``).
    """

    def __init__(self, *, max_epochs: int = 8) -> None:
        if max_epochs < 1:
            raise ValueError("max_epochs must be >= 1")
        self.max_epochs = max_epochs
        self.reset()

    def reset(self) -> None:
        self._anchor: _Epoch | None = None
        self._anchor_walking = False
        self._window: deque[_Epoch] = deque()  # epochs after the anchor, up to and including the current one
        self._truncated = False
        self._last_quiet = False
        self._last: _Epoch | None = None

    def finish(self) -> None:
        """The end of the stream: a movement still in progress is not a transition (nothing to give)."""

    def update(
        self,
        t: float,
        *,
        present: bool,
        rest: bool,
        vert_acc: float,
        vert_acc_late: float,
        incl_deg: float,
        tilt_deg: float,
        up: tuple[float, float, float] = (0.0, 0.0, 1.0),
        walking: bool = False,
        quiet: bool | None = None,
    ) -> Transition | None:
        """Advance by the epoch starting at ``t`` (s). present: the epoch is complete enough to integrate;
        rest: the wearer was still in it (a movement ends there); quiet: stiller still (two in a row
        make an anchor; default: ``rest``); walking: it is an epoch of steady walking; vert_acc,
        vert_acc_late: m/s², see ``EpochFeatures``; up: the epoch's mean gravity direction (unit, sensor
        frame)."""
        if not present or not (math.isfinite(vert_acc) and math.isfinite(vert_acc_late)):
            self.reset()
            return None
        epoch = _Epoch(t, vert_acc, vert_acc_late, incl_deg, tilt_deg, up, rest)
        quiet = rest if quiet is None else quiet
        was_quiet, self._last_quiet = self._last_quiet, quiet
        prev, self._last = self._last, epoch
        steady = prev is not None and sum(a * b for a, b in zip(prev.up, epoch.up, strict=True)) >= _COS_STEADY
        if walking or (quiet and was_quiet and steady):
            self._anchor_walking = walking
            self._anchor = epoch
            self._window.clear()
            self._truncated = False
            return None
        if self._anchor is None:
            return None
        self._window.append(epoch)
        if len(self._window) > self.max_epochs + 1:
            self._anchor = self._window.popleft()
            self._truncated = True
        if not rest or len(self._window) < 2:
            return None
        moving = list(self._window)[:-1]
        walked = self._anchor_walking and not self._truncated
        event = _integrate(self._anchor, moving, epoch, truncated=self._truncated, after_walking=walked)
        if self._truncated and self._anchor.rest:
            event = dataclasses.replace(event, from_rest=True)
        return event


def _integrate(
    before: _Epoch, moving: list[_Epoch], after: _Epoch, *, truncated: bool, after_walking: bool = False
) -> Transition:
    """Vertical displacement over ``moving`` with zero velocity at ``before`` and ``after``.

    After walking the starting velocity is unknown (a step is under way) and a walking epoch's mean vertical
    acceleration is not its bias: the bias is the one at rest after, and the velocity is integrated back
    from the rest (zero there) instead of being corrected linearly.
    """
    d = [a - b for a, b in zip(after.up, before.up, strict=True)]
    span = d[0] * d[0] + d[1] * d[1] + d[2] * d[2]
    n = len(moving)
    v = 0.0
    dz = 0.0
    level = math.nan
    if after_walking:  # the same with the velocity left removed linearly (zero mean velocity while walking)
        lv = 0.0
        level = 0.0
        for e in moving:
            level += lv + (e.vert_acc_late - 0.5 * after.vert_acc)
            lv += e.vert_acc - after.vert_acc
        level -= 0.5 * lv * n
    for i, e in enumerate(moving):
        if after_walking:
            f = 1.0
        elif span >= _MIN_TURN2:  # the bias is linear in the up vector for an accelerometer offset
            f = sum((u - b) * dd for u, b, dd in zip(e.up, before.up, d, strict=True)) / span
            f = min(1.5, max(-0.5, f))
        else:
            f = (i + 0.5) / n
        bias = before.vert_acc + f * (after.vert_acc - before.vert_acc)
        dz += v + (e.vert_acc_late - 0.5 * bias)
        v += e.vert_acc - bias
    # Velocity left at the end: a drift removed linearly over the run, or after walking the starting velocity.
    dz -= (1.0 if after_walking else 0.5) * v * n
    return Transition(
        t_start=moving[0].t,
        t_end=moving[-1].t + 1.0,
        dz_m=dz,
        incl_before_deg=before.incl_deg,
        incl_after_deg=after.incl_deg,
        tilt_before_deg=before.tilt_deg,
        tilt_after_deg=after.tilt_deg,
        truncated=truncated,
        after_walking=after_walking,
        up_before=before.up,
        up_after=after.up,
        dz_level_m=level,
    )


@dataclass(frozen=True, slots=True)
class WalkSitRule:
    """A stop straight from walking is a sit-down when the pelvis dropped by ``drop_m`` (m) or more by either
    integration (``Transition.dz_m`` or ``Transition.dz_level_m``), by ``confirm_m`` (m) or more by the other,
    while the gravity direction turned by ``min_turn_deg`` (degrees, mounting-free) or more.

    On the simulator stops into standing stay within ±0.2 m by both integrations; on real waist phones they
    do not: of the 200 stops after walking in the HAPT development set (all into standing: the protocol has
    no sit-down from walking), 33 pass ``drop_m`` 0.2 and ``min_turn_deg`` 4 with no ``confirm_m`` (None),
    7 with ``confirm_m`` 0.1, which keeps 73 % of the simulated sit-downs from walking
    (``benchmarks/bench_transitions.py``, walk-stop table)."""

    drop_m: float = 0.2
    min_turn_deg: float = 4.0
    confirm_m: float | None = None

    def sat(self, event: Transition) -> bool:
        level = event.dz_level_m if math.isfinite(event.dz_level_m) else event.dz_m
        low, high = min(event.dz_m, level), max(event.dz_m, level)
        confirmed = self.confirm_m is None or high <= -self.confirm_m
        return low <= -self.drop_m and confirmed and event.turn_deg >= self.min_turn_deg


@dataclass(frozen=True, slots=True)
class SitStandRests:
    """What the sit-downs and stand-ups of a stretch tell about the mounting, whatever it is (sensor frame).

    stand_sum: (3,) sum of the gravity directions at the standing rest of each; shift_sum: (3,) sum of
    (sitting rest - standing rest) gravity directions (the pelvis leans back when sitting); n: how many.
    """

    stand_sum: tuple[float, float, float]
    shift_sum: tuple[float, float, float]
    n: int


def sit_stand_rests(
    features: EpochFeatures,
    *,
    drop_m: float = 0.15,
    max_turn_deg: float = 60.0,
    walk_sit: WalkSitRule | None = None,
) -> SitStandRests:
    """The sit-downs and stand-ups in ``features``: movements between two rests that lowered (raised) the pelvis
    by ``drop_m`` (m) or more and turned it by less than ``max_turn_deg`` (not lying down). A movement that goes
    on after one resting epoch counts once (its last, longest integration).

    ``walk_sit``: also count sit-downs straight from walking by that rule; their "standing" side is the walking
    up vector (so ``stand_sum`` is then not a standing vertical: use ``shift_sum``, whose horizontal part
    still points anterior as long as the wearer sits behind the way they walk)."""
    stand, shift = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    if features.vert_acc is None or features.vert_acc_late is None:
        return SitStandRests((0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0)
    det = TransitionDetector()
    gyro_rms = np.sqrt(np.maximum(np.trace(features.gyro_cov, axis1=1, axis2=2), 0.0))
    acc_std = features.acc_norm_std
    chosen: dict[float, tuple[tuple[float, float, float], tuple[float, float, float]] | None] = {}
    last_up: FloatArray | None = None
    gait = 0  # walking epochs in a row, each within 10° of the one before (as the tracker's posture detector)
    for e in range(len(features)):
        up = features.up[e]
        if not (features.coverage[e] >= 0.5 and np.all(np.isfinite(up))):
            det.reset()
            last_up, gait = None, 0
            continue
        steady = last_up is not None and float(up @ last_up) >= _COS_10
        gait = gait + 1 if acc_std[e] > 0.9 and steady else 0
        last_up = up
        event = det.update(
            float(features.t[e]), present=True, rest=bool(acc_std[e] < 0.3 and gyro_rms[e] < 0.3),
            vert_acc=float(features.vert_acc[e]), vert_acc_late=float(features.vert_acc_late[e]), incl_deg=0.0,
            tilt_deg=math.nan, up=(float(up[0]), float(up[1]), float(up[2])),
            quiet=bool(acc_std[e] < 0.1 and gyro_rms[e] < 0.1), walking=walk_sit is not None and gait >= 3,
        )  # fmt: skip
        if event is None:
            continue
        if event.after_walking:
            sat = walk_sit is not None and walk_sit.sat(event) and event.turn_deg <= max_turn_deg
            chosen[event.t_start] = (event.up_before, event.up_after) if sat else None
        else:
            chosen[event.t_start] = stand_sit(event, drop_m=drop_m, max_turn_deg=max_turn_deg)
    n = 0
    for pair in chosen.values():
        if pair is None:
            continue
        n += 1
        for i in range(3):
            stand[i] += pair[0][i]
            shift[i] += pair[1][i] - pair[0][i]
    return SitStandRests((stand[0], stand[1], stand[2]), (shift[0], shift[1], shift[2]), n)


def stand_sit(
    event: Transition, *, drop_m: float = 0.15, max_turn_deg: float = 60.0
) -> tuple[tuple[float, float, float], tuple[float, float, float]] | None:
    """(standing, sitting) gravity directions of a sit-down or stand-up, or None if ``event`` is neither."""
    if event.truncated or event.after_walking or event.turn_deg > max_turn_deg:
        return None
    if event.dz_m <= -drop_m:
        return event.up_before, event.up_after
    if event.dz_m >= drop_m:
        return event.up_after, event.up_before
    return None
