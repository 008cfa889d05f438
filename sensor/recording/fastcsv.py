"""Vectorised parsing and formatting of numeric CSV text with numpy.

Parsing a 4 h, 100 Hz recording (1.44 M rows, ~90 MB) line by line in Python, or with ``np.loadtxt``, takes
seconds. Here a block of complete lines is parsed in whole-array numpy passes, in two tiers:

1. :func:`_parse_short_fields` (the files hipsense writes): every field is at most 8 characters after an
   optional '-'. The 8 bytes before each separator are read as one little-endian word and turned into the
   integer of their digits with SWAR arithmetic (a few shifts, masks and multiplies per field, no per-digit
   arrays); that integer divided by the exact power of ten is the correctly rounded value.
2. :func:`_parse_by_layout` (anything else numeric: longer fields, '+', exponents as phyphox writes them):
   fields are grouped by layout and the digits of each group become numbers with one matrix product.

Both give values bit-identical to ``float(text)`` for up to 15 significant digits (integers below 2**53 and
powers of ten up to 1e22 are exact in float64, so one division rounds once); beyond that within an ulp or
two. Anything unusual (``nan``, ``inf``, spaces, empty fields, stray characters, huge exponents) makes
:func:`parse_block` return ``None`` and the caller falls back to an exact line-by-line path that also finds
the offending line.

:func:`format_block` does the reverse with fixed decimals per column, trailing fraction zeros (and a bare
``.``) dropped, so ``1.5`` is written as ``1.5``, not ``1.500000``. Up to 6 decimals and 7 integer digits
(:func:`_format_short`) the digits are made 8 at a time with SWAR into fixed byte slots and the unused slots
deleted in one pass; wider values go through a digit-table grid (:func:`_format_by_groups`).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

_COMMA = 44
_NEWLINE = 10
_MINUS = 45
_PLUS = 43
_DOT = 46
_ZERO = 48
_SLASH = 47
_NINE = 57
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
    short = _parse_short_pieces(buf, ncols)
    if short is not None:
        return short
    return _parse_by_layout(buf, ncols)


def _parse_by_layout(buf: bytes, ncols: int) -> NDArray[np.float64] | None:
    """The general vectorised path: fields grouped by layout (width, sign, '.', exponent)."""
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
    power = exponent - frac
    if int(np.abs(power).max()) > 22:
        return None  # beyond the exact powers of ten (and overflow, underflow): the exact slow path
    return np.where(power >= 0, mant * _P10_FLOAT[np.maximum(power, 0)], mant / _P10_FLOAT[np.maximum(-power, 0)])


# --- short fields: one 8-byte word per field -------------------------------------------------------------------

_U64 = np.uint64
_BIT4_LANES = _U64(0x1010101010101010)  # bit 4 of every byte: set for '0'-'9', clear for '.', '-', ',', '\n'
_BIT0_LANES = _U64(0x0101010101010101)
#: the last n byte lanes of a little-endian 8-byte word, i.e. the n characters before a separator
_FIELD_LANES = np.array([0] + [(1 << 64) - (1 << (8 * (8 - n))) for n in range(1, 9)], dtype=np.uint64)
#: multiplier that maps 2**(8 q) (the lane of the '.') to 2 (q + 1) in its top 7 bits, and 0 (no '.') to 0
_DOT_HASH = _U64(sum((2 * (q + 1)) << (57 - 8 * q) for q in range(8)))
#: divisor by index 2 (q + 1) + negative (q + 1 = 0 without a '.'): a '.' in lane q leaves 7 - q fraction
#: digits and the integer of the digits is 10x (the '.' lane becomes the last digit, 0); the sign goes into
#: the divisor (0 / -1.0 is -0.0, as float("-0") is)
_DIVISOR = np.array([s * 10.0 ** (8 - q) if q < 8 else s for q in (8, *range(8)) for s in (1.0, -1.0)])
#: blocks are parsed in pieces of about this size, so that the work arrays stay in the CPU caches
_PIECE_BYTES = 1 << 18


class _Scratch(threading.local):
    """Per-thread work arrays, reused from piece to piece: fresh arrays cost more in page faults and cache
    misses than the arithmetic done on them. About 30 bytes per field of the largest piece parsed."""

    def __init__(self) -> None:
        self.arrays: dict[str, NDArray[Any]] = {}

    def get(self, name: str, n: int, dtype: type[Any]) -> NDArray[Any]:
        arr = self.arrays.get(name)
        if arr is None or arr.size < n:
            arr = np.empty(n + n // 4, dtype)
            self.arrays[name] = arr
        return arr[:n]


_scratch = _Scratch()


def _parse_short_pieces(buf: bytes, ncols: int) -> NDArray[np.float64] | None:
    """:func:`_parse_short_fields` on pieces of about :data:`_PIECE_BYTES` cut at line ends."""
    if len(buf) < 2 * _PIECE_BYTES:
        return _parse_short_fields(buf, ncols)
    parts = []
    start = 0
    while start < len(buf):
        end = buf.find(b"\n", start + _PIECE_BYTES - 1) + 1 or len(buf)
        part = _parse_short_fields(buf[start:end], ncols)
        if part is None:
            return None
        parts.append(part)
        start = end
    return np.concatenate(parts)


def _parse_short_fields(buf: bytes, ncols: int) -> NDArray[np.float64] | None:
    """Fast path for plain decimals of at most 8 characters after an optional '-' (``-12.34567``,
    ``0.006848``, ``14399.99``, ``0``), as :class:`sensor.recording.RecordingWriter` writes them; ``None`` for
    anything else (``+``, exponents, longer fields, malformed rows).

    Each field is read as the little-endian 8-byte word that ends at its separator (last character in the top
    byte lane) and turned into the integer of its digits with SWAR arithmetic: the digits after the '.' move
    down one lane over it, then three multiply-shift-mask steps combine 8 digit lanes into one number. That
    integer (< 10**9) divided by the exact power of ten is the correctly rounded value, bit-identical to
    ``float(text)``.
    """
    n = len(buf)
    ws = _scratch
    pad = ws.get("pad", n + 16, np.uint8)  # 8 bytes before the text (the first word), 8 after (alignment)
    a = pad[8 : n + 8]
    a[:] = np.frombuffer(buf, np.uint8)
    if int(a.max()) > _NINE:  # letters (nan, inf, exponents) and anything else above '9'
        return None
    mask = ws.get("mask", n, np.bool_)
    seps = np.flatnonzero(np.less(a, _MINUS, out=mask))  # ',' and '\n'; any other byte below '-' fails below
    nf = seps.size
    if nf == 0 or nf % ncols:
        return None
    sep_chars = a[seps].reshape(-1, ncols)
    if not ((sep_chars[:, :-1] == _COMMA).all() and (sep_chars[:, -1] == _NEWLINE).all()):
        return None
    starts = ws.get("starts", nf, np.intp)
    starts[0] = 0
    np.add(seps[:-1], 1, out=starts[1:])
    neg = np.equal(
        np.take(a, starts, out=ws.get("first", nf, np.uint8), mode="wrap"), _MINUS, out=ws.get("neg", nf, np.bool_)
    )
    length = np.subtract(seps, starts, out=starts)
    length -= neg  # characters after the sign
    if int(length.max()) > 8 or int(length.min()) < 1:
        return None
    # w: the 8 bytes before each separator, from two aligned words (numpy gathers unaligned items ~5x slower).
    # Every index below is in range by construction; mode="wrap" skips numpy's slower bounds-checking path.
    aligned = pad[: (n + 16) // 8 * 8].view(np.uint64)
    at = np.right_shift(seps, 3, out=ws.get("at", nf, np.intp))
    w = np.take(aligned, at, out=ws.get("w", nf, np.uint64), mode="wrap")
    at += 1
    upper = np.take(aligned, at, out=ws.get("upper", nf, np.uint64), mode="wrap")
    shift = np.bitwise_and(seps, 7, out=ws.get("shift", nf, np.uint64), casting="unsafe")
    shift <<= _U64(3)
    w >>= shift
    np.subtract(_U64(64), shift, out=shift)
    upper <<= shift  # a shift by 64 gives 0
    w |= upper
    lanes = np.take(_FIELD_LANES, length, out=ws.get("lanes", nf, np.uint64), mode="wrap")
    dot = np.invert(w, out=ws.get("dot", nf, np.uint64))  # bit 4 of the non-digit lane ('.'), if any
    dot &= _BIT4_LANES
    dot &= lanes
    below = np.subtract(dot, _U64(1), out=ws.get("below", nf, np.uint64))  # lanes below the '.'; all if none
    if np.bitwise_and(dot, below, out=upper).any():
        return None  # two non-digits after the sign
    n_neg = int(np.count_nonzero(neg))
    n_dot = int(np.count_nonzero(dot))
    # every '-' starts a field; every other byte below '0' is a separator or a field's one '.' (not a '/')
    if int(np.count_nonzero(np.equal(a, _MINUS, out=mask))) != n_neg:
        return None
    if int(np.count_nonzero(np.less(a, _SLASH, out=mask))) != nf + n_neg + n_dot:
        return None
    if np.any(dot[length == 1]):
        return None  # "." or "-." alone
    digits = np.right_shift(w, _U64(4), out=shift)
    digits &= _BIT0_LANES
    digits *= _U64(15)
    digits &= w
    digits &= lanes  # digit values; 0 in the '.' lane and outside the field
    after = np.invert(below, out=upper)
    after &= digits  # the digits after the '.' (none without a '.')
    digits -= after
    after >>= _U64(8)
    digits += after  # ... moved down one lane, over the '.'
    digits *= _U64(10 * 256 + 1)
    digits >>= _U64(8)
    digits &= _U64(0x00FF00FF00FF00FF)
    digits *= _U64(100 * 65536 + 1)
    digits >>= _U64(16)
    digits &= _U64(0x0000FFFF0000FFFF)
    digits *= _U64(10000 * (1 << 32) + 1)
    digits >>= _U64(32)
    index = np.right_shift(dot, _U64(4), out=dot)
    index *= _DOT_HASH
    index >>= _U64(57)
    index_i = index.view(np.intp)
    index_i += neg
    out = np.empty(nf)
    out[:] = digits
    out /= np.take(_DIVISOR, index_i, out=ws.get("divisor", nf, np.float64), mode="wrap")
    return out.reshape(-1, ncols)


_ASCII_ZEROS = _U64(0x3030303030303030)
_HIGH_BITS = _U64(0x8080808080808080)


#: the 4 decimal digits of 0-9999 as byte values, the first digit in the lowest byte
_DIGIT_LANES_4 = np.array(
    [sum(int(ch) << (8 * i) for i, ch in enumerate(f"{k:04d}")) for k in range(10000)], dtype=np.uint64
)


def _digit_lanes(n: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """The 8 decimal digits of ``n`` (< 10**8, zero-padded) as byte values 0-9, the first digit in the lowest lane:
    two lookups of 4 digits (an 80 KB table)."""
    hi = n // _U64(10000)
    lo = n - hi * _U64(10000)
    x = np.take(_DIGIT_LANES_4, lo.view(np.int64), mode="wrap")
    x <<= _U64(32)
    x |= np.take(_DIGIT_LANES_4, hi.view(np.int64), mode="wrap")
    return x


def _smear_down(flags: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Lane mask (0xFF) of every lane at or below the highest lane whose bit 7 is set."""
    flags |= flags >> _U64(8)
    flags |= flags >> _U64(16)
    flags |= flags >> _U64(32)
    flags >>= _U64(7)
    flags *= _U64(0xFF)
    return flags


