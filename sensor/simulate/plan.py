"""The simulated wearer's motion: segments compiled into smooth analytic trajectories.

A :class:`Plan` is drawn once from the seed (no randomness is left for evaluation time) and can then be
evaluated at any instants, in any grouping, with the same result. It holds:

- one track of non-overlapping *events* on six channels (tilt, obliquity, yaw in rad; world position x, y,
  z in m). Each event is a minimum-jerk step plus an optional smooth bump (the forward lean of sit-to-stand),
  so postural transitions, fidgets, weight shifts and walking turns are C² trajectories;
- per segment, an *oscillator*: postural sway (sums of slow sinusoids) or gait (step-locked harmonics of
  tilt, obliquity, yaw and of the pelvis displacement, plus forward progression), each under an envelope
  that fades it in and out smoothly inside its segment.

Linear accelerations are second derivatives of these positions; angular rates are derived from the same
angle trajectories, so accelerometer and gyroscope always agree.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sensor.simulate.kinematics import FloatArray, Jet, bump, harmonics, min_jerk, ramp_envelope
from sensor.simulate.scenarios import ACTIVITIES, Segment

TILT, OBL, YAW, PX, PY, PZ = range(6)
CODES = {name: code for code, name in enumerate(ACTIVITIES)}

_DEG = math.pi / 180.0
# Pelvis height above the floor (m) by activity; only differences matter (they become accelerations).
_HEIGHT = {"standing": 0.95, "walking": 0.95, "sitting": 0.50, "lying": 0.45}
_UPRIGHT = ("standing", "walking")


@dataclass(frozen=True, slots=True)
class Motion:
    """The wearer's pelvis at n instants.

    tilt, obl, yaw: jets in rad (pelvis->world = Rz(yaw) Ry(tilt) Rx(obl)).
    acc_world: (n, 3) m/s², linear acceleration of the pelvis origin in the world frame (z up).
    activity: (n,) int8 index into ACTIVITIES. transition: (n,) bool, inside a postural transition.
    """

    tilt: Jet
    obl: Jet
    yaw: Jet
    acc_world: FloatArray
    activity: NDArray[np.int8]
    transition: NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class _Sway:
    """Postural sway: per channel (tilt, obl rad; x, y m) a sum of sinusoids under an envelope."""

    start: float
    stop: float
    ramp_s: float
    freq_hz: FloatArray  # (4, K)
    amp: FloatArray  # (4, K)
    phase: FloatArray  # (4, K)


@dataclass(frozen=True, slots=True)
class _Rock:
    """Rhythmic pelvic rocking (tilt drills, glute bridges): ``amp * sin(2 pi f (t - start))`` on the tilt, rad,
    under an envelope."""

    start: float
    stop: float
    ramp_s: float
    freq_hz: float
    amp: float


@dataclass(frozen=True, slots=True)
class _Harm:
    """``sum amp * cos(order * step_phase + offset)``; order 1 = step frequency, 0.5 = stride."""

    order: FloatArray
    amp: FloatArray
    offset: FloatArray


@dataclass(frozen=True, slots=True)
class _Gait:
    start: float
    stop: float
    ramp_s: float
    step_hz: float
    speed_m_s: float
    phase0: float
    noise_hz: FloatArray  # (3,) slow step-phase wander
    noise_amp: FloatArray
    noise_phase: FloatArray
    tilt: _Harm  # rad
    obl: _Harm
    yaw: _Harm
    ap: _Harm  # m, heading frame displacement
    ml: _Harm
    vert: _Harm


@dataclass(frozen=True, slots=True)
class Plan:
    """Compiled scenario; see the module docstring. Times in s from the start of the scenario."""

    duration_s: float
    seg_start: FloatArray  # (m,)
    seg_code: NDArray[np.int8]  # (m,)
    seg_tr_s: FloatArray  # (m,) duration of the transition into the segment
    seg_flagged: NDArray[np.bool_]  # (m,) that transition is postural
    oscillators: tuple[_Sway | _Gait | None, ...]
    ev_start: FloatArray  # (E,), first is a dummy at -inf carrying the initial state
    ev_dur: FloatArray  # (E,)
    ev_base: FloatArray  # (E, 6) state before the event
    ev_step: FloatArray  # (E, 6)
    ev_bump: FloatArray  # (E, 6)
    max_hz: float  # harmonics above this are left out (the sensor's anti-aliasing filter)
    rocks: tuple[_Rock | None, ...] = ()  # per segment, rhythmic rocking (Segment.rock_deg), or None

    def evaluate(self, t: FloatArray) -> Motion:
        """The motion at instants ``t`` ((n,) s, increasing). Pure function of t: grouping is irrelevant."""
        n = t.shape[0]
        j = np.searchsorted(self.ev_start, t, side="right") - 1
        dur = self.ev_dur[j]
        s = (t - self.ev_start[j]) / dur
        m0, m1, m2 = min_jerk(s)
        b0, b1, b2 = bump(s)
        step, bmp = self.ev_step[j], self.ev_bump[j]
        val = self.ev_base[j] + step * m0[:, None] + bmp * b0[:, None]
        d1 = (step * m1[:, None] + bmp * b1[:, None]) / dur[:, None]
        d2 = (step * m2[:, None] + bmp * b2[:, None]) / (dur * dur)[:, None]

        seg = np.clip(np.searchsorted(self.seg_start, t, side="right") - 1, 0, len(self.seg_start) - 1)
        cuts = np.concatenate(([0], np.flatnonzero(np.diff(seg)) + 1, [n]))
        for lo, hi in itertools.pairwise(cuts.tolist()):
            osc = self.oscillators[seg[lo]] if hi > lo else None
            if isinstance(osc, _Sway):
                self._add_sway(osc, t[lo:hi], val[lo:hi], d1[lo:hi], d2[lo:hi])
            elif isinstance(osc, _Gait):
                self._add_gait(osc, t[lo:hi], val[lo:hi], d1[lo:hi], d2[lo:hi])
            rock = self.rocks[seg[lo]] if hi > lo and self.rocks else None
            if rock is not None:
                self._add_rock(rock, t[lo:hi], val[lo:hi], d1[lo:hi], d2[lo:hi])

        code = self.seg_code[seg]
        tr_start = self.seg_start[seg]
        tr = self.seg_tr_s[seg]
        transition = self.seg_flagged[seg] & (t >= tr_start) & (t < tr_start + tr)
        first_half = transition & (t < tr_start + 0.5 * tr)
        code = np.where(first_half, self.seg_code[np.maximum(seg - 1, 0)], code).astype(np.int8)
        # nobody walks while sitting down or getting up: gait fades out before and starts after
        code[transition & (code == CODES["walking"])] = CODES["standing"]

        def jet(ch: int) -> Jet:
            return Jet(val[:, ch].copy(), d1[:, ch].copy(), d2[:, ch].copy())

        return Motion(jet(TILT), jet(OBL), jet(YAW), d2[:, PX:].copy(), code, transition)

    @staticmethod
    def _add_sway(osc: _Sway, t: FloatArray, val: FloatArray, d1: FloatArray, d2: FloatArray) -> None:
        env = ramp_envelope(t, osc.start, osc.stop, osc.ramp_s)
        w = 2.0 * math.pi * osc.freq_hz  # (4, K)
        arg = np.outer(t, w.ravel()) + osc.phase.ravel()
        cos, sin = np.cos(arg), np.sin(arg)
        k = w.shape[1]
        for row, ch in enumerate((TILT, OBL, PX, PY)):
            cols = np.s_[row * k : (row + 1) * k]
            a, wr = osc.amp[row], w[row]
            wave = Jet(cos[:, cols] @ a, -sin[:, cols] @ (a * wr), -cos[:, cols] @ (a * wr * wr))
            out = env * wave
            val[:, ch] += out.v
            d1[:, ch] += out.d1
            d2[:, ch] += out.d2

    @staticmethod
    def _add_rock(rock: _Rock, t: FloatArray, val: FloatArray, d1: FloatArray, d2: FloatArray) -> None:
        env = ramp_envelope(t, rock.start, rock.stop, rock.ramp_s)
        w = 2.0 * math.pi * rock.freq_hz
        arg = w * (t - rock.start)
        s, c = np.sin(arg), np.cos(arg)
        out = env * Jet(rock.amp * s, rock.amp * w * c, -rock.amp * w * w * s)
        val[:, TILT] += out.v
        d1[:, TILT] += out.d1
        d2[:, TILT] += out.d2

    def _add_gait(self, g: _Gait, t: FloatArray, val: FloatArray, d1: FloatArray, d2: FloatArray) -> None:
        env = ramp_envelope(t, g.start, g.stop, g.ramp_s)
        # step phase: 2 pi f t plus a slow wander (stride-to-stride variability)
        w = 2.0 * math.pi * g.noise_hz
        arg = np.outer(t - g.start, w) + g.noise_phase
        phase = Jet(
            2.0 * math.pi * g.step_hz * (t - g.start) + g.phase0 + np.sin(arg) @ g.noise_amp,
            2.0 * math.pi * g.step_hz + np.cos(arg) @ (g.noise_amp * w),
            -np.sin(arg) @ (g.noise_amp * w * w),
        )

        def osc(h: _Harm) -> Jet:
            keep = h.order * g.step_hz <= self.max_hz
            return env * harmonics(phase, h.order[keep], h.amp[keep], h.offset[keep])

        # Heading: the yaw track (turns), before the pelvic rotation of gait is added below.
        heading = Jet(val[:, YAW].copy(), d1[:, YAW].copy(), d2[:, YAW].copy())
        for ch, h in ((TILT, g.tilt), (OBL, g.obl), (YAW, g.yaw)):
            out = osc(h)
            val[:, ch] += out.v
            d1[:, ch] += out.d1
            d2[:, ch] += out.d2
        # Displacement in the heading frame (x forward, y left, z up), rotated into the world.
        sin, cos = heading.sincos()
        qx, qy, qz = osc(g.ap), osc(g.ml), osc(g.vert)
        wx = cos * qx - sin * qy
        wy = sin * qx + cos * qy
        # Forward progression at speed v = v0 * env along the heading: a = v' u + v psi' u_perp.
        v1 = g.speed_m_s * env.d1
        v0 = g.speed_m_s * env.v
        turn = v0 * heading.d1
        d2[:, PX] += wx.d2 + v1 * cos.v - turn * sin.v
        d2[:, PY] += wy.d2 + v1 * sin.v + turn * cos.v
        d2[:, PZ] += qz.d2
        # positions are not tracked for the progression (only accelerations are observable)
        val[:, PX] += wx.v
        val[:, PY] += wy.v
        val[:, PZ] += qz.v
        d1[:, PX] += wx.d1 + v0 * cos.v
        d1[:, PY] += wy.d1 + v0 * sin.v
        d1[:, PZ] += qz.d1


# ---------------------------------------------------------------------------------------------------------
# Compilation


def compile_plan(segments: Sequence[Segment], seed: int, *, max_hz: float = 40.0) -> Plan:
    """Draw every random parameter of the scenario from ``seed``; the rate only limits harmonics."""
    if not segments:
        raise ValueError("a scenario needs at least one segment")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x91A,)))
    builder = _Builder(rng)
    for segment in segments:
        builder.add(segment)
    return builder.finish(max_hz)


def _rock(seg: Segment, begin: float, stop: float) -> _Rock | None:
    """The segment's rhythmic rocking, if it asks for one (no random draw: other segments are unchanged)."""
    if seg.rock_deg is None or seg.rock_deg == 0.0 or stop - begin < 1.0:
        return None
    freq = seg.rock_hz if seg.rock_hz is not None else 0.25
    return _Rock(
        start=begin, stop=stop, ramp_s=min(1.0, (stop - begin) / 4.0), freq_hz=freq, amp=0.5 * seg.rock_deg * _DEG
    )


