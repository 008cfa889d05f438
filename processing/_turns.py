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

import itertools
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


def _learn_turn(st: TurnState, w: float, h: tuple[float, float, float], forget: float) -> None:
    """Add one walking turn to the regression of ``st``: yaw rate ``w`` (rad/s), horizontal acceleration ``h``
    (m/s²); the old turns keep the weight ``forget``."""
    h0, h1, h2 = h
    st.sww = forget * st.sww + w * w
    st.swh = (forget * st.swh[0] + w * h0, forget * st.swh[1] + w * h1, forget * st.swh[2] + w * h2)
    st.shh = forget * st.shh + (h0 * h0 + h1 * h1 + h2 * h2)
    st.turns += 1


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
            _learn_turn(st, w, (a0 - ah * u[0], a1 - ah * u[1], a2 - ah * u[2]), forget)
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


def _close_many(st: TurnState, sums: FloatArray, blocks: list[int], forget: float) -> tuple[FloatArray, FloatArray]:
    """:func:`close_block` for a run of blocks at once: ``sums`` (9, m) are the sums of the blocks to close, in
    order (the first is the block in progress of ``st``), ``blocks`` (m,) the block each one starts. Returns the
    ``c`` and ``u`` (3, m) in force in each started block; ``st`` ends as after the last."""
    m = sums.shape[1]
    n = sums[8]
    om = sums[0:3] / n
    am = sums[3:6] / n
    mean = sums[6] / n
    sd = np.sqrt(np.maximum(sums[7] / n - mean * mean, 0.0))
    norm = np.sqrt(am[0] * am[0] + am[1] * am[1] + am[2] * am[2])
    ends = np.where(norm > 1e-6, am / np.where(norm > 1e-6, norm, 1.0), np.array([[0.0], [0.0], [1.0]]))
    prev = len(st.ups)
    all_ups = np.concatenate((np.array(st.ups, dtype=np.float64).reshape(-1, 3).T, ends), axis=1)
    q = prev + np.arange(m)
    u = all_ups[:, np.maximum(q - LAG_BLOCKS, 0)]
    u_next = all_ups[:, np.maximum(q - LAG_BLOCKS + 1, 0)]
    stepping = sd > STEP_SD_MPS2
    idx = np.arange(m)
    last_still = np.maximum.accumulate(np.where(stepping, -1, idx))
    run = np.where(stepping, np.where(last_still >= 0, idx - last_still, st.run + idx + 1), 0)
    d = ends - u
    steady = np.sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]) < math.radians(STEADY_DEG)
    w = om[0] * u[0] + om[1] * u[1] + om[2] * u[2]
    tx = om[1] * u[2] - om[2] * u[1]
    ty = om[2] * u[0] - om[0] * u[2]
    tz = om[0] * u[1] - om[1] * u[0]
    tilting = np.sqrt(tx * tx + ty * ty + tz * tz)
    turn = stepping & (run >= RUN_BLOCKS) & steady & (np.abs(w) > MIN_YAW_RPS) & (tilting < MAX_TILT_SHARE * np.abs(w))
    ah = am[0] * u[0] + am[1] * u[1] + am[2] * u[2]
    h = am - ah * u
    # the regression's sums after each block: they change at turn blocks only (a short loop over those)
    sww = np.empty(m)
    swh = np.empty((3, m))
    shh = np.empty(m)
    count = np.empty(m, dtype=np.int64)
    at = 0
    for j in np.flatnonzero(turn).tolist():
        sww[at:j], swh[:, at:j], shh[at:j], count[at:j] = st.sww, np.array(st.swh)[:, None], st.shh, st.turns
        h0, h1, h2 = (float(v) for v in h[:, j])
        _learn_turn(st, float(w[j]), (h0, h1, h2), forget)
        at = j
    sww[at:], swh[:, at:], shh[at:], count[at:] = st.sww, np.array(st.swh)[:, None], st.shh, st.turns
    c = swh / (sww + RIDGE)
    explained = np.where(
        shh > 0.0, (c[0] * swh[0] + c[1] * swh[1] + c[2] * swh[2]) / np.where(shh > 0.0, shh, 1.0), 0.0
    )
    speed = np.sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2])
    usable = (count >= MIN_TURNS) & (explained > MIN_R2) & (speed > SPEED_RANGE_MPS[0]) & (speed < SPEED_RANGE_MPS[1])
    c = np.where(usable & stepping & steady, c, 0.0)
    st.ups = [tuple(float(x) for x in v) for v in all_ups[:, -(LAG_BLOCKS + 1) :].T]  # type: ignore[misc]
    st.run = int(run[-1])
    st.c = (float(c[0, -1]), float(c[1, -1]), float(c[2, -1]))
    st.u = (float(u_next[0, -1]), float(u_next[1, -1]), float(u_next[2, -1]))
    st.block = blocks[-1]
    st.sums = [0.0] * 9
    return c, u_next


