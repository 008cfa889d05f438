"""Notifications -> samples: the packet layouts of the device profiles, frame reassembly, the decoder and the
sample-timestamp rebuilder. Pure byte decoding: the profiles themselves (TOML) are read by :mod:`sensor.profiles`.

Each layout is compiled once into :class:`struct.Struct` objects; decoding a notification is a table walk, never
hand-written byte slicing.

>>> from sensor.profiles import load_profile
>>> wit = load_profile("witmotion")
>>> frame = bytes.fromhex("5561") + wit.packet.record.pack(0, 0, 2048, 0, 0, 0, 0, 0, 0)
>>> packet = wit.packet.decode(frame)
>>> round(float(packet.acc[0, 2]), 3)  # 2048 * 16 g / 32768 = 1 g
9.807
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from processing.errors import ConfigError, DecodeError
from processing.samples import STANDARD_GRAVITY, FloatArray

log = logging.getLogger(__name__)

_AXES = ("ax", "ay", "az", "gx", "gy", "gz")


@cache
def compiled_struct(fmt: str) -> struct.Struct:
    """One :class:`struct.Struct` per layout string, compiled once for the whole process."""
    return struct.Struct(fmt)


@dataclass(frozen=True, slots=True)
class Packet:
    """One decoded notification. counter: the device's counter of the first sample (None without one);
    acc: (n, 3) m/s²; gyro: (n, 3) rad/s; both in the sensor frame."""

    counter: int | None
    acc: FloatArray
    gyro: FloatArray

    def __len__(self) -> int:
        return int(self.acc.shape[0])


@dataclass(frozen=True)
class PacketLayout:
    """The layout of a notification: ``prefix`` once, then records of ``magic`` + ``record``.

    records: a fixed number of records, "fill" (as many whole records as the notification holds, at least one)
    or "count" (the prefix field ``count`` says how many). counter: name of the prefix field holding the
    index of the first sample, modulo ``2**counter_bits``. expect: prefix fields that must have these values.
    """

    magic: bytes
    prefix: struct.Struct | None
    prefix_fields: tuple[str, ...]
    record: struct.Struct
    fields: tuple[str, ...]
    records: int | str
    acc_scale_g: float
    gyro_scale_dps: float
    counter: str | None = None
    counter_bits: int = 16
    expect: Mapping[str, int] = field(default_factory=dict)
    reassemble: bool = False
    acc_idx: list[int] = field(init=False, repr=False)
    gyro_idx: list[int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        missing = [a for a in _AXES if a not in self.fields]
        if missing:
            raise ConfigError(f"packet fields lack {', '.join(missing)}")
        if len(self.fields) != len(self.record.unpack(bytes(self.record.size))):
            raise ConfigError(f"packet fields ({len(self.fields)}) do not match record {self.record.format!r}")
        if self.prefix is not None and len(self.prefix_fields) != len(self.prefix.unpack(bytes(self.prefix.size))):
            raise ConfigError(f"prefix_fields do not match prefix {self.prefix.format!r}")
        if self.records == "count" and "count" not in self.prefix_fields:
            raise ConfigError('records = "count" needs a prefix field named "count"')
        if self.counter is not None and self.counter not in self.prefix_fields:
            raise ConfigError(f"counter field {self.counter!r} is not a prefix field")
        if not (isinstance(self.records, int) and self.records >= 1) and self.records not in ("fill", "count"):
            raise ConfigError(f'records = {self.records!r}: give a positive number, "fill" or "count"')
        if self.reassemble and (len(self.magic) != 2 or self.prefix is not None or self.records != "fill"):
            raise ConfigError('reassemble = true needs a 2-byte magic, no prefix and records = "fill"')
        idx = [self.fields.index(a) for a in _AXES]
        object.__setattr__(self, "acc_idx", idx[:3])
        object.__setattr__(self, "gyro_idx", idx[3:])

    @property
    def prefix_size(self) -> int:
        return 0 if self.prefix is None else self.prefix.size

    @property
    def record_size(self) -> int:
        return len(self.magic) + self.record.size

    def max_records(self, payload: int) -> int:
        """How many records fit a notification payload of ``payload`` bytes (ATT MTU - 3)."""
        if isinstance(self.records, int):
            return self.records
        return max(1, (payload - self.prefix_size) // self.record_size)

    def sample_count(self, data: bytes | bytearray) -> int:
        """Samples a notification claims to hold, from its length (and count field); 0 if it is malformed.
        Cheap and never raises: used to account for notifications dropped before decoding."""
        if self.reassemble:  # a byte stream: about this many frames
            return len(data) // self.record_size
        body = len(data) - self.prefix_size
        if body <= 0 or body % self.record_size:
            return 0
        if isinstance(self.records, int):
            return self.records if body == self.records * self.record_size else 0
        return body // self.record_size

    def decode(self, data: bytes | bytearray) -> Packet:
        """Decode one notification; :class:`DecodeError` for anything that does not fit the layout."""
        n_bytes = len(data)
        head: dict[str, int] = {}
        if self.prefix is not None:
            if n_bytes < self.prefix.size:
                raise DecodeError(f"packet of {n_bytes} bytes is shorter than its {self.prefix.size}-byte header")
            head = dict(zip(self.prefix_fields, self.prefix.unpack_from(data), strict=True))
            for key, want in self.expect.items():
                if head[key] != want:
                    raise DecodeError(f"packet field {key} = {head[key]}, expected {want}")
        body = n_bytes - self.prefix_size
        size = self.record_size
        if self.records == "count":
            n = head["count"]
            if n < 1 or body != n * size:
                raise DecodeError(f"packet says {n} samples but holds {body} bytes of {size}-byte records")
        elif self.records == "fill":
            n = body // size
            if n < 1 or body % size:
                raise DecodeError(f"packet of {n_bytes} bytes is not a whole number of {size}-byte records")
        else:
            n = int(self.records)
            if body != n * size:
                raise DecodeError(f"packet of {n_bytes} bytes, expected {self.prefix_size + n * size}")
        offset = self.prefix_size
        magic = self.magic
        if magic:
            for i in range(n):
                at = offset + i * size
                if data[at : at + len(magic)] != magic:
                    raise DecodeError(f"record {i} does not start with {magic.hex(' ')}")
            raw = [self.record.unpack_from(data, offset + i * size + len(magic)) for i in range(n)]
        else:
            raw = list(self.record.iter_unpack(memoryview(data)[offset:]))
        values = np.array(raw, dtype=np.float64)
        acc = values[:, self.acc_idx] * (self.acc_scale_g * STANDARD_GRAVITY)
        gyro = values[:, self.gyro_idx] * math.radians(self.gyro_scale_dps)
        counter = head[self.counter] if self.counter is not None else None
        return Packet(counter, acc, gyro)

    def encode(self, acc: FloatArray, gyro: FloatArray, *, counter: int = 0, **prefix: int) -> bytes:
        """The notification a device would send for ``acc`` (n, 3) m/s² and ``gyro`` (n, 3) rad/s
        (saturated to int16). Fields other than the axes are 0. Used by the virtual sensors and the tests."""
        n = acc.shape[0]
        raw_acc = np.clip(np.rint(acc / (self.acc_scale_g * STANDARD_GRAVITY)), -32768, 32767).astype(np.int64)
        raw_gyro = np.clip(np.rint(gyro / math.radians(self.gyro_scale_dps)), -32768, 32767).astype(np.int64)
        rows = np.zeros((n, len(self.fields)), dtype=np.int64)
        rows[:, self.acc_idx] = raw_acc
        rows[:, self.gyro_idx] = raw_gyro
        out = bytearray()
        if self.prefix is not None:
            values = {**self.expect, "count": n, **prefix}
            if self.counter is not None:
                values[self.counter] = counter % (1 << self.counter_bits)
            out += self.prefix.pack(*(values.get(name, 0) for name in self.prefix_fields))
        for row in rows.tolist():
            out += self.magic + self.record.pack(*row)
        return bytes(out)


class FrameAssembler:
    """Whole frames from notifications that cut them anywhere (WitMotion's BLE 5.0 modules do).

    A frame is ``magic[0]``, a type byte and ``layout.record.size`` bytes. Frames of type ``magic[1]`` (the
    samples) are handed out; frames of other types (``55 71`` register replies, ...) are skipped and counted in
    ``skipped_frames``; bytes that cannot start a frame are skipped (``skipped_bytes``) until the next
    ``magic[0]``. At most one partial frame is kept between notifications, so memory is bounded by a frame.
    Like the vendor's SDK, this trusts the framing: WitMotion frames carry no checksum over BLE.

    >>> from sensor.profiles import load_profile
    >>> wit = load_profile("witmotion")
    >>> frame = bytes.fromhex("5561") + wit.packet.record.pack(0, 0, 2048, 0, 0, 0, 0, 0, 0)
    >>> asm = FrameAssembler(wit.packet)
    >>> asm.feed(frame[:7]), len(asm.feed(frame[7:] + bytes.fromhex("5571") + bytes(18))), asm.skipped_frames
    (b'', 20, 1)
    """

    def __init__(self, layout: PacketLayout) -> None:
        self.lead = layout.magic[:1]
        self.kind = layout.magic[1]
        self.size = layout.record_size
        self._buf = b""
        self.skipped_frames = 0
        self.skipped_bytes = 0

    def reset(self) -> None:
        """Forget a partial frame (notifications were lost, or the link was): it cannot be completed."""
        if self._buf:
            self.skipped_bytes += len(self._buf)
        self._buf = b""

    def feed(self, data: bytes | bytearray) -> bytes:
        """The complete sample frames (concatenated) that ``data`` finishes; b"" if none."""
        buf = self._buf + bytes(data)
        out: list[bytes] = []
        at = 0
        size = self.size
        while True:
            if at < len(buf) and buf[at : at + 1] != self.lead:
                nxt = buf.find(self.lead, at)
                skip = (nxt if nxt >= 0 else len(buf)) - at
                self.skipped_bytes += skip
                at += skip
            if len(buf) - at < size:
                break
            if buf[at + 1] == self.kind:
                out.append(buf[at : at + size])
            else:
                self.skipped_frames += 1
            at += size
        self._buf = buf[at:]
        return b"".join(out)


class Decoder:
    """Decodes notifications with a profile's layout, counting what it accepts and what it rejects.

    A rejected notification is logged (the first few, then every 1000th) and dropped: it never stops the
    stream. With ``reassemble`` layouts the notifications are a byte stream: frames cut across notifications
    are put back together and frames of other types are skipped and counted (see :class:`FrameAssembler`).
    """

    def __init__(self, layout: PacketLayout, *, device: str = "sensor") -> None:
        self.layout = layout
        self.device = device
        self.accepted = 0
        self.rejected = 0
        self.assembler = FrameAssembler(layout) if layout.reassemble else None
        self._skipped_logged = 0

    @property
    def skipped_frames(self) -> int:
        """Frames of other types (e.g. WitMotion register replies) skipped so far."""
        return self.assembler.skipped_frames if self.assembler is not None else 0

    def reset(self) -> None:
        """The stream broke (lost notifications, a new connection): drop any partial frame."""
        if self.assembler is not None:
            self.assembler.reset()

    def decode(self, data: bytes | bytearray, *, lost_before: int = 0) -> Packet | None:
        """The samples of one notification (None if it completes none or is rejected). ``lost_before`` > 0
        says notifications just before this one were dropped: a partial frame from before is discarded."""
        if self.assembler is not None:
            if lost_before:
                self.assembler.reset()
            data = self.assembler.feed(data)
            skipped = self.assembler.skipped_frames
            if skipped > self._skipped_logged and (skipped <= 5 or skipped // 1000 > self._skipped_logged // 1000):
                log.info("%s: skipped %d frame(s) of other types so far (register replies)", self.device, skipped)
            self._skipped_logged = skipped
            if not data:
                return None
        try:
            packet = self.layout.decode(data)
        except DecodeError as exc:
            self.rejected += 1
            if self.rejected <= 5 or self.rejected % 1000 == 0:
                log.warning(
                    "%s: rejected a %d-byte packet (%s); %d rejected so far", self.device, len(data), exc, self.rejected
                )
            return None
        self.accepted += 1
        return packet


class TimestampRebuilder:
    """Sample times on the stream's own clock (t = 0 at the first sample) from notifications.

    BLE delivers notifications in bursts, once per connection interval, with jitter, and some are lost; a
    notification may hold several samples. Times therefore come from the device, not from arrival:

    - with a sample counter (``counter_bits``): sample k is at ``k / rate_hz``; a jump of the counter is a
      gap. After :meth:`link_reset` (a reconnect) the arrival time picks how often the counter wrapped
      during the outage, and re-anchors the count if the device restarted.
    - without one: samples follow each other at ``1 / rate_hz``. The arrival times (seconds on any monotonic
      host clock) tell when samples were lost: when a notification arrives more than ``max_delay_s`` later
      than the earliest it could have (its base latency, which may creep up by ``drift`` s per s to follow a
      device clock slower than nominal), the samples in between were lost and become a gap.

    ``lost_before`` counts samples known to be dropped just before a notification (queue overflow).

    >>> tr = TimestampRebuilder(100.0, drift=0.0)
    >>> tr.place(10.00, 2).tolist(), tr.place(10.02, 2).tolist()
    ([0.0, 0.01], [0.02, 0.03])
    >>> tr.place(11.03, 1).tolist()  # one second late: the 100 samples in between were lost
    [1.04]
    """

    def __init__(
        self,
        rate_hz: float,
        *,
        counter_bits: int | None = None,
        max_delay_s: float = 0.25,
        drift: float = 0.02,
    ) -> None:
        if not rate_hz > 0:
            raise ValueError("rate_hz must be positive")
        self.period = 1.0 / rate_hz
        self.counter_bits = counter_bits
        self.max_delay_s = max_delay_s
        self.drift = drift
        self._next: int | None = None  # index of the next expected sample
        self._next_counter = 0
        self._anchor = 0.0  # host time of stream t = 0
        self._base_lag = 0.0
        self._last_arrival = 0.0
        self._reset = False
        self.gaps = 0
        self.rejected = 0

    @property
    def last_t(self) -> float:
        """Stream time of the last sample placed, s (0 before the first)."""
        return 0.0 if self._next is None else max(0, self._next - 1) * self.period

    def link_reset(self) -> None:
        """The link was lost and is back: the next counter may have wrapped, or restarted with the device."""
        self._reset = True

    def late_s(self, arrival_s: float, n: int, *, lost_before: int = 0) -> float:
        """How much later than its base latency (s) a notification of ``n`` samples arriving at ``arrival_s``
        would be, placed right after what was placed (and ``lost_before``); 0 for the first notification and
        for devices with a counter. Above ``max_delay_s``, :meth:`place` would make a gap."""
        if self._next is None or self.counter_bits is not None:
            return 0.0
        lag = arrival_s - (self._anchor + (self._next + lost_before + n - 1) * self.period)
        return lag - min(self._base_lag + self.drift * max(0.0, arrival_s - self._last_arrival), lag)

    def place(self, arrival_s: float, n: int, counter: int | None = None, *, lost_before: int = 0) -> FloatArray:
        """Times (n,) s of the ``n`` samples of a notification that arrived at ``arrival_s``; empty if the
        notification is a duplicate or older than what was placed already (counted in ``rejected``)."""
        period = self.period
        if self._next is None:
            k = 0
            self._anchor = arrival_s - (n - 1) * period
            self._base_lag = 0.0
        elif self.counter_bits is not None and counter is not None:
            k = self._place_counter(arrival_s, n, counter)
            if k < 0:
                self.rejected += 1
                return np.empty(0)
        else:
            k = self._next + lost_before
            lag = arrival_s - (self._anchor + (k + n - 1) * period)
            self._base_lag = min(self._base_lag + self.drift * max(0.0, arrival_s - self._last_arrival), lag)
            excess = lag - self._base_lag
            if excess > self.max_delay_s:
                k += round(excess / period)
            if k > self._next:
                self.gaps += 1
        if counter is not None and self.counter_bits is not None:
            self._next_counter = (counter + n) % (1 << self.counter_bits)
        self._next = k + n
        self._last_arrival = arrival_s
        self._reset = False
        return (k + np.arange(n, dtype=np.float64)) * period

    def _place_counter(self, arrival_s: float, n: int, counter: int) -> int:
        assert self._next is not None and self.counter_bits is not None
        modulus = 1 << self.counter_bits
        ahead = (counter - self._next_counter) % modulus
        if not self._reset:
            if ahead >= modulus // 2:  # behind what was placed: a duplicate or out of order
                return -1
            if ahead:
                self.gaps += 1
            return self._next + ahead
        # After a reconnect: how many wraps fit the time that passed? Or did the device restart?
        by_clock = (arrival_s - self._anchor) / self.period - (n - 1)
        k = self._next + ahead
        if by_clock > k:
            k += round((by_clock - k) / modulus) * modulus
        if abs(k - by_clock) * self.period > max(5.0, 0.05 * modulus * self.period):
            k = max(self._next, round(by_clock))  # the counter restarted: place by arrival
        self._anchor = arrival_s - (k + n - 1) * self.period  # re-anchor: drift restarts from here
        if k > self._next:
            self.gaps += 1
        return k