class _Builder:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.t = 0.0
        self.state = np.zeros(6)
        self.events: list[tuple[float, float, FloatArray, FloatArray, FloatArray]] = []
        self.seg_start: list[float] = []
        self.seg_code: list[int] = []
        self.seg_tr: list[float] = []
        self.seg_flagged: list[bool] = []
        self.oscillators: list[_Sway | _Gait | None] = []
        self.rocks: list[_Rock | None] = []
        self.prev: tuple[str, str] | None = None  # (activity, side)
        self.initial = np.zeros(6)

    def event(self, start: float, dur: float, target: FloatArray, lean: FloatArray | None = None) -> None:
        """A step from the current state to ``target`` over [start, start + dur], plus a bump ``lean``."""
        if self.events:
            last_start, last_dur = self.events[-1][0], self.events[-1][1]
            assert start >= last_start + last_dur - 1e-9, "simulator events overlap"
        step = target - self.state
        self.events.append((start, dur, self.state.copy(), step, np.zeros(6) if lean is None else lean))
        self.state = target.copy()

    def add(self, seg: Segment) -> None:
        rng = self.rng
        start, stop = self.t, self.t + seg.duration_s
        side = seg.side or "supine"
        tilt, obl = self._pose(seg, side)
        target = self.state.copy()
        target[TILT], target[OBL], target[PZ] = tilt, obl, _HEIGHT[seg.activity]
        tr, flagged = 0.0, False
        if self.prev is None:
            target[YAW] = rng.uniform(-math.pi, math.pi)
            self.state = target.copy()
            self.initial = target.copy()
        else:
            tr, flagged, fwd, lat, dyaw, lean = self._transition(self.prev, (seg.activity, side))
            tr = min(tr, 0.4 * seg.duration_s) if seg.transition_s is None else seg.transition_s
            c, s = math.cos(self.state[YAW]), math.sin(self.state[YAW])
            target[PX] += c * fwd - s * lat
            target[PY] += s * fwd + c * lat
            target[YAW] += dyaw
            bump_vec = np.zeros(6)
            bump_vec[TILT] = lean
            self.event(start, tr, target, bump_vec)
        self.seg_start.append(start)
        self.seg_code.append(CODES[seg.activity])
        self.seg_tr.append(tr)
        self.seg_flagged.append(flagged)
        begin = start + (tr if flagged or seg.activity != "walking" else 0.0)
        if seg.activity == "walking":
            gait = self._gait(seg, begin, stop)
            self.oscillators.append(gait)
            self._turns(seg, gait, not_before=start + tr)
        else:
            self.oscillators.append(self._sway(seg, begin, stop))
            self._fidgets(seg, start + tr, stop, pose=target)
        self.rocks.append(_rock(seg, begin, stop))
        self.prev = (seg.activity, side)
        self.t = stop

    def finish(self, max_hz: float) -> Plan:
        ev = self.events
        return Plan(
            duration_s=self.t,
            seg_start=np.array(self.seg_start),
            seg_code=np.array(self.seg_code, dtype=np.int8),
            seg_tr_s=np.array(self.seg_tr),
            seg_flagged=np.array(self.seg_flagged, dtype=bool),
            oscillators=tuple(self.oscillators),
            ev_start=np.array([-1e18] + [e[0] for e in ev]),
            ev_dur=np.array([1.0] + [e[1] for e in ev]),
            ev_base=np.array([self.initial] + [e[2] for e in ev]).reshape(-1, 6),
            ev_step=np.array([np.zeros(6)] + [e[3] for e in ev]).reshape(-1, 6),
            ev_bump=np.array([np.zeros(6)] + [e[4] for e in ev]).reshape(-1, 6),
            max_hz=max_hz,
            rocks=tuple(self.rocks),
        )

    # -- postures and transitions ---------------------------------------------------------------------

    def _pose(self, seg: Segment, side: str) -> tuple[float, float]:
        """Mean (tilt, obliquity) in rad for the segment."""
        rng = self.rng
        default_tilt = {
            "standing": float(np.clip(rng.normal(0.0, 0.4), -1.0, 1.0)),
            "walking": rng.uniform(1.5, 4.0),
            "sitting": rng.uniform(-25.0, -15.0),
            "lying": rng.uniform(-89.0, -82.0) if side == "supine" else float(np.clip(rng.normal(0, 6), -15, 15)),
        }[seg.activity]
        default_obl = float(np.clip(rng.normal(0.0, 1.0 if seg.activity in _UPRIGHT else 2.0), -4.0, 4.0))
        tilt = (default_tilt if seg.tilt_deg is None else seg.tilt_deg) + seg.tilt_offset_deg
        obl = default_obl if seg.obliquity_deg is None else seg.obliquity_deg
        obl += {"supine": 0.0, "left": -90.0, "right": 90.0}[side] if seg.activity == "lying" else 0.0
        return tilt * _DEG, obl * _DEG

    def _transition(
        self, prev: tuple[str, str], new: tuple[str, str]
    ) -> tuple[float, bool, float, float, float, float]:
        """(duration s, postural?, forward m, lateral m, yaw change rad, forward lean rad)."""
        rng = self.rng
        a, b = prev[0], new[0]
        sign = 1.0 if rng.random() < 0.5 else -1.0
        lean = rng.uniform(15.0, 30.0) * _DEG
        if (a in _UPRIGHT and b in _UPRIGHT) or a == b == "sitting" or (a == b == "lying" and prev[1] == new[1]):
            return rng.uniform(0.8, 1.5), False, 0.0, 0.0, 0.0, 0.0
        if a == "sitting" and b in _UPRIGHT:
            return rng.uniform(1.5, 2.5), True, 0.2, 0.0, 0.0, lean
        if a in _UPRIGHT and b == "sitting":
            return rng.uniform(1.5, 2.5), True, -0.2, 0.0, 0.0, lean
        if a == b == "lying":  # rolling over
            return rng.uniform(1.5, 2.5), True, 0.0, sign * 0.2, 0.0, 0.0
        if "sitting" in (a, b):  # sitting <-> lying: swing the legs onto the bed
            return rng.uniform(2.0, 3.0), True, 0.0, sign * 0.3, sign * math.pi / 2, 0.0
        # upright <-> lying directly
        return rng.uniform(2.5, 3.5), True, 0.2 if b != "lying" else -0.2, 0.0, sign * math.pi / 2, 0.0

    # -- segment details ------------------------------------------------------------------------------

    def _sway(self, seg: Segment, begin: float, stop: float) -> _Sway | None:
        if seg.motion_scale == 0.0 or stop - begin < 1.0:
            return None
        rng = self.rng
        # total amplitudes: tilt, obliquity (deg); x, y (m)
        tot = {
            "standing": (0.5, 0.4, 0.003, 0.003),
            "sitting": (0.3, 0.3, 0.002, 0.002),
            "lying": (0.1, 0.1, 0.001, 0.001),
        }[seg.activity]
        scale = np.array([tot[0] * _DEG, tot[1] * _DEG, tot[2], tot[3]]) * seg.motion_scale
        weights = rng.uniform(0.2, 1.0, size=(4, 3))
        amp = weights / weights.sum(axis=1, keepdims=True) * scale[:, None]
        return _Sway(
            start=begin,
            stop=stop,
            ramp_s=min(1.0, (stop - begin) / 4.0),
            freq_hz=rng.uniform(0.05, 0.4, size=(4, 3)),
            amp=amp,
            phase=rng.uniform(0.0, 2.0 * math.pi, size=(4, 3)),
        )

    def _fidgets(self, seg: Segment, begin: float, stop: float, pose: FloatArray) -> None:
        """Fidgets (sitting), weight shifts (standing), adjustments (lying): mean-reverting steps."""
        if seg.motion_scale == 0.0:
            return
        rng = self.rng
        # per minute; durations s; sd of offsets: tilt, obl, yaw (deg); x, y, z (m)
        rate, dur_lo, dur_hi, sd = {
            "sitting": (1.2, 0.6, 1.5, (3.0, 2.0, 5.0, 0.02, 0.02, 0.005)),
            "standing": (2.0, 0.8, 2.0, (0.4, 1.5, 3.0, 0.0, 0.02, 0.003)),
            "lying": (0.2, 1.0, 2.0, (2.0, 3.0, 3.0, 0.02, 0.02, 0.005)),
        }[seg.activity]
        sd_rad = np.array(sd) * np.array([_DEG, _DEG, _DEG, 1.0, 1.0, 1.0]) * seg.motion_scale
        limit = np.array([1.0 if seg.activity == "standing" else 8.0, 6.0, 15.0, 0.05, 0.05, 0.02])
        limit *= np.array([_DEG, _DEG, _DEG, 1.0, 1.0, 1.0]) * max(seg.motion_scale, 1.0)
        t = begin + 0.3
        while True:
            t += rng.exponential(60.0 / rate)
            dur = rng.uniform(dur_lo, dur_hi)
            if t + dur > stop - 0.3:
                break
            offset = np.clip(rng.normal(0.0, 1.0, 6) * sd_rad, -limit, limit)
            c, s = math.cos(pose[YAW]), math.sin(pose[YAW])  # x, y offsets are forward and left
            offset[PX], offset[PY] = c * offset[PX] - s * offset[PY], s * offset[PX] + c * offset[PY]
            self.event(t, dur, pose + offset)
            t += dur

    def _gait(self, seg: Segment, begin: float, stop: float) -> _Gait:
        rng = self.rng
        f = seg.step_hz if seg.step_hz is not None else rng.uniform(1.8, 2.0)
        w = 2.0 * math.pi * f
        speed = seg.speed_m_s if seg.speed_m_s is not None else rng.uniform(1.1, 1.5)
        # heel-strike impulse: a periodic narrow Gaussian pulse (height h, width sd), as harmonics
        h, sd = rng.uniform(0.8, 1.5), rng.uniform(0.02, 0.03)
        k = np.arange(1.0, 16.0)
        pulse = 2.0 * h * sd * math.sqrt(2.0 * math.pi) * f * np.exp(-0.5 * (2.0 * math.pi * k * f * sd) ** 2)
        a1 = rng.uniform(1.4, 1.9)  # vertical, m/s² at step frequency
        vert_acc = np.concatenate(([a1, 0.3 * a1, 0.12 * a1], pulse))
        vert_ord = np.concatenate(([1.0, 2.0, 3.0], k))
        b1 = rng.uniform(1.0, 1.5)  # antero-posterior
        ap_acc = np.concatenate(([b1, 0.3 * b1], -0.4 * pulse))
        ap_ord = np.concatenate(([1.0, 2.0], k))
        ap_off = np.concatenate(([rng.uniform(1.2, 1.9), rng.uniform(0, 2 * math.pi)], np.zeros(k.size)))
        # medio-lateral linear acceleration at stride frequency. The pelvis is displaced toward the stance
        # side while the swing side drops (obliquity toward the stance side), so the gravity component of
        # obliquity partly cancels the linear acceleration in the sensor's medio-lateral reading.
        c1 = rng.uniform(1.3, 1.8)

        def displacement(order: FloatArray, acc: FloatArray, offset: FloatArray) -> _Harm:
            return _Harm(order, -acc / (order * w) ** 2, offset)

        def deg(*values: float) -> FloatArray:
            return np.array(values) * _DEG

        ramp = min(1.0, (stop - begin) / 4.0)
        return _Gait(
            start=begin,
            stop=stop,
            ramp_s=ramp,
            step_hz=f,
            speed_m_s=speed,
            phase0=rng.uniform(0.0, 2.0 * math.pi),
            noise_hz=rng.uniform(0.03, 0.3, 3),
            noise_amp=rng.uniform(0.03, 0.1, 3),
            noise_phase=rng.uniform(0.0, 2.0 * math.pi, 3),
            tilt=_Harm(np.array([1.0, 0.5]), deg(rng.uniform(2.0, 3.0), rng.uniform(0.3, 0.8)), rng.uniform(0, 6.3, 2)),
            obl=_Harm(
                np.array([0.5, 1.5]),
                deg(rng.uniform(4.0, 6.0), rng.uniform(0.3, 0.8)),
                np.array([-math.pi / 2 + rng.uniform(-0.3, 0.3), rng.uniform(0, 2 * math.pi)]),
            ),
            yaw=_Harm(np.array([0.5]), deg(rng.uniform(4.0, 8.0)), rng.uniform(-0.3, 0.3, 1)),
            ap=displacement(ap_ord, ap_acc, ap_off),
            ml=displacement(
                np.array([0.5, 1.5]), np.array([c1, 0.3 * c1]), np.array([math.pi / 2, rng.uniform(0, 6.3)])
            ),
            vert=displacement(vert_ord, vert_acc, np.zeros(vert_ord.size)),
        )

    def _turns(self, seg: Segment, gait: _Gait, *, not_before: float) -> None:
        rng = self.rng
        per_min = seg.turns_per_min if seg.turns_per_min is not None else rng.uniform(2.0, 4.0)
        if per_min == 0.0:
            return
        t = max(gait.start + gait.ramp_s, not_before) + 0.5
        stop = gait.stop - gait.ramp_s - 0.5
        while True:
            t += rng.exponential(60.0 / per_min)
            u = rng.random()
            angle = 90.0 if u < 0.5 else (180.0 if u < 0.65 else rng.uniform(30.0, 150.0))
            angle *= 1.0 if rng.random() < 0.5 else -1.0
            dur = max(1.0, abs(angle) / rng.uniform(50.0, 80.0))
            if t + dur > stop:
                break
            target = self.state.copy()
            target[YAW] += angle * _DEG
            self.event(t, dur, target)
            t += dur
