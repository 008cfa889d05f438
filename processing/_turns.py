"""The centripetal acceleration of walking turns, learnt from the turns themselves (used by
:mod:`processing.orientation`).

A walker's velocity stays along the pelvis's forward axis, so in the sensor frame it is a constant ``v`` and the
accelerometer reads ``ω × v`` on top of gravity: about ``1.3 m/s × 2 rad/s = 2.6 m/s²`` in a sharp turn. The
gravity low-pass would take that for a tilt (2–7° for several seconds after each turn, in VQF too). With ``u``
the vertical, a turn's yaw rate ``w = ω · u`` and the horizontal part ``h`` of the accelerometer's 1 s mean obey
``h = w c`` with ``c = u × v``: a ridge regression of ``h`` on ``w`` over the turns seen while walking gives ``c``,
sign and speed included, and ``(ω · u) c`` is removed from the accelerometer before the output pass's low-pass.

Gates, so that nothing else is taken for a walking turn (checked on BROAD, whose hand-held motions, tapping and
vibration must leave it off): a block counts as stepping when the standard deviation of the accelerometer's norm
(low-passed at 0.05 s, so vibration does not count) exceeds :data:`STEP_SD_MPS2`; a turn block needs
:data:`RUN_BLOCKS` stepping blocks in a row, a posture kept within :data:`STEADY_DEG` over
:data:`LAG_BLOCKS` blocks, a yaw rate above :data:`MIN_YAW_RPS` and a tilting rate below
:data:`MAX_TILT_SHARE` of it. ``c`` is used only once :data:`MIN_TURNS` turns explain at least
:data:`MIN_R2` of their horizontal acceleration with a plausible walking speed (:data:`SPEED_RANGE_MPS`), and
only in blocks that follow a stepping, steady block. The vertical ``u`` is the accelerometer's mean direction
:data:`LAG_BLOCKS` blocks back (before the turn's own acceleration), so nothing here depends on the filter's
output.

Everything is per 1 s bias block, carried across chunks in :class:`TurnState`; results do not depend on
chunking. :func:`compensation` serves the array path, :func:`close_block` and the ``TurnState`` sums the
per-sample path, with the same operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
IntArray = NDArray[np.int64]

STEP_SD_MPS2 = 0.9
STEP_LP_TAU_S = 0.05
RUN_BLOCKS = 6
LAG_BLOCKS = 3
STEADY_DEG = 10.0
MIN_YAW_RPS = 0.3
MAX_TILT_SHARE = 0.3
RIDGE = 2.0  # (rad/s)²
MIN_TURNS = 2
MIN_R2 = 0.3
SPEED_RANGE_MPS = (0.4, 2.5)


@dataclass(slots=True)
class TurnState:
    """The block in progress (sums of the bias-corrected gyro, the accelerometer, the stepping signal and its
    square, and the sample count), the stepping signal's low-pass, the last blocks' verticals, the stepping run,
    the regression's sums, and what is in force in the block in progress (``c`` in m/s, the vertical ``u``)."""

    block: int = -1
    sums: list[float] = field(default_factory=lambda: [0.0] * 9)
    step_lp: float = 0.0
    ups: list[tuple[float, float, float]] = field(default_factory=list)
    run: int = 0
    sww: float = 0.0
    swh: tuple[float, float, float] = (0.0, 0.0, 0.0)
    shh: float = 0.0
    turns: int = 0
    c: tuple[float, float, float] = (0.0, 0.0, 0.0)
    u: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def restart(self) -> None:
        """After a gap or re-initialisation: the stepping run and the verticals start again (the regression,
        which belongs to the mounting, is kept)."""
        self.ups = []
        self.run = 0
        self.c = (0.0, 0.0, 0.0)


