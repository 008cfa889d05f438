"""Device profiles, their decoders (recorded bytes, round trips, fuzzing) and the timestamp rebuilder."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from processing.errors import ConfigError, DecodeError
from processing.samples import STANDARD_GRAVITY
from sensor.decode import Decoder, TimestampRebuilder
from sensor.profiles import load_profile, load_profiles, parse_profile

PROFILES = {p.name: p for p in load_profiles()}

# A notification captured from a WT901BLECL lying still-ish (20 bytes, 0x55 0x61 + 9 int16 LE).
WITMOTION_CAPTURE = bytes([85, 97, 119, 2, 168, 254, 146, 254, 6, 2, 48, 254, 205, 255, 248, 240, 83, 252, 171, 196])


def test_the_three_profiles_ship_with_their_documented_uuids() -> None:
    assert set(PROFILES) == {"witmotion", "thingy52", "hipsense"}
    wit = PROFILES["witmotion"]
    assert wit.service == "0000ffe5-0000-1000-8000-00805f9a34fb"
    assert wit.notify == "0000ffe4-0000-1000-8000-00805f9a34fb"
    assert wit.characteristics["write"] == "0000ffe9-0000-1000-8000-00805f9a34fb"
    thingy = PROFILES["thingy52"]
    assert thingy.service == "ef680400-9b35-4933-9b10-52ffa9740042"
    assert thingy.notify == "ef680406-9b35-4933-9b10-52ffa9740042"
    assert thingy.characteristics["config"] == "ef680401-9b35-4933-9b10-52ffa9740042"
    assert PROFILES["hipsense"].packet.counter == "counter"


def test_configure_commands_are_the_documented_bytes() -> None:
    wit = PROFILES["witmotion"]
    assert [b.hex(" ") for _, b in wit.configure_commands(50)] == ["ff aa 69 88 b5", "ff aa 03 08 00"]
    assert wit.configure_commands(100)[1][1] == bytes.fromhex("FFAA030900")
    # Thingy: ble_tms_config_t = pedo 1000 ms, temp 500 ms, compass 500 ms, motion 100 Hz, wake on motion.
    [(uuid, data)] = PROFILES["thingy52"].configure_commands(100)
    assert uuid.startswith("ef680401") and data == bytes.fromhex("e803 f401 f401 6400 01")
    [(_, data)] = PROFILES["hipsense"].configure_commands(200)
    assert data == bytes.fromhex("c800 08 d007")
    with pytest.raises(ConfigError, match="75 Hz is not supported"):
        wit.configure_commands(75)


def test_witmotion_capture_decodes_with_the_datasheet_scales() -> None:
    packet = PROFILES["witmotion"].packet.decode(WITMOTION_CAPTURE)
    assert packet.counter is None and len(packet) == 1
    raw_acc = np.array([0x0277, -344, -366])  # 0x0277, 0xFEA8, 0xFE92
    np.testing.assert_allclose(packet.acc[0], raw_acc / 32768 * 16 * STANDARD_GRAVITY)
    raw_gyro = np.array([0x0206, -464, -51])
    np.testing.assert_allclose(packet.gyro[0], np.radians(raw_gyro / 32768 * 2000))
    # Several frames in one notification decode as several samples; a torn frame is rejected.
    assert len(PROFILES["witmotion"].packet.decode(WITMOTION_CAPTURE * 3)) == 3
    with pytest.raises(DecodeError):
        PROFILES["witmotion"].packet.decode(WITMOTION_CAPTURE * 2 + WITMOTION_CAPTURE[:7])
    with pytest.raises(DecodeError, match="does not start with 55 61"):
        PROFILES["witmotion"].packet.decode(b"\x55\x71" + WITMOTION_CAPTURE[2:])


# A register reply as WitMotion modules send it in the data stream: 55 71, register 0x64 (battery voltage,
# 0.01 V: 0x019C = 412 -> 4.12 V), then the following registers.
WITMOTION_REPLY = bytes.fromhex("5571 6400 9c01 0000 0000 0000 0000 0000 0000 0000")


def _witmotion_stream() -> tuple[bytes, np.ndarray]:
    frames = [WITMOTION_CAPTURE, WITMOTION_CAPTURE[:2] + bytes(reversed(WITMOTION_CAPTURE[2:])), WITMOTION_CAPTURE]
    stream = frames[0] + WITMOTION_REPLY + frames[1] + frames[2]
    expected = np.concatenate([PROFILES["witmotion"].packet.decode(f).acc for f in frames])
    return stream, expected


def test_witmotion_frames_cut_anywhere_are_reassembled_and_replies_skipped() -> None:
    """Issue #11: the SDKs re-frame the byte stream; hipsense used to drop every notification that did not hold
    whole 55 61 frames only."""
    stream, expected = _witmotion_stream()
    for a in range(1, len(stream)):
        for b in (a + 1, a + 13, len(stream)):
            if b > len(stream):
                continue
            decoder = Decoder(PROFILES["witmotion"].packet)
            pieces = [stream[:a], stream[a:b], stream[b:]]
            packets = [decoder.decode(piece) for piece in pieces if piece]
            acc = np.concatenate([pk.acc for pk in packets if pk is not None])
            np.testing.assert_array_equal(acc, expected)
            assert decoder.skipped_frames == 1 and decoder.rejected == 0


def test_witmotion_reply_in_the_middle_of_a_notification_keeps_its_samples() -> None:
    decoder = Decoder(PROFILES["witmotion"].packet)
    packet = decoder.decode(WITMOTION_CAPTURE + WITMOTION_REPLY + WITMOTION_CAPTURE)
    assert packet is not None and len(packet) == 2 and decoder.skipped_frames == 1


def test_witmotion_partial_frame_is_dropped_after_lost_notifications_and_noise_is_skipped() -> None:
    decoder = Decoder(PROFILES["witmotion"].packet)
    assert decoder.decode(WITMOTION_CAPTURE[:9]) is None
    # the rest of that frame was lost with the notification before this one: do not glue bytes together
    packet = decoder.decode(WITMOTION_CAPTURE, lost_before=1)
    assert packet is not None and len(packet) == 1
    np.testing.assert_array_equal(packet.acc, PROFILES["witmotion"].packet.decode(WITMOTION_CAPTURE).acc)
    packet = decoder.decode(b"\x00\x13\x37" + WITMOTION_CAPTURE)  # bytes that cannot start a frame
    assert packet is not None and len(packet) == 1
    assert decoder.assembler is not None and decoder.assembler.skipped_bytes == 9 + 3


def test_toml_comments_say_what_the_vendors_say() -> None:
    wit = (PROFILES["witmotion"].path or Path()).read_text()
    assert "200 Hz is 0x0B" in wit and "0x0A = 200 Hz" not in wit
    assert "0.01 V" in wit and "voltage" in wit
    thingy = (PROFILES["thingy52"].path or Path()).read_text()
    assert "5..200" in thingy and "1..200" not in thingy
    assert [c.persistent for c in PROFILES["thingy52"].configure] == [True]


def test_thingy_raw_uses_q_formats() -> None:
    layout = PROFILES["thingy52"].packet
    data = layout.record.pack(1024, 0, -512, 32, 0, 0, 16, 0, 0)
    packet = layout.decode(data)
    np.testing.assert_allclose(packet.acc[0], [STANDARD_GRAVITY, 0, -STANDARD_GRAVITY / 2])
    np.testing.assert_allclose(packet.gyro[0], [math.radians(1.0), 0, 0])


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_encode_then_decode_is_exact_to_one_lsb(name: str) -> None:
    layout = PROFILES[name].packet
    rng = np.random.default_rng(3)
    n = layout.max_records(244)
    acc = rng.normal(0, 9.0, (n, 3))
    gyro = rng.normal(0, 2.0, (n, 3))
    packet = layout.decode(layout.encode(acc, gyro, counter=70000))
    assert len(packet) == n
    np.testing.assert_allclose(packet.acc, acc, atol=layout.acc_scale_g * STANDARD_GRAVITY / 2 + 1e-12)
    np.testing.assert_allclose(packet.gyro, gyro, atol=math.radians(layout.gyro_scale_dps) / 2 + 1e-12)
    if layout.counter:
        assert packet.counter == 70000 % 65536


def test_hipsense_packet_checks_version_and_count() -> None:
    layout = PROFILES["hipsense"].packet
    good = layout.encode(np.zeros((2, 3)), np.zeros((2, 3)), counter=5)
    assert len(layout.decode(good)) == 2
    with pytest.raises(DecodeError, match="version = 2"):
        layout.decode(b"\x02" + good[1:])
    with pytest.raises(DecodeError, match="says 3 samples"):
        layout.decode(good[:1] + b"\x03" + good[2:])


@settings(max_examples=400, deadline=None)
@given(data=st.binary(max_size=260), name=st.sampled_from(sorted(PROFILES)))
def test_arbitrary_bytes_never_crash_a_decoder(data: bytes, name: str) -> None:
    decoder = Decoder(PROFILES[name].packet)
    packet = decoder.decode(data)
    if PROFILES[name].packet.reassemble:  # a byte stream: whole sample frames come out, the rest waits or is skipped
        assert packet is None or (len(packet) <= len(data) // 20 and np.isfinite(packet.acc).all())
        assert decoder.rejected == 0
        return
    assert decoder.accepted + decoder.rejected == 1
    assert (packet is None) == (decoder.rejected == 1)
    if packet is not None:
        assert packet.acc.shape == packet.gyro.shape == (len(packet), 3)
        assert np.isfinite(packet.acc).all()
        assert PROFILES[name].packet.sample_count(data) == len(packet)
    assert PROFILES[name].packet.sample_count(data) >= 0


@settings(max_examples=200, deadline=None)
@given(data=st.binary(min_size=4, max_size=64))
def test_fuzzed_prefix_of_a_valid_hipsense_packet_is_counted_and_rejected_or_decoded(data: bytes) -> None:
    layout = PROFILES["hipsense"].packet
    decoder = Decoder(layout)
    decoder.decode(b"\x01" + data)
    assert decoder.accepted + decoder.rejected == 1


def test_a_misspelt_profile_fails_with_its_name() -> None:
    data = {
        "name": "x",
        "gatt": {"service": "ffe5", "notify": "ffe4"},
        "packet": {"record": "<6h", "fields": ["ax", "ay", "az", "gx", "gy", "gz"], "acc_scale_g": 1.0},
        "rates": {"default_hz": 50, "codes": {"50": 1}},
    }
    with pytest.raises(ConfigError, match=r"custom\.toml: invalid profile"):
        parse_profile(data, where="custom.toml")
    with pytest.raises(ConfigError, match="unknown sensor profile 'nope'"):
        load_profile("nope")


# --- timestamps ---------------------------------------------------------------------------------------


def test_counter_timestamps_survive_wraps_losses_and_duplicates() -> None:
    tr = TimestampRebuilder(100.0, counter_bits=16)
    t0 = tr.place(0.0, 3, 65533)
    t1 = tr.place(0.05, 3, 0)  # wrapped: 65533 + 3 = 65536 -> 0
    assert t0.tolist() == pytest.approx([0.0, 0.01, 0.02]) and t1.tolist() == pytest.approx([0.03, 0.04, 0.05])
    t2 = tr.place(0.2, 2, 10)  # counters 3..9 lost: a gap of 7 samples
    assert t2[0] == pytest.approx(0.13) and tr.gaps == 1
    assert tr.place(0.21, 2, 10).size == 0 and tr.rejected == 1  # a duplicate


def test_after_a_long_outage_arrival_time_counts_the_wraps() -> None:
    tr = TimestampRebuilder(100.0, counter_bits=16)
    tr.place(1000.0, 1, 100)
    tr.link_reset()
    # 1000 s later the counter went around once (65536 samples = 655.36 s) and then 34464 more.
    later = tr.place(2000.0, 1, (100 + 100_000) % 65536)
    assert later[0] == pytest.approx(1000.0)


def test_after_a_reconnect_a_restarted_counter_is_placed_by_arrival() -> None:
    tr = TimestampRebuilder(50.0, counter_bits=16)
    tr.place(10.0, 5, 30000)
    tr.link_reset()
    t = tr.place(40.0, 5, 0)  # the board rebooted
    assert t[0] == pytest.approx(30.0, abs=0.05) and np.all(np.diff(t) > 0)


def test_bursts_and_jitter_without_a_counter_keep_nominal_times() -> None:
    rng = np.random.default_rng(1)
    tr = TimestampRebuilder(50.0)
    out = []
    k = 0
    while k < 1500:  # 30 s at 50 Hz, delivered in bursts every 30 ms +- 15 ms, 1..3 samples per packet
        n = int(rng.integers(1, 4))
        sampled_at = (k + n - 1) / 50.0
        arrival = 100.0 + sampled_at + 0.03 * rng.random() + 0.015
        out.append(tr.place(arrival, n))
        k += n
    t = np.concatenate(out)
    np.testing.assert_allclose(t, np.arange(t.size) / 50.0)
    assert tr.gaps == 0


def test_lost_notifications_without_a_counter_become_a_gap() -> None:
    tr = TimestampRebuilder(50.0)
    for k in range(100):
        tr.place(5.0 + k / 50 + 0.01, 1)
    # 40 samples (0.8 s) never arrive, then the stream goes on.
    t = tr.place(5.0 + 140 / 50 + 0.01, 1)
    assert t[0] == pytest.approx(140 / 50, abs=0.021) and tr.gaps == 1
    # A known loss (queue overflow) is placed exactly, even when it is short.
    t = tr.place(5.0 + 145 / 50 + 0.01, 1, lost_before=4)
    assert t[0] == pytest.approx(145 / 50, abs=0.021)
