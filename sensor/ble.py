"""A live Bluetooth LE sensor as a :class:`~sensor.source.Source`, with bleak.

:class:`BleSource` finds the sensor (by name, address or profile), connects, writes the profile's
configuration (rate), subscribes to its data characteristic and yields decoded sample chunks with rebuilt
timestamps. When the link drops it yields a ``disconnected`` event, reconnects with exponential backoff (a
visible loop in :meth:`BleSource.stream`) and carries the outage downstream as a gap in ``t``. The Battery
Level (0x2A19) is read every ``battery_every_s`` and yielded as a ``battery`` event.

The notification callback only timestamps and enqueues into a :class:`PacketQueue`: bounded, and on
overflow it drops the **oldest** notification (fresh data matters more to a live posture display than old
data), logs it, and tells the consumer how many samples were lost so that they become a gap.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fnmatch
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.exc import BleakError

from processing.errors import SensorConnectionError
from processing.samples import Samples
from sensor.decode import Decoder, Packet, TimestampRebuilder
from sensor.files import open_private
from sensor.profiles import Profile, load_profiles
from sensor.source import SourceEvent

log = logging.getLogger(__name__)


@dataclass
class _Item:
    arrival: float
    data: bytes
    lost_before: int = 0  # samples dropped (overflow) just before this notification


@dataclass(frozen=True)
class _Decoded:
    arrival: float
    packet: Packet
    lost_before: int  # samples known lost just before it


class PacketQueue:
    """Bounded queue of (arrival time, notification bytes) with an explicit overflow policy: drop oldest.

    ``put`` never blocks and never raises (it runs in the notification callback). A dropped notification's
    samples (``count(data)``) are added to the next one's ``lost_before`` so the timestamps keep the gap.
    """

    def __init__(self, maxsize: int, count: Callable[[bytes], int], *, name: str = "sensor") -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._count = count
        self._items: collections.deque[_Item] = collections.deque()
        self._ready = asyncio.Event()
        self.name = name
        self.dropped = 0
        self.dropped_samples = 0
        self._closed = False
        self._last_log = -float("inf")

    def __len__(self) -> int:
        return len(self._items)

    def put(self, arrival: float, data: bytes) -> None:
        if len(self._items) >= self.maxsize:
            old = self._items.popleft()
            lost = old.lost_before + self._count(old.data)
            self.dropped += 1
            self.dropped_samples += self._count(old.data)
            if self._items:
                self._items[0].lost_before += lost
                self._items.append(_Item(arrival, data))
            else:
                self._items.append(_Item(arrival, data, lost))
            now = time.monotonic()
            if now - self._last_log >= 10.0:
                self._last_log = now
                log.warning(
                    "%s: the consumer is behind; queue full (%d notifications), dropped the oldest (%d dropped so far)",
                    self.name,
                    self.maxsize,
                    self.dropped,
                )
        else:
            self._items.append(_Item(arrival, data))
        self._ready.set()

    def close(self) -> None:
        """Wake the consumer: the link is gone (what is queued is still handed out)."""
        self._closed = True
        self._ready.set()

    async def get_all(self, timeout: float | None = None) -> list[_Item] | None:
        """Everything queued (at least one item); [] on timeout; None once closed and empty."""
        while not self._items:
            if self._closed:
                return None
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return []
        items = list(self._items)
        self._items.clear()
        return items


class ConfigMemory:
    """What hipsense last wrote to each device's persistent (flash-stored) configuration.

    A small JSON file in the data folder, ``{address: {characteristic UUID: hex}}``, created owner-only. Writes
    that a device stores in flash (the Thingy:52 motion config) are skipped when they equal what was last
    written to that address, so a reconnect does not wear its flash. The file is an outside input too: it is
    read bounded (:data:`MAX_BYTES`) and anything that is not the expected shape is ignored (and rewritten).
    """

    MAX_BYTES = 1 << 16
    MAX_DEVICES = 64

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, dict[str, str]] | None = None

    def _load(self) -> dict[str, dict[str, str]]:
        if self._data is None:
            self._data = {}
            try:
                with self.path.open("rb") as f:
                    raw = f.read(self.MAX_BYTES + 1)
                parsed = json.loads(raw) if len(raw) <= self.MAX_BYTES else None
            except (OSError, ValueError, RecursionError):
                parsed = None
            if isinstance(parsed, dict):
                for address, writes in list(parsed.items())[: self.MAX_DEVICES]:
                    if isinstance(address, str) and isinstance(writes, dict):
                        self._data[address.upper()] = {
                            str(k): v for k, v in writes.items() if isinstance(v, str) and len(v) <= 1024
                        }
        return self._data

    def last(self, address: str, uuid: str) -> bytes | None:
        """The bytes last written to ``uuid`` on ``address``, or None."""
        value = self._load().get(address.upper(), {}).get(uuid)
        if value is None:
            return None
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None

    def remember(self, address: str, uuid: str, data: bytes) -> None:
        """Record a successful write (saved at once, atomically, 0600)."""
        devices = self._load()
        devices.setdefault(address.upper(), {})[uuid] = data.hex()
        while len(devices) > self.MAX_DEVICES:
            devices.pop(next(iter(devices)))
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            with open_private(tmp, "wb") as f:
                f.write(json.dumps(devices, indent=1, sort_keys=True).encode())
            os.replace(tmp, self.path)
        except OSError as exc:  # the write to the device happened; only the memory of it is lost
            log.warning("%s: cannot save what was written to %s (%s)", self.path, address, exc.strerror or exc)


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``first_s``, doubling up to ``max_s``; reset after a connection that delivered data."""

    first_s: float = 0.25
    max_s: float = 30.0
    factor: float = 2.0

    def delays(self) -> collections.abc.Iterator[float]:
        delay = self.first_s
        while True:
            yield delay
            delay = min(self.max_s, delay * self.factor)