def close_block(st: TurnState, block: int, forget: float) -> None:
    """Close the block in progress of ``st`` (its sums) and start ``block``: the regression takes the closed block
    if it is a walking turn, and ``c`` and ``u`` for ``block`` follow. ``forget``: the weight the old turns keep
    at each new one."""
    s = st.sums
    n = s[8]
    if st.block >= 0 and n > 0.0:
        o0, o1, o2 = s[0] / n, s[1] / n, s[2] / n
        a0, a1, a2 = s[3] / n, s[4] / n, s[5] / n
        mean = s[6] / n
        sd = math.sqrt(max(s[7] / n - mean * mean, 0.0))
        norm = math.sqrt(a0 * a0 + a1 * a1 + a2 * a2)
        end = (a0 / norm, a1 / norm, a2 / norm) if norm > 1e-6 else (0.0, 0.0, 1.0)
        st.ups = [*st.ups[-LAG_BLOCKS:], end]
        u = st.ups[0]
        stepping = sd > STEP_SD_MPS2
        st.run = st.run + 1 if stepping else 0
        d0, d1, d2 = end[0] - u[0], end[1] - u[1], end[2] - u[2]
        steady = math.sqrt(d0 * d0 + d1 * d1 + d2 * d2) < math.radians(STEADY_DEG)
        w = o0 * u[0] + o1 * u[1] + o2 * u[2]
        t0, t1, t2 = o1 * u[2] - o2 * u[1], o2 * u[0] - o0 * u[2], o0 * u[1] - o1 * u[0]
        tilting = math.sqrt(t0 * t0 + t1 * t1 + t2 * t2)
        if stepping and st.run >= RUN_BLOCKS and steady and abs(w) > MIN_YAW_RPS and tilting < MAX_TILT_SHARE * abs(w):
            ah = a0 * u[0] + a1 * u[1] + a2 * u[2]
            h0, h1, h2 = a0 - ah * u[0], a1 - ah * u[1], a2 - ah * u[2]
            st.sww = forget * st.sww + w * w
            st.swh = (forget * st.swh[0] + w * h0, forget * st.swh[1] + w * h1, forget * st.swh[2] + w * h2)
            st.shh = forget * st.shh + (h0 * h0 + h1 * h1 + h2 * h2)
            st.turns += 1
        c0, c1, c2 = (v / (st.sww + RIDGE) for v in st.swh)
        explained = (c0 * st.swh[0] + c1 * st.swh[1] + c2 * st.swh[2]) / st.shh if st.shh > 0.0 else 0.0
        speed = math.sqrt(c0 * c0 + c1 * c1 + c2 * c2)
        usable = st.turns >= MIN_TURNS and explained > MIN_R2 and SPEED_RANGE_MPS[0] < speed < SPEED_RANGE_MPS[1]
        st.c = (c0, c1, c2) if usable and stepping and steady else (0.0, 0.0, 0.0)
        st.u = st.ups[1] if len(st.ups) > LAG_BLOCKS else st.ups[0]
    st.block = block
    st.sums = [0.0] * 9


def add_sample(st: TurnState, omega: list[float], acc: list[float], step: float) -> tuple[float, float, float]:
    """One sample of the block in progress (``omega``: bias-corrected gyro, rad/s; ``acc``: m/s²; ``step``: the
    stepping signal): adds it to the sums and returns the compensation in force, ``(ω · u) c`` (m/s²)."""
    s = st.sums
    for i in range(3):
        s[i] += omega[i]
        s[3 + i] += acc[i]
    s[6] += step
    s[7] += step * step
    s[8] += 1.0
    c, u = st.c, st.u
    if c == (0.0, 0.0, 0.0):
        return c
    w = omega[0] * u[0] + omega[1] * u[1] + omega[2] * u[2]
    return (c[0] * w, c[1] * w, c[2] * w)


def compensation(
    st: TurnState,
    omega: FloatArray,
    acc: FloatArray,
    step: FloatArray,
    index: list[int],
    starts: IntArray,
    reinit: list[bool],
    forget: float,
) -> FloatArray:
    """``(ω · u) c`` (3, n), m/s², for a chunk: ``omega`` (3, n) bias-corrected gyro, rad/s; ``acc`` (3, n), m/s²;
    ``step`` (n,) the stepping signal; the chunk's bias-block pieces (``index``, ``starts``, ``reinit``)."""
    n = step.shape[0]
    stacked = np.concatenate((omega, acc, step[None, :], (step * step)[None, :], np.ones((1, n))))
    pieces = np.add.reduceat(stacked, starts, axis=1).T.tolist()
    cs: list[tuple[float, float, float]] = []
    us: list[tuple[float, float, float]] = []
    for blk, again, sums in zip(index, reinit, pieces, strict=True):
        if blk != st.block:
            close_block(st, blk, forget)
        if again:
            st.restart()
        cs.append(st.c)
        us.append(st.u)
        st.sums = [x + y for x, y in zip(st.sums, sums, strict=True)]
    out = np.zeros((3, n))
    if not any(c != (0.0, 0.0, 0.0) for c in cs):
        return out
    lengths = np.diff(np.append(starts, n))
    c_rows = np.repeat(np.array(cs).T, lengths, axis=1)
    u_rows = np.repeat(np.array(us).T, lengths, axis=1)
    w = np.einsum("ij,ij->j", omega, u_rows)
    np.multiply(c_rows, w, out=out)
    return out