def _smear_up(flags: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """Lane mask (0xFF) of every lane at or above the lowest lane whose bit 7 is set."""
    flags |= flags << _U64(8)
    flags |= flags << _U64(16)
    flags |= flags << _U64(32)
    flags >>= _U64(7)
    flags *= _U64(0xFF)
    return flags


def _format_short(scaled: NDArray[np.int64], neg: NDArray[np.bool_], dec: NDArray[np.int64]) -> bytes:
    """:func:`format_block` for up to 6 decimals and 7 integer digits per column.

    Every field gets two 8-byte words of fixed slots: sign and integer digits; '.', fraction digits and
    separator. The bytes to drop (unused slots, no sign, leading zeros, trailing fraction zeros, a '.' with
    nothing after it) are left 0 and deleted in one pass over the text.
    """
    nrows, ncols = scaled.shape
    parts: list[NDArray[np.uint64]] = []
    for c in range(ncols):
        d = int(dec[c])
        col = scaled[:, c].astype(np.uint64)
        whole = col // _U64(10**d)
        n_int = len(str(int(whole.max())))
        # sign and integer digits: lane 0 '-' or 0, then the last n_int digits, leading zeros dropped
        digits = _digit_lanes(whole)
        digits >>= _U64(8 * (8 - n_int))
        keep = _smear_up(digits + _U64(0x7F7F7F7F7F7F7F7F) & _HIGH_BITS) | _U64(0xFF << (8 * (n_int - 1)))
        digits |= _ASCII_ZEROS & _U64((1 << (8 * n_int)) - 1)
        digits &= keep
        digits <<= _U64(8)
        digits |= neg[:, c].astype(np.uint64) * _U64(_MINUS)
        parts.append(digits)
        # '.', the fraction digits without trailing zeros (no '.' if none is left), separator
        sep = _U64((_NEWLINE if c == ncols - 1 else _COMMA) << (8 * (d + 1)))
        if d == 0:
            parts.append(np.full(nrows, sep >> _U64(8)))
            continue
        frac = _digit_lanes(col - whole * _U64(10**d))
        frac >>= _U64(8 * (8 - d))
        keep = _smear_down(frac + _U64(0x7F7F7F7F7F7F7F7F) & _HIGH_BITS)
        frac |= _ASCII_ZEROS & _U64((1 << (8 * d)) - 1)
        frac <<= _U64(8)
        frac |= _U64(_DOT)
        keep |= keep << _U64(8)  # the '.' stays with the first fraction digit
        frac &= keep
        frac |= sep
        parts.append(frac)
    grid = np.empty((nrows, len(parts)), np.uint64)  # 8 bytes per slot group: cheaper than trimming each
    for j, words in enumerate(parts):
        grid[:, j] = words
    return grid.tobytes().translate(None, b"\0")


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
    if int(dec.max()) <= 6 and all(int(scaled[:, c].max()) < 10 ** (7 + int(dec[c])) for c in range(ncols)):
        return _format_short(scaled, neg, dec)
    return _format_by_groups(scaled, neg, dec)


def _format_by_groups(scaled: NDArray[np.int64], neg: NDArray[np.bool_], dec: NDArray[np.int64]) -> bytes:
    """:func:`format_block` for any width: digits four at a time from a table into a byte grid, compacted."""
    nrows, ncols = scaled.shape
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
