"""Vectorised unit-quaternion helpers for :mod:`processing.orientation` (private).

A quaternion ``w + x i + y j + z k`` is stored as a pair of complex numbers (Cayley–Dickson form)
``a = w + x i`` and ``b = y + z i``, so that ``q = a + b j``. The Hamilton product is then

    (a1 + b1 j)(a2 + b2 j) = (a1 a2 - b1 conj(b2)) + (a1 b2 + b1 conj(a2)) j

which numpy evaluates in 8 ufunc calls instead of 28 (the reason for this form: speed).

>>> a, b = from_rotvec(np.array([[0.0], [0.0], [np.pi / 2]]))
>>> np.round(to_matrix(a, b)[:, 0], 12).reshape(3, 3) + 0.0
array([[ 0., -1.,  0.],
       [ 1.,  0.,  0.],
       [ 0.,  0.,  1.]])
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
ComplexArray = NDArray[np.complex128]

#: Sequences up to this length are scanned with a plain Python loop (faster than numpy for tiny arrays).
_SMALL = 24
#: Block length of the two-level prefix scan.
_BLOCK = 8


def mul(a1: ComplexArray, b1: ComplexArray, a2: ComplexArray, b2: ComplexArray) -> tuple[ComplexArray, ComplexArray]:
    """Hamilton product ``q1 ⊗ q2`` (broadcasting)."""
    return a1 * a2 - b1 * np.conj(b2), a1 * b2 + b1 * np.conj(a2)


def from_rotvec(v: FloatArray) -> tuple[ComplexArray, ComplexArray]:
    """Unit quaternions of rotation vectors ``v``: (3, n) float, rad (axis × angle)."""
    half_sq = v[0] * v[0]
    sq = v[1] * v[1]
    half_sq += sq
    np.multiply(v[2], v[2], out=sq)
    half_sq += sq
    half_sq *= 0.25
    m = v.shape[1]
    a = np.empty(m, dtype=np.complex128)
    b = np.empty(m, dtype=np.complex128)
    if m and float(half_sq.max()) < 0.01:
        # |θ/2| < 0.1: Taylor series of cos(θ/2) and sin(θ/2)/θ, exact to double precision there (Horner in
        # contiguous scratch rows, then one copy into the interleaved complex array)
        h2 = half_sq
        c = np.multiply(h2, 1.0 / 40320.0)
        c -= 1.0 / 720.0
        c *= h2
        c += 1.0 / 24.0
        c *= h2
        c -= 0.5
        c *= h2
        c += 1.0
        a.real = c
        s = np.multiply(h2, -1.0 / 10080.0, out=c)
        s += 1.0 / 240.0
        s *= h2
        s -= 1.0 / 12.0
        s *= h2
        s += 0.5
    else:
        half = np.sqrt(half_sq)
        np.cos(half, out=a.real)
        # sin(θ/2)/θ = 0.5 sinc(θ/2π) with numpy's normalised sinc; exact at θ = 0.
        s = 0.5 * np.sinc(half * (1.0 / np.pi))
    np.multiply(s, v[0], out=a.imag)
    np.multiply(s, v[1], out=b.real)
    np.multiply(s, v[2], out=b.imag)
    return a, b


def _scan_small(a: ComplexArray, b: ComplexArray) -> tuple[ComplexArray, ComplexArray]:
    al: list[complex] = a.tolist()
    bl: list[complex] = b.tolist()
    pa, pb = al[0], bl[0]
    for k in range(1, len(al)):
        a2, b2 = al[k], bl[k]
        pa, pb = pa * a2 - pb * b2.conjugate(), pa * b2 + pb * a2.conjugate()
        al[k], bl[k] = pa, pb
    return np.array(al, dtype=np.complex128), np.array(bl, dtype=np.complex128)


def _mul_into(
    a1: ComplexArray,
    b1: ComplexArray,
    a2: ComplexArray,
    b2: ComplexArray,
    tmp1: ComplexArray,
    tmp2: ComplexArray,
) -> None:
    """``(a2, b2) <- q1 ⊗ q2`` in place, using the scratch arrays ``tmp1``, ``tmp2`` (same shape as ``a2``).

    Large numpy temporaries are costly here (fresh pages from the allocator on every call), so the product is
    formed in preallocated arrays: the scans below run a few thousand of these per second of data.
    """
    np.conjugate(b2, out=tmp1)
    tmp1 *= b1  # b1 conj(b2)
    np.conjugate(a2, out=tmp2)
    tmp2 *= b1  # b1 conj(a2)
    b2 *= a1
    b2 += tmp2
    a2 *= a1
    a2 -= tmp1


def scan(a: ComplexArray, b: ComplexArray) -> tuple[ComplexArray, ComplexArray]:
    """Inclusive prefix products ``p_k = q_0 ⊗ q_1 ⊗ ... ⊗ q_k`` of (n,) quaternions.

    Two-level blocked scan: a sequential sweep across ``_BLOCK`` columns, vectorised over the blocks, then the
    block totals are scanned recursively and applied. Work is about 2n products, all in place; results equal
    the sequential product up to floating-point rounding (associativity).
    """
    m = a.shape[0]
    if m <= _SMALL:
        return _scan_small(a, b) if m else (a.copy(), b.copy())
    nb = -(-m // _BLOCK)
    pad = nb * _BLOCK - m
    if pad:
        a = np.concatenate((a, np.ones(pad, dtype=np.complex128)))
        b = np.concatenate((b, np.zeros(pad, dtype=np.complex128)))
    xa = np.ascontiguousarray(a.reshape(nb, _BLOCK).T)
    xb = np.ascontiguousarray(b.reshape(nb, _BLOCK).T)
    tmp1 = np.empty((_BLOCK - 1, nb), dtype=np.complex128)
    tmp2 = np.empty((_BLOCK - 1, nb), dtype=np.complex128)
    for j in range(1, _BLOCK):
        _mul_into(xa[j - 1], xb[j - 1], xa[j], xb[j], tmp1[0], tmp2[0])
    ta, tb = scan(xa[_BLOCK - 1], xb[_BLOCK - 1])
    # block k > 0 starts from the product of blocks 0..k-1 (all its columns at once); its last column is the
    # scanned total itself
    _mul_into(ta[None, :-1], tb[None, :-1], xa[:-1, 1:], xb[:-1, 1:], tmp1[:, 1:], tmp2[:, 1:])
    xa[_BLOCK - 1], xb[_BLOCK - 1] = ta, tb
    return xa.T.reshape(-1)[:m], xb.T.reshape(-1)[:m]


def to_matrix(a: ComplexArray, b: ComplexArray) -> FloatArray:
    """Rotation matrices of unit quaternions, (9, n): row-major entries R00, R01, ..., R22.

    ``R`` maps a vector from the rotated (sensor) frame to the reference frame: ``v_ref = R v``.
    Written into the output with seven scratch rows (no other temporaries: see :func:`_mul_into`).
    """
    w, x, y, z = a.real, a.imag, b.real, b.imag
    out = np.empty((9, a.shape[0]))
    sq = np.empty((7, a.shape[0]))
    ww, xx, yy, zz, y2, z2, w2 = sq
    np.multiply(w, w, out=ww)
    np.multiply(x, x, out=xx)
    np.multiply(y, y, out=yy)
    np.multiply(z, z, out=zz)
    np.add(ww, xx, out=out[0])  # ww + xx - yy - zz
    out[0] -= yy
    out[0] -= zz
    np.subtract(ww, xx, out=out[4])  # ww - xx + yy - zz
    out[4] += yy
    out[4] -= zz
    np.subtract(ww, xx, out=out[8])  # ww - xx - yy + zz
    out[8] -= yy
    out[8] += zz
    # the off-diagonal terms are doubled products: one factor of each doubled first (exact: a power of two)
    np.multiply(y, 2.0, out=y2)
    np.multiply(z, 2.0, out=z2)
    np.multiply(w, 2.0, out=w2)
    u, v = sq[0], sq[1]
    np.multiply(x, y2, out=u)
    np.multiply(z, w2, out=v)
    np.subtract(u, v, out=out[1])  # 2 (xy - zw)
    np.add(u, v, out=out[3])  # 2 (xy + zw)
    np.multiply(x, z2, out=u)
    np.multiply(y, w2, out=v)
    np.add(u, v, out=out[2])  # 2 (xz + yw)
    np.subtract(u, v, out=out[6])  # 2 (xz - yw)
    np.multiply(y, z2, out=u)
    np.multiply(x, w2, out=v)
    np.subtract(u, v, out=out[5])  # 2 (yz - xw)
    np.add(u, v, out=out[7])  # 2 (yz + xw)
    return out


def rotate(r: FloatArray, v: FloatArray) -> FloatArray:
    """``R v`` for (9, n) matrices and (3, n) vectors."""
    out = np.empty(v.shape)
    out[0] = r[0] * v[0] + r[1] * v[1] + r[2] * v[2]
    out[1] = r[3] * v[0] + r[4] * v[1] + r[5] * v[2]
    out[2] = r[6] * v[0] + r[7] * v[1] + r[8] * v[2]
    return out


def rotate_inverse(r: FloatArray, v: FloatArray, out: FloatArray | None = None) -> FloatArray:
    """``Rᵀ v`` for (9, n) matrices and (3, n) vectors, into ``out`` (3, n) if given."""
    if out is None:
        out = np.empty(v.shape)
    out[0] = r[0] * v[0] + r[3] * v[1] + r[6] * v[2]
    out[1] = r[1] * v[0] + r[4] * v[1] + r[7] * v[2]
    out[2] = r[2] * v[0] + r[5] * v[1] + r[8] * v[2]
    return out