def _backend(backend: type[BaseBleakScanner] | None) -> dict[str, Any]:
    return {} if backend is None else {"backend": backend}


@dataclass(frozen=True)
class Found:
    """A sensor seen while scanning."""

    device: BLEDevice
    name: str | None
    address: str
    rssi: int
    profile: Profile | None


async def scan(
    *, timeout_s: float = 5.0, profiles: list[Profile] | None = None, backend: type[BaseBleakScanner] | None = None
) -> list[Found]:
    """Everything advertising within ``timeout_s``, with the profile each one matches (or None)."""
    profiles = load_profiles() if profiles is None else profiles
    try:
        seen = await BleakScanner.discover(timeout=timeout_s, return_adv=True, **_backend(backend))
    except (BleakError, OSError) as exc:
        raise SensorConnectionError(
            f"cannot scan for Bluetooth LE devices ({exc})",
            hint="is Bluetooth on and is this user allowed to use it? Try 'hipsense live --virtual' without one",
        ) from exc
    out = []
    for device, adv in seen.values():
        profile = next((p for p in profiles if p.matches(adv.local_name, adv.service_uuids)), None)
        out.append(Found(device, adv.local_name or device.name, device.address, adv.rssi, profile))
    return sorted(out, key=lambda f: (f.profile is None, -f.rssi))