#: Chunks of at most this many samples take the per-sample form (the live case: numpy's per-call cost would
#: dominate); longer ones close their blocks as arrays.
SMALL_CHUNK = 16


def compensation(
    st: TurnState,
    omega: FloatArray,
    acc: FloatArray,
    step: FloatArray,
    index: list[int],
    starts: IntArray,
    reinit: list[bool],
    forget: float,
) -> FloatArray | None:
    """``(ω · u) c`` (3, n), m/s², for a chunk: ``omega`` (3, n) bias-corrected gyro, rad/s; ``acc`` (3, n), m/s²;
    ``step`` (n,) the stepping signal; the chunk's bias-block pieces (``index``, ``starts``, ``reinit``). None
    when it is zero throughout (nothing learnt yet, or no walking): the caller skips the subtraction."""
    n = step.shape[0]
    if n <= SMALL_CHUNK:
        return _compensation_small(st, omega, acc, step, index, starts, reinit, forget)
    out = np.zeros((3, n))
    cuts = [i for i, again in enumerate(reinit) if again]
    bounds = [0, *[i for i in cuts if i > 0], len(index)]
    wrote = False
    for lo, hi in itertools.pairwise(bounds):  # pieces between re-initialisations
        s0 = int(starts[lo])
        s1 = int(starts[hi]) if hi < len(index) else n
        wrote |= _compensate_pieces(st, omega, acc, step, index[lo:hi], starts[lo:hi], reinit[lo], forget, out, s0, s1)
    return out if wrote else None


def _compensate_pieces(
    st: TurnState,
    omega: FloatArray,
    acc: FloatArray,
    step: FloatArray,
    index: list[int],
    starts: IntArray,
    again: bool,
    forget: float,
    out: FloatArray,
    s0: int,
    s1: int,
) -> bool:
    """The pieces ``index`` (starting at ``starts``, samples ``s0:s1``), of which only the first may re-initialise;
    whether anything was written into ``out``."""
    rows = slice(s0, s1)
    m = s1 - s0
    stacked = np.concatenate(
        (omega[:, rows], acc[:, rows], step[None, rows], (step[rows] * step[rows])[None, :], np.ones((1, m)))
    )
    local = starts - s0
    pieces = np.add.reduceat(stacked, local, axis=1)
    p = len(index)
    cs = np.empty((3, p))
    us = np.empty((3, p))
    # the first piece as the per-sample form does it, then every later piece closes the one before it
    if index[0] != st.block:
        close_block(st, index[0], forget)
    if again:
        st.restart()
    pieces[:, 0] += np.array(st.sums)
    cs[:, 0], us[:, 0] = st.c, st.u
    if p > 1:
        cs[:, 1:], us[:, 1:] = _close_many(st, pieces[:, : p - 1], index[1:], forget)
    st.sums = [float(v) for v in pieces[:, -1]]
    if not cs.any():
        return False
    lengths = np.diff(np.append(local, m))
    c_rows = np.repeat(cs, lengths, axis=1)
    u_rows = np.repeat(us, lengths, axis=1)
    w = np.einsum("ij,ij->j", omega[:, rows], u_rows)
    np.multiply(c_rows, w, out=out[:, rows])
    return True


def _compensation_small(
    st: TurnState,
    omega: FloatArray,
    acc: FloatArray,
    step: FloatArray,
    index: list[int],
    starts: IntArray,
    reinit: list[bool],
    forget: float,
) -> FloatArray | None:
    """:func:`compensation` of a few samples, sample by sample as the live step does."""
    n = step.shape[0]
    out = np.zeros((3, n))
    wrote = False
    bounds = [*starts.tolist(), n]
    om, ac, sp = omega.T.tolist(), acc.T.tolist(), step.tolist()
    for k, (blk, again) in enumerate(zip(index, reinit, strict=True)):
        if blk != st.block:
            close_block(st, blk, forget)
        if again:
            st.restart()
        for i in range(bounds[k], bounds[k + 1]):
            comp = add_sample(st, om[i], ac[i], sp[i])
            if comp != (0.0, 0.0, 0.0):
                out[:, i] = comp
                wrote = True
    return out if wrote else None
