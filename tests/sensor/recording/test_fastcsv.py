"""Tests for the fast CSV text codec (sensor.recording.fastcsv): bit-identical parsing and formatting."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sensor.recording.fastcsv import (
    _format_by_groups,
    _format_short,
    _parse_short_fields,
    format_block,
    parse_block,
)


def test_parse_block_is_bit_identical_to_float() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0, 100, (500, 7))
    text = "".join(
        ",".join(f"{v:.{d}f}" for v, d in zip(row, (6, 5, 0, 3, 9, 1, 7), strict=True)) + "\n" for row in values
    ).encode()
    parsed = parse_block(text, 7)
    expected = np.array([[float(x) for x in line.split(b",")] for line in text.splitlines()])
    assert parsed is not None
    assert np.array_equal(parsed, expected)


@pytest.mark.parametrize(
    "text", [b"1,2\n3\n", b"1,2,3\n", b"1,nan\n", b"1,,\n", b"1,2-3\n", b"1,2..3\n", b"1,-\n", b"1,e5\n"]
)
def test_parse_block_falls_back_on_anything_unusual(text: bytes) -> None:
    assert parse_block(text, 2) is None


def _float_rows(text: bytes) -> np.ndarray:
    return np.array([[float(x) for x in line.split(b",")] for line in text.splitlines()])


def test_short_fields_are_bit_identical_to_float() -> None:
    # up to 8 characters after the sign: the fast path, including "-0", ".5", "7." and integers
    rng = np.random.default_rng(5)
    rows = []
    for _ in range(1500):
        fields = []
        for _ in range(5):
            d = int(rng.integers(0, 8))
            f = f"{rng.uniform(-1, 1) * 10.0 ** rng.integers(0, 9):.{d}f}"
            while len(f.lstrip("-")) > 8:
                d -= 1
                f = f"{float(f):.{d}f}" if d >= 0 else f[: 8 + f.startswith("-")]
            fields.append(f.replace("0.", ".", 1) if rng.random() < 0.1 else f)
        rows.append(",".join(fields))
    rows += ["-0,0,-0.0,.5,7.", "-.25,12345678,-1234567.,0.000001,-.0000001", "00000000,-00000000,1,-1,0"]
    text = ("\n".join(rows) + "\n").encode()
    parsed = _parse_short_fields(text, 5)
    assert parsed is not None
    assert parsed.tobytes() == _float_rows(text).tobytes()  # bit for bit, sign of zero included
    blocks = parse_block(text * 20, 5)  # parsed in pieces
    assert blocks is not None and blocks.tobytes() == np.tile(_float_rows(text), (20, 1)).tobytes()


@pytest.mark.parametrize(
    "text",
    [b"1,2/3\n", b"1,--2\n", b"1,2-\n", b"1,.\n", b"1,-.\n", b"1, 2\n", b"1,2\t\n", b"1.2.3,4\n", b"1,2\n,\n"],
)
def test_short_fields_refuse_malformed_fields(text: bytes) -> None:
    assert _parse_short_fields(text, 2) is None
    assert parse_block(text, 2) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="0123456789.-+,e", max_size=12), min_size=1, max_size=8))
def test_parse_block_equals_float_or_refuses(lines: list[str]) -> None:
    text = ("\n".join(lines) + "\n").encode()
    ncols = lines[0].count(",") + 1
    try:
        expected = _float_rows(text)
        ok = all(line.count(",") + 1 == ncols for line in lines)
    except ValueError:
        ok = False
    parsed = parse_block(text, ncols)
    if not ok:
        assert parsed is None
    elif parsed is not None:
        assert np.allclose(parsed, expected, rtol=1e-15, atol=0)
        short = _parse_short_fields(text, ncols)
        assert short is None or short.tobytes() == expected.tobytes()


def test_parse_block_reads_phyphox_style_exponents() -> None:
    parsed = parse_block(b"1.234567890E-2,-9.810000000E0\n+5.E1,-.5\n", 2)
    assert parsed is not None
    assert parsed.tolist() == [[0.0123456789, -9.81], [50.0, -0.5]]


def test_format_block_round_trips_at_the_printed_decimals() -> None:
    rng = np.random.default_rng(4)
    values = np.column_stack([np.arange(300) / 100 + 86000, rng.normal(0, 20, (300, 6))])
    values[5] = [0.0, -0.0000004, 0.0000006, 123.5, -1e-7, 1.0, -12.5]
    text = format_block(values, (6, 5, 5, 5, 6, 6, 6))
    decimals = np.array([6, 5, 5, 5, 6, 6, 6])
    back = np.array([[float(x) for x in line.split(b",")] for line in text.splitlines()])
    assert np.array_equal(back, np.round(values * 10.0**decimals) / 10.0**decimals)
    assert text.splitlines()[5] == b"0,0,0,123.5,0,1,-12.5"  # no "-0"


def test_short_formatter_matches_the_general_one() -> None:
    rng = np.random.default_rng(6)
    n = 3000
    values = np.column_stack(
        [
            np.arange(n) / 100 + 9990,  # t crosses 10000 s: integer digits change within the block
            rng.normal(0, 20, n),
            rng.normal(0, 1e-4, n),  # mostly "0.0000x" and "-0"
            np.round(rng.normal(0, 5, n), 1),  # trailing zeros
            rng.integers(-9999999, 9999999, n).astype(float),  # 7 integer digits
            rng.uniform(-1, 1, n) * 10.0 ** rng.integers(-7, 3, n),
            np.full(n, 0.9999999),  # rounds up to "1"
        ]
    )
    values[:10, 1:6] = 0.0
    values[10, 1:6] = -0.0
    decimals = np.array([6, 5, 6, 3, 0, 6, 6])
    scaled = np.rint(np.abs(values) * 10.0**decimals).astype(np.int64)
    neg = (values < 0) & (scaled > 0)
    short = _format_short(scaled, neg, decimals)
    assert short == _format_by_groups(scaled, neg, decimals)
    assert format_block(values, tuple(decimals)) == short
    assert short.splitlines()[10] == b"9990.1,0,0,0,0,0,1"