class BleSource:
    """A live sensor: ``async for item in BleSource(profile).stream()`` yields Samples and SourceEvents.

    device: advertised name (fnmatch pattern allowed) or address; None: the first device that matches the
        profile.
    rate_hz: sample rate to configure (None: the profile's default).
    queue_size: notifications buffered between the callback and the consumer.
    clock_scale: stream seconds per host second (> 1 only for fast-forwarded virtual sensors: arrival times
        are scaled so that gaps are recognised on the stream's clock).
    max_delay_s: for sensors without a sample counter, a notification this much later (host seconds) than
        expected means samples were lost (see :class:`~sensor.decode.TimestampRebuilder`).
    client_backend / scanner_backend: bleak backends (None: the platform's; ``VirtualLink`` provides virtual
        ones).
    config_memory: where persistent configuration writes are remembered per device (None: always write them).
    """

    def __init__(
        self,
        profile: Profile,
        *,
        device: str | None = None,
        rate_hz: float | None = None,
        queue_size: int = 512,
        backoff: Backoff | None = None,
        battery_every_s: float = 300.0,
        scan_timeout_s: float = 10.0,
        clock_scale: float = 1.0,
        max_delay_s: float = 0.25,
        client_backend: type[BaseBleakClient] | None = None,
        scanner_backend: type[BaseBleakScanner] | None = None,
        config_memory: ConfigMemory | None = None,
    ) -> None:
        self.profile = profile
        self.config_memory = config_memory
        self._lost_carry = 0  # samples dropped before notifications that gave no packet
        self.config_writes = 0  # configuration writes done (persistent ones skipped when unchanged)
        self.config_skipped = 0
        self.device = device
        self.rate_hz = float(profile.check_rate(rate_hz if rate_hz is not None else profile.default_hz))
        self.name = device or profile.name
        self.start: datetime | None = None
        self.queue_size = queue_size
        self.backoff = backoff or Backoff()
        self.battery_every_s = battery_every_s
        self.scan_timeout_s = scan_timeout_s
        self.clock_scale = clock_scale
        self.max_delay_s = max_delay_s
        self.client_backend = client_backend
        self.scanner_backend = scanner_backend
        self.decoder = Decoder(profile.packet, device=self.name)
        self.timestamps = TimestampRebuilder(
            self.rate_hz,
            counter_bits=profile.packet.counter_bits if profile.packet.counter else None,
            max_delay_s=max_delay_s * clock_scale,
        )
        self.queue = PacketQueue(queue_size, profile.packet.sample_count, name=self.name)
        self.connects = 0
        self.address: str | None = None
        self._stop = asyncio.Event()
        self._connected_at = 0.0
        #: called with the arrival times (host s) of the notifications in each chunk before it is yielded
        #: (for latency measurements)
        self.on_chunk: Callable[[list[float], Samples], None] | None = None

    def stop(self) -> None:
        """End :meth:`stream` at the next opportunity (disconnecting cleanly)."""
        self._stop.set()
        self.queue.close()

    def _matches(self, device: BLEDevice, adv: AdvertisementData) -> bool:
        if self.device is None:
            return self.profile.matches(adv.local_name, adv.service_uuids)
        name = adv.local_name or device.name
        return device.address.upper() == self.device.upper() or (
            bool(name) and fnmatch.fnmatchcase(name or "", self.device)
        )

    async def _find(self) -> BLEDevice:
        found = await BleakScanner.find_device_by_filter(
            self._matches, timeout=self.scan_timeout_s, **_backend(self.scanner_backend)
        )
        if found is None:
            what = f"device {self.device!r}" if self.device else f"a {self.profile.title}"
            raise SensorConnectionError(
                f"no {what} found within {self.scan_timeout_s:g} s",
                hint="is it switched on, charged and near? 'hipsense devices' lists what is in range",
            )
        return found

    async def stream(self) -> AsyncIterator[Samples | SourceEvent]:
        """Connect, configure, subscribe and yield; reconnect with backoff until :meth:`stop`."""
        delays = self.backoff.delays()
        lost_at: tuple[float, float] | None = None  # (stream t, monotonic s) when the link was lost
        while not self._stop.is_set():
            error: str | None = None
            delivered = False
            if lost_at is not None:
                # Time passes while the sensor is away: tell the rules, so that a lost sensor is noticed.
                yield SourceEvent("tick", lost_at[0] + (time.monotonic() - lost_at[1]) * self.clock_scale)
            try:
                device = await self._find()
                async for item in self._session(device):
                    if isinstance(item, Samples):
                        delivered = True
                    yield item
            except (BleakError, SensorConnectionError, TimeoutError, OSError) as exc:
                error = str(exc) or type(exc).__name__
                if self.connects == 0:  # never connected: say so instead of retrying forever
                    if isinstance(exc, SensorConnectionError):
                        raise
                    raise SensorConnectionError(
                        f"{self.name}: cannot connect ({error})",
                        hint="check that the sensor is on and not connected to another phone or computer",
                    ) from exc
            if self._stop.is_set():
                break
            if delivered:
                delays = self.backoff.delays()
                lost_at = None
            if lost_at is None:
                lost_at = (self._now(), time.monotonic())
            delay = next(delays)
            yield SourceEvent(
                "disconnected",
                self._now(),
                detail=f"{self.name}: link lost{f' ({error})' if error else ''}; reconnecting in {delay:g} s",
            )
            self.timestamps.link_reset()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def _now(self) -> float:
        """The stream time of the last placed sample (0 before the first)."""
        return self.timestamps.last_t

    async def _session(self, device: BLEDevice) -> AsyncIterator[Samples | SourceEvent]:
        lost = asyncio.Event()
        queue = self.queue
        queue._closed = False
        scale = self.clock_scale
        clock = time.monotonic

        def on_disconnect(_client: BleakClient) -> None:
            lost.set()
            queue.close()

        def on_notify(_char: Any, data: bytearray) -> None:
            queue.put(clock() * scale, bytes(data))  # timestamp and enqueue; nothing else

        async with BleakClient(
            device, disconnected_callback=on_disconnect, timeout=self.scan_timeout_s, backend=self.client_backend
        ) as client:
            self.address = client.address
            await self._configure(client)
            self.decoder.reset()  # a partial frame from the last connection cannot be completed
            await client.start_notify(self.profile.notify, on_notify)
            self.connects += 1
            if self.start is None:
                self.start = datetime.now(UTC).astimezone()
            yield SourceEvent("connected", self._now(), detail=f"{client.name} ({client.address}), {self.rate_hz:g} Hz")
            next_battery = clock()
            while not self._stop.is_set():
                if self.profile.battery and clock() >= next_battery:
                    next_battery = clock() + self.battery_every_s
                    event = await self._read_battery(client)
                    if event is not None:
                        yield event
                items = await queue.get_all(timeout=1.0)
                if items is None or (lost.is_set() and not items):
                    break
                decoded = self._unpack(items)
                # A late batch: a gap, or the backlog of a stalled host (or a slow link) still coming in? Wait
                # while it catches up; decide once it has, or has stopped catching up for max_delay_s.
                late = best = self._tail_late_s(decoded)
                improved_at = clock()
                while late > self.timestamps.max_delay_s and clock() - improved_at < self.max_delay_s:
                    more = await queue.get_all(timeout=self.max_delay_s)
                    if not more:
                        break
                    items += more
                    decoded += self._unpack(more)
                    late = self._tail_late_s(decoded)
                    if late < best:
                        best, improved_at = late, clock()
                chunk = self._place(decoded)
                if chunk is not None:
                    if self.on_chunk is not None:
                        self.on_chunk([i.arrival / scale for i in items], chunk)
                    yield chunk
            # drain what arrived before the link went
            rest = await queue.get_all(timeout=0)
            if rest:
                chunk = self._decode(rest)
                if chunk is not None:
                    yield chunk
            if lost.is_set():
                raise SensorConnectionError(f"{self.name}: the link dropped")

    async def _configure(self, client: BleakClient) -> None:
        """Write the profile's configuration; a persistent (flash) write only when the device lacks it."""
        address = client.address
        for uuid, data, persistent in self.profile.configure_writes(self.rate_hz):
            memory = self.config_memory if persistent else None
            if memory is not None and memory.last(address, uuid) == data and await self._holds(client, uuid, data):
                self.config_skipped += 1
                log.info("%s: configuration %s already on the device; not written again", self.name, uuid[:8])
                continue
            await client.write_gatt_char(uuid, data, response=True)
            self.config_writes += 1
            if memory is not None:
                memory.remember(address, uuid, data)
            await asyncio.sleep(0.05)  # WitMotion wants the unlock to settle before the next command

    async def _holds(self, client: BleakClient, uuid: str, data: bytes) -> bool:
        """True unless the characteristic reads back something else (another app changed it); reading does
        not wear flash. A characteristic that cannot be read is trusted to hold what was written."""
        try:
            value = await client.read_gatt_char(uuid)
        except (BleakError, TimeoutError) as exc:
            log.debug("%s: cannot read back %s (%s)", self.name, uuid[:8], exc)
            return True
        return bytes(value) == data

    async def _read_battery(self, client: BleakClient) -> SourceEvent | None:
        try:
            value = await client.read_gatt_char(self.profile.battery)
        except (BleakError, TimeoutError) as exc:
            log.info("%s: battery level unreadable (%s)", self.name, exc)
            return None
        if len(value) < 1 or value[0] > 100:
            return None
        return SourceEvent("battery", self._now(), battery_pct=float(value[0]), detail=f"battery {value[0]} %")

    def _decode(self, items: list[_Item]) -> Samples | None:
        return self._place(self._unpack(items))

    def _unpack(self, items: list[_Item]) -> list[_Decoded]:
        """Decode notifications (the decoder reassembles frames across them), not yet placed in time."""
        decoded: list[_Decoded] = []
        for item in items:
            packet = self.decoder.decode(item.data, lost_before=item.lost_before)
            lost = self._lost_carry + item.lost_before
            if packet is None:  # rejected, or (reassembling) no frame completed yet: keep the loss for the next
                self._lost_carry = lost
                continue
            self._lost_carry = 0
            decoded.append(_Decoded(item.arrival, packet, lost))
        return decoded

    def _place(self, decoded: list[_Decoded]) -> Samples | None:
        """Times for decoded notifications (:meth:`_earliest_arrivals`); None if no sample was placed."""
        ts, accs, gyros = [], [], []
        for d, arrival in zip(decoded, self._earliest_arrivals(decoded), strict=True):
            t = self.timestamps.place(arrival, len(d.packet), d.packet.counter, lost_before=d.lost_before)
            if t.size == 0:
                continue
            ts.append(t)
            accs.append(d.packet.acc)
            gyros.append(d.packet.gyro)
        if not ts:
            return None
        return Samples(np.concatenate(ts), np.concatenate(accs), np.concatenate(gyros))

    def _earliest_arrivals(self, decoded: list[_Decoded]) -> list[float]:
        """For each notification, the earliest arrival its samples are known to have been ready by (scaled host
        s): its own arrival, or that of a later notification of the batch less the samples in between.

        A host that stalls (a busy CPU, a slow disk write) takes the notifications that waited meanwhile all at
        once: the first of them arrives late for its samples, but the last one is on time, so nothing was lost.
        Samples lost on the radio instead leave every later notification late too. Only the second is a gap
        (:class:`~sensor.profiles.TimestampRebuilder` without a counter)."""
        period = 1.0 / self.rate_hz
        out = [d.arrival for d in decoded]
        for i in range(len(decoded) - 2, -1, -1):
            after = decoded[i + 1]
            out[i] = min(out[i], out[i + 1] - (after.lost_before + len(after.packet)) * period)
        return out

    def _tail_late_s(self, decoded: list[_Decoded]) -> float:
        """How late the newest of ``decoded`` is for its samples (scaled s beyond the base latency; placed
        without a gap it would make one above ``max_delay_s``). 0 for devices with a sample counter."""
        if self.profile.packet.counter is not None or not decoded:
            return 0.0
        *before, last = decoded
        pending = sum(d.lost_before + len(d.packet) for d in before) + last.lost_before
        return self.timestamps.late_s(last.arrival, len(last.packet), lost_before=pending)
