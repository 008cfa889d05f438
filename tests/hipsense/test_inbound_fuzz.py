"""Fuzzing the application's inbound parsers: exercise messages, alerts read by ``hipsense alerts``, and config
files. A seeded mutator (byte flips, truncations, insertions, huge fields, deep nesting) and hypothesis; every
input must give a valid result or the one expected error, never another exception.
"""

from __future__ import annotations

import contextlib
import json
import random
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hipsense.commands.alerts import MAX_ALERT_BYTES, MAX_ALERT_DEPTH, format_alert
from hipsense.config import load_config, mask_url, split_credentials
from hipsense.inbound import MAX_EXERCISE_BYTES, ExerciseMessage, InboundError, loads_bounded, parse_exercise
from processing.errors import ConfigError

TODAY = date(2026, 3, 10)
SEEDS = [
    b'{"minutes": 5, "what": "bridges"}',
    b'{"minutes": 12.5, "what": "dead bugs", "day": "2026-03-09", "id": "abc-1"}',
    b'{"minutes": 180}',
]
CONFIG_SEED = (
    b'[wearer]\nid = "anna"\ntimezone = "Europe/Berlin"\n[mqtt]\nurl = "mqtt://a:b@127.0.0.1:1883"\n'
    b'discovery_prefix = "homeassistant"\n[alerts]\nprolonged_sitting_s = 1800\n[alerts.cooldown_s]\n'
    b"anterior_tilt = 900\n[store]\nretention_days = 365\n"
)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One random damage: flip, truncate, insert, repeat a slice, deep nesting, or a huge field."""
    b = bytearray(data)
    kind = rng.randrange(7)
    if kind == 0 and b:
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        del b[rng.randrange(len(b) + 1) :]
    elif kind == 2:
        i = rng.randrange(len(b) + 1)
        b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    elif kind == 3 and b:
        i = rng.randrange(len(b))
        b[i:i] = b[i : i + rng.randint(1, 16)] * rng.randint(2, 200)
    elif kind == 4:
        depth = rng.choice([2, 50, 1000, 100_000])
        b = bytearray(b"[" * depth + b"]" * depth)
    elif kind == 5:
        b = bytearray(b'{"minutes": 5, "what": "' + b"x" * rng.choice([10, 1000, 10**6]) + b'"}')
    else:
        b = bytearray(b.replace(b"5", rng.choice([b"true", b"NaN", b"1e999", b"-1", b'"5"', b"null", b"[5]"]), 1))
    return bytes(b)


def test_exercise_parser_survives_mutated_messages() -> None:
    rng = random.Random(11)
    outcomes = {"valid": 0, "refused": 0}
    for i in range(3000):
        payload = mutate(SEEDS[i % len(SEEDS)], rng)
        try:
            msg = parse_exercise(payload, today=TODAY)
        except InboundError as exc:
            assert "\n" not in str(exc)
            outcomes["refused"] += 1
        else:
            assert isinstance(msg, ExerciseMessage) and 1 <= msg.minutes <= 180
            assert abs((msg.day - TODAY).days) <= 7 and len(msg.what) <= 200
            assert not any(ord(c) < 32 for c in msg.what + msg.msg_id)
            outcomes["valid"] += 1
    assert outcomes["refused"] > 1000 and outcomes["valid"] > 100  # the mutator reaches both sides


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)
    )
)
def test_exercise_parser_takes_any_json_value(value: object) -> None:
    payload = json.dumps(value, allow_nan=True).encode()
    try:
        msg = parse_exercise(payload, today=TODAY)
    except InboundError:
        return
    assert len(payload) <= MAX_EXERCISE_BYTES and 1 <= msg.minutes <= 180


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_bounded_json_takes_any_bytes(payload: bytes) -> None:
    with contextlib.suppress(InboundError):
        loads_bounded(payload, max_bytes=2048, max_depth=4)


def test_alert_formatting_survives_mutated_alerts() -> None:
    rng = random.Random(5)
    seed = json.dumps(
        {"id": "a1", "event_type": "prolonged_sitting", "time": "2026-03-10T10:00:00+01:00", "message": "Stand up"}
    ).encode()
    printed = 0
    for _ in range(3000):
        try:
            alert = loads_bounded(mutate(seed, rng), max_bytes=MAX_ALERT_BYTES, max_depth=MAX_ALERT_DEPTH)
        except InboundError:
            continue
        if isinstance(alert, dict):
            line = format_alert(alert, "hipsense/\x1b[2Janna/alert")
            assert "\n" not in line and not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in line)
            printed += 1
    assert printed > 100


def test_config_loader_survives_mutated_files(tmp_path: Path) -> None:
    rng = random.Random(3)
    path = tmp_path / "config.toml"
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(1500):
        path.write_bytes(mutate(CONFIG_SEED, rng))
        try:
            load_config(path)
        except ConfigError as exc:
            assert "\n" not in exc.message and "Traceback" not in exc.message
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 50


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=24))
def test_a_password_is_never_shown_whatever_it_holds(password: str) -> None:
    url = f"mqtt://alice:{password}@10.0.0.5:1883"
    bare, user, pw = split_credentials(url)
    assert user == "alice" and pw == password and bare == "mqtt://10.0.0.5:1883"
    if len(password) >= 4 and password not in "mqtt://alice:********@10.0.0.5:1883":
        assert password not in mask_url(url)


@pytest.mark.parametrize("depth", [10, 1000, 1_000_000])
def test_deep_nesting_is_refused_before_parsing(depth: int) -> None:
    with pytest.raises(InboundError):
        loads_bounded(b"[" * depth + b"]" * depth, max_bytes=10**7, max_depth=8)
