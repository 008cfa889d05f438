"""Smooth-trajectory mathematics for the simulator (pure numpy, no randomness).

Every simulated signal is an analytic function of time evaluated together with its first and second
derivatives (a :class:`Jet`), so that the gyroscope (first derivatives of the orientation) and the
accelerometer (second derivatives of the position) come from one and the same trajectory.

Orientation convention (see :mod:`sensor.simulate`): pelvis->world rotation ``R = Rz(yaw) @ Ry(tilt) @ Rx(obl)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Jet:
    """A signal with its time derivatives: ``v`` (n,), ``d1`` (n,) per s, ``d2`` (n,) per s²."""

    v: FloatArray
    d1: FloatArray
    d2: FloatArray

    @staticmethod
    def zeros(n: int) -> Jet:
        return Jet(np.zeros(n), np.zeros(n), np.zeros(n))

    def __add__(self, other: Jet) -> Jet:
        return Jet(self.v + other.v, self.d1 + other.d1, self.d2 + other.d2)

    def __sub__(self, other: Jet) -> Jet:
        return Jet(self.v - other.v, self.d1 - other.d1, self.d2 - other.d2)

    def __mul__(self, other: Jet) -> Jet:
        """Product rule: (ab)' = a'b + ab', (ab)'' = a''b + 2a'b' + ab''."""
        return Jet(
            self.v * other.v,
            self.d1 * other.v + self.v * other.d1,
            self.d2 * other.v + 2.0 * self.d1 * other.d1 + self.v * other.d2,
        )

    def scale(self, c: float) -> Jet:
        return Jet(self.v * c, self.d1 * c, self.d2 * c)

    def sincos(self) -> tuple[Jet, Jet]:
        """(sin(self), cos(self)) by the chain rule."""
        s, c = np.sin(self.v), np.cos(self.v)
        d1sq = self.d1 * self.d1
        sin = Jet(s, c * self.d1, c * self.d2 - s * d1sq)
        cos = Jet(c, -s * self.d1, -s * self.d2 - c * d1sq)
        return sin, cos


def min_jerk(s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Minimum-jerk step 0 -> 1 on s in [0, 1] (clipped outside) and its first two derivatives in s.

    The first and second derivatives vanish at both ends, so steps join constant stretches smoothly.
    """
    s = np.clip(s, 0.0, 1.0)
    u = s * (1.0 - s)
    return s * s * s * (10.0 - 15.0 * s + 6.0 * s * s), 30.0 * u * u, 60.0 * u * (1.0 - 2.0 * s)


def bump(s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Smooth bump 0 -> 1 (at s = 0.5) -> 0 on s in [0, 1], zero outside, and its derivatives in s.

    ``64 s³ (1-s)³``: value, first and second derivatives vanish at both ends.
    """
    s = np.clip(s, 0.0, 1.0)
    u = s * (1.0 - s)
    w = 1.0 - 2.0 * s
    return 64.0 * u * u * u, 192.0 * u * u * w, 384.0 * u * (w * w - u)


def ramp_envelope(t: FloatArray, start: float, stop: float, ramp_s: float) -> Jet:
    """1 inside [start + ramp, stop - ramp], 0 outside [start, stop], minimum-jerk ramps in between."""
    up, up1, up2 = min_jerk((t - start) / ramp_s)
    dn, dn1, dn2 = min_jerk((stop - t) / ramp_s)
    a = Jet(up, up1 / ramp_s, up2 / ramp_s**2)
    b = Jet(dn, -dn1 / ramp_s, dn2 / ramp_s**2)
    return a * b


def harmonics(phase: Jet, orders: FloatArray, amps: FloatArray, offsets: FloatArray) -> Jet:
    """``sum_k amps[k] * cos(orders[k] * phase + offsets[k])`` with exact derivatives."""
    n = phase.v.shape[0]
    v, d1, d2 = np.zeros(n), np.zeros(n), np.zeros(n)
    p1sq = phase.d1 * phase.d1
    for k, a, o in zip(orders, amps, offsets, strict=True):
        arg = k * phase.v + o
        c, s = np.cos(arg), np.sin(arg)
        v += a * c
        d1 -= (a * k) * s
        d2 -= (a * k * k) * c
    # chain rule, factored out of the loop: f(phase)' = f_p phase', f'' = f_pp phase'^2 + f_p phase''
    return Jet(v, d1 * phase.d1, d2 * p1sq + d1 * phase.d2)


def pelvis_matrix(yaw: FloatArray, tilt: FloatArray, obl: FloatArray) -> FloatArray:
    """Pelvis->world rotation matrices ``Rz(yaw) Ry(tilt) Rx(obl)``, (n, 3, 3); angles in rad."""
    cy, sy = np.cos(yaw), np.sin(yaw)
    ct, st = np.cos(tilt), np.sin(tilt)
    co, so = np.cos(obl), np.sin(obl)
    r = np.empty((yaw.shape[0], 3, 3))
    r[:, 0, 0] = cy * ct
    r[:, 0, 1] = cy * st * so - sy * co
    r[:, 0, 2] = cy * st * co + sy * so
    r[:, 1, 0] = sy * ct
    r[:, 1, 1] = sy * st * so + cy * co
    r[:, 1, 2] = sy * st * co - cy * so
    r[:, 2, 0] = -st
    r[:, 2, 1] = ct * so
    r[:, 2, 2] = ct * co
    return r


def body_rates(yaw: Jet, tilt: Jet, obl: Jet) -> tuple[FloatArray, FloatArray]:
    """Angular velocity (rad/s) and acceleration (rad/s²) in the pelvis (body) frame, each (n, 3).

    For ``R = Rz(psi) Ry(theta) Rx(phi)``: ``omega_body = psi' Rx^T Ry^T e_z + theta' Rx^T e_y + phi' e_x``.
    """
    st, ct = np.sin(tilt.v), np.cos(tilt.v)
    so, co = np.sin(obl.v), np.cos(obl.v)
    p1, t1, o1 = yaw.d1, tilt.d1, obl.d1
    p2, t2, o2 = yaw.d2, tilt.d2, obl.d2
    omega = np.empty((st.shape[0], 3))
    omega[:, 0] = o1 - p1 * st
    omega[:, 1] = t1 * co + p1 * so * ct
    omega[:, 2] = -t1 * so + p1 * co * ct
    alpha = np.empty_like(omega)
    alpha[:, 0] = o2 - p2 * st - p1 * t1 * ct
    alpha[:, 1] = t2 * co - t1 * o1 * so + p2 * so * ct + p1 * (o1 * co * ct - t1 * so * st)
    alpha[:, 2] = -t2 * so - t1 * o1 * co + p2 * co * ct - p1 * (o1 * so * ct + t1 * co * st)
    return omega, alpha


def rotate_t(r: FloatArray, v: FloatArray) -> FloatArray:
    """``R^T v`` for stacks: r (n, 3, 3), v (n, 3) -> (n, 3). Written out so each row is computed alone."""
    out = np.empty_like(v)
    for j in range(3):
        out[:, j] = r[:, 0, j] * v[:, 0] + r[:, 1, j] * v[:, 1] + r[:, 2, j] * v[:, 2]
    return out
