"""Vectorised parsing and formatting of numeric CSV text with numpy.

Parsing a 4 h, 100 Hz recording (1.44 M rows, ~90 MB) line by line in Python, or with ``np.loadtxt``, takes
seconds. Here a block of complete lines is parsed in a handful of whole-array numpy passes:

1. find the separators (``,`` and ``\\n``) and check that every row has exactly ``ncols`` fields;
2. gather every field right-aligned into a small ``(fields, width)`` byte grid;
3. turn the digits into an exact integer mantissa with one matrix product (integers below 2**53 are exact in
   float64) and split off the fraction digits at the decimal point;
4. divide the mantissa by the exact power of ten. For up to 15 significant digits this is the correctly
   rounded value, i.e. bit-identical to ``float(text)``; beyond that it is within an ulp or two.

Anything unusual (``nan``, ``inf``, spaces, empty fields, stray characters, very long fields) makes
:func:`parse_block` return ``None`` and the caller falls back to an exact line-by-line path that also finds
the offending line. Exponents (``1.5E-2``, as phyphox writes them) are handled on the fast path.

:func:`format_block` does the reverse with fixed decimals per column: values are rounded to integers, their
digits looked up four at a time, laid out right-aligned in a byte grid and compacted with one boolean mask.
Trailing zeros of the fraction (and a bare ``.``) are dropped, so ``1.5`` is written as ``1.5``, not
``1.500000``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

_COMMA = 44
_NEWLINE = 10
_MINUS = 45
_PLUS = 43
_DOT = 46
_ZERO = 48
_MAX_WIDTH = 18  # widest field the fast path parses (int64 mantissa)
_P10_INT = 10 ** np.arange(19, dtype=np.int64)
_P10_FLOAT = 10.0 ** np.arange(0, 309)


def parse_block(buf: bytes, ncols: int) -> NDArray[np.float64] | None:
    """Parse complete lines of plain decimal numbers: ``(rows, ncols)`` float64, or ``None`` to fall back.

    ``buf`` must end with ``\\n``; ``\\r`` must already be removed. Returns ``None`` (never raises) when the
    block has anything the fast path does not handle or rejects, so the caller can locate the bad line.

    >>> parse_block(b"1.5,-2\\n3e2,0.25\\n", 2).tolist()
    [[1.5, -2.0], [300.0, 0.25]]
    """
    if not buf:
        return np.empty((0, ncols))
    if buf[-1] != _NEWLINE:
        return None
    a = np.frombuffer(buf, np.uint8)
    nrows = buf.count(b"\n")
    seps = np.flatnonzero((a == _COMMA) | (a == _NEWLINE))
    n_fields = seps.size
    if n_fields != nrows * ncols or not np.all(a[seps[ncols - 1 :: ncols]] == _NEWLINE):
        return None
    starts = np.empty_like(seps)
    starts[0] = 0
    starts[1:] = seps[:-1] + 1
    widths = seps - starts
    wmax = int(widths.max())
    if int(widths.min()) == 0 or wmax > _MAX_WIDTH:
        return None
    first = a[starts]
    signed = (first == _MINUS) | (first == _PLUS)
    # Fields are grouped by layout: width, sign, position of '.', of the exponent marker and its sign.
    # Within a group every column has a fixed role, so digits become numbers with one matrix product.
    key = widths + 32 * signed
    dot_rel = _marker_offsets(a, seps, starts, a == _DOT)
    if dot_rel is None:
        return None
    key += 64 * (dot_rel + 1)
    has_exp = b"e" in buf or b"E" in buf
    if has_exp:
        exp_rel = _marker_offsets(a, seps, starts, (a | 32) == ord("e"))
        if exp_rel is None:
            return None
        exp_at = starts + np.maximum(exp_rel, 0) + 1
        exp_char = a[np.minimum(exp_at, a.size - 1)]
        exp_sign = (exp_rel >= 0) & (exp_at < seps) & ((exp_char == _MINUS) | (exp_char == _PLUS))
        key += 2048 * (exp_rel + 1) + (1 << 16) * exp_sign
    present = np.flatnonzero(np.bincount(key))
    window = sliding_window_view(np.concatenate([a, np.zeros(wmax, np.uint8)]), wmax)
    out = np.empty(n_fields)
    groups: list[tuple[int, NDArray[np.intp] | slice]]
    if present.size == 1:
        groups = [(int(present[0]), slice(None))]
    else:
        groups = [(int(k), np.flatnonzero(key == k)) for k in present]
    for k, idx in groups:
        value = _parse_group(window[starts[idx], : k % 32], k)
        if value is None:
            return None
        out[idx] = np.where(first[idx] == _MINUS, -value, value) if k & 32 else value
    return out.reshape(nrows, ncols)


def _marker_offsets(
    a: NDArray[np.uint8], seps: NDArray[np.intp], starts: NDArray[np.intp], mask: NDArray[np.bool_]
) -> NDArray[np.int64] | None:
    """Offset of the (single) marker byte in each field, -1 where absent; ``None`` if a field has two."""
    rel = np.full(seps.size, -1, np.int64)
    where = np.flatnonzero(mask)
    if where.size:
        field = np.searchsorted(seps, where)
        if where.size > 1 and not np.all(np.diff(field)):
            return None
        rel[field] = where - starts[field]
    return rel


def _parse_group(grid: NDArray[np.uint8], key: int) -> NDArray[np.float64] | None:
    """Parse fields that share one layout (``key`` from :func:`parse_block`); ``None`` if any is malformed."""
    width, signed = key % 32, bool(key & 32)
    dot = (key >> 6) % 32 - 1
    exp = (key >> 11) % 32 - 1
    exp_signed = bool(key >> 16)
    role = np.zeros(width, np.int8)  # 0 mantissa digit, 1 exponent digit, -1 other
    if signed:
        role[0] = -1
    if dot >= 0:
        role[dot] = -1
    if exp >= 0:
        if dot > exp:
            return None
        role[exp:] = 1
        role[exp] = -1
        if exp_signed:
            role[exp + 1] = -1
    mant_cols = np.flatnonzero(role == 0)
    exp_cols = np.flatnonzero(role == 1)
    if mant_cols.size == 0 or (exp >= 0 and exp_cols.size == 0) or mant_cols.size > 17:
        return None
    digits = grid - np.uint8(_ZERO)
    if np.any(digits.max(axis=0)[role >= 0] > 9):
        return None
    frac = int(np.count_nonzero(mant_cols > dot)) if dot >= 0 else 0
    # exact integer mantissa: integers below 2**53 are exact in float64, also as sums of products
    n_mant = mant_cols.size
    mant_weights = np.zeros(width)
    mant_weights[mant_cols] = _P10_FLOAT[n_mant - 1 :: -1][:n_mant]
    if n_mant <= 15:
        mant = digits.astype(np.float64) @ mant_weights
    else:
        mant = (digits[:, mant_cols].astype(np.int64) @ _P10_INT[n_mant - 1 :: -1][:n_mant]).astype(np.float64)
    if exp < 0:
        return np.asarray(mant / _P10_FLOAT[frac], dtype=np.float64)
    exp_weights = np.zeros(width)
    exp_weights[exp_cols] = _P10_FLOAT[exp_cols.size - 1 :: -1][: exp_cols.size]
    exponent = (digits.astype(np.float64) @ exp_weights).astype(np.int64)
    if exp_signed:
        exponent = np.where(grid[:, exp + 1] == _MINUS, -exponent, exponent)
    power = np.clip(exponent - frac, -308, 308)
    return np.where(power >= 0, mant * _P10_FLOAT[np.maximum(power, 0)], mant / _P10_FLOAT[np.maximum(-power, 0)])


_DIGITS4 = np.array([list(f"{i:04d}".encode()) for i in range(10000)], dtype=np.uint8)


def format_block(values: NDArray[np.float64], decimals: tuple[int, ...]) -> bytes:
    """Format ``(rows, cols)`` finite values as CSV lines with ``decimals[j]`` fraction digits in column j.

    Values are rounded half to even at the given decimals; trailing fraction zeros are dropped. Magnitudes
    must stay below 9e18 / 10**decimals (the caller checks).
    """
    nrows, ncols = values.shape
    if nrows == 0:
        return b""
    dec = np.asarray(decimals, dtype=np.int64)
    scaled = np.rint(np.abs(values) * _P10_FLOAT[dec]).astype(np.int64)  # (rows, cols)
    neg = (values < 0) & (scaled > 0)
    n_groups = max(1, -(-len(str(int(scaled.max()))) // 4))
    ndig = max(4 * n_groups, int(dec.max()) + 4)
    n_groups = ndig // 4
    ndig = 4 * n_groups
    cells = np.empty((nrows, ncols, ndig), np.uint8)
    rest = scaled
    for grp in range(n_groups):
        cells[:, :, ndig - 4 * (grp + 1) : ndig - 4 * grp] = _DIGITS4[rest % 10000]
        rest = rest // 10000
    width = ndig + 3  # sign, digits, '.', separator
    pos = np.arange(width)
    rows = np.arange(nrows)
    grid = np.empty((nrows, ncols, width), np.uint8)
    keep = np.empty((nrows, ncols, width), bool)
    for c in range(ncols):
        d = int(dec[c])
        g: NDArray[np.uint8] = grid[:, c, :]
        g[:, 1 : ndig - d + 1] = cells[:, c, : ndig - d]
        g[:, ndig - d + 1] = _DOT
        g[:, ndig - d + 2 : ndig + 2] = cells[:, c, ndig - d :]
        g[:, ndig + 2] = _NEWLINE if c == ncols - 1 else _COMMA
        int_digits = cells[:, c, : ndig - d - 1] != _ZERO  # the last integer digit is always kept
        first_int = np.where(int_digits.any(axis=1), np.argmax(int_digits, axis=1), ndig - d - 1) + 1
        if d > 0:
            nonzero_frac = cells[:, c, ndig - 1 : ndig - d - 1 : -1] != _ZERO  # reversed fraction digits
            trailing = np.where(nonzero_frac.any(axis=1), np.argmax(nonzero_frac, axis=1), d)
            last = ndig + 1 - trailing
            last = np.where(trailing == d, ndig - d, last)  # no fraction: drop the '.' too
        else:
            last = np.full(nrows, ndig - d)
        g[rows, first_int - 1] = _MINUS
        k = keep[:, c, :]
        k[:] = (pos >= first_int[:, None] - neg[:, c, None]) & (pos <= last[:, None])
        k[:, ndig + 2] = True
    return grid[keep].tobytes()
