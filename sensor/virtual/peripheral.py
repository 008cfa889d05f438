"""The virtual sensor: a Bumble peripheral that speaks a device profile over real GATT, with radio faults."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
from bumble import gatt
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device
from bumble.hci import Address
from bumble.host import Host
from bumble.transport.common import AsyncPipeSink

from processing.samples import Samples
from sensor.profiles import BATTERY_LEVEL_UUID, BATTERY_SERVICE_UUID, Profile, load_profile
from sensor.simulate import Segment, SensorModel, Truth, simulate_chunks

if TYPE_CHECKING:
    from sensor.virtual.link import VirtualLink

log = logging.getLogger("sensor.virtual")


@dataclass(frozen=True)
class Faults:
    """What the virtual radio does to the stream.

    interval_s: connection interval, wall seconds: notifications leave in bursts this often.
    jitter: each interval is drawn uniformly within ±jitter of interval_s (fraction).
    lost: probability that a notification is lost (the device's transmit buffer overflowed).
    drop_link_at_s: stream seconds at which the sensor drops the link (it keeps sampling meanwhile).
    readvertise_after_s: wall seconds before the sensor advertises again after a drop.
    split_bytes: > 0: the packets are sent as one byte stream cut into notifications of this many bytes, so
        frames straddle notifications (as WitMotion's BLE 5.0 modules do); 0: whole records per notification.
    reply_every: > 0: after every this many records the stream carries another frame, ``reply_frame`` (a
        WitMotion register reply ``55 71``), which a decoder must skip.
    """

    interval_s: float = 0.03
    jitter: float = 0.5
    lost: float = 0.0
    drop_link_at_s: tuple[float, ...] = ()
    readvertise_after_s: float = 0.3
    split_bytes: int = 0
    reply_every: int = 0
    reply_frame: bytes = bytes.fromhex("5571 6400 9c01") + bytes(14)  # register 0x64: 412 x 0.01 V

    def __post_init__(self) -> None:
        if not self.interval_s > 0 or not 0 <= self.jitter < 1 or not 0 <= self.lost < 1:
            raise ValueError("Faults: interval_s > 0, 0 <= jitter < 1 and 0 <= lost < 1 are required")
        if self.split_bytes < 0 or self.reply_every < 0:
            raise ValueError("Faults: split_bytes and reply_every must be >= 0")


class VirtualSensor:
    """A peripheral speaking ``profile`` and streaming a simulated wearer (``segments``, ``model``, ``seed``).

    speed: stream seconds per wall second (fast-forward for demos and tests; 1 = real time).
    The sensor's clock starts when notifications are first enabled. ``finished`` is set once the scenario has
    been sent; ``sent``/``lost`` count notifications, ``drops`` link drops, ``writes`` what was written to it.
    """

    def __init__(
        self,
        link: VirtualLink,
        profile: Profile | str,
        segments: Sequence[Segment],
        *,
        model: SensorModel | None = None,
        seed: int = 0,
        name: str | None = None,
        address: str = "C0:00:00:00:00:01",
        faults: Faults | None = None,
        speed: float = 1.0,
        battery_pct: int = 87,
    ) -> None:
        self.link = link
        self.profile = load_profile(profile) if isinstance(profile, str) else profile
        self.segments = list(segments)
        self.model = model or SensorModel(rate_hz=self.profile.default_hz)
        self.seed = seed
        self.name = name or {"witmotion": "WT901BLE68", "thingy52": "Thingy", "hipsense": "hipsense-1"}.get(
            self.profile.name, self.profile.name
        )
        self.address = address
        self.faults = faults or Faults()
        self.speed = speed
        self.battery_pct = battery_pct
        self.rate_hz = float(self.model.rate_hz)
        self.writes: list[tuple[str, bytes]] = []
        self.truth: list[tuple[Samples, Truth]] = []  # what was generated, sent or not
        self.sent = 0
        self.lost = 0
        self.drops = 0
        self.missed = 0  # samples taken while no one was subscribed
        self.connections = 0
        self.finished = asyncio.Event()
        self._rng = random.Random(seed)
        self._device: Device | None = None
        self._connection: Connection | None = None
        self._notify_char: gatt.Characteristic[bytes] | None = None
        self._task: asyncio.Task[None] | None = None
        self._clock0: float | None = None
        self._gen: Iterator[tuple[Samples, Truth]] | None = None
        self._pending: list[Samples] = []
        self._index = 0  # samples generated so far (the device's sample counter)
        self._drops_left = sorted(self.faults.drop_link_at_s)
        self._closing = False

    # --- life cycle -------------------------------------------------------------------------------------

    async def __aenter__(self) -> VirtualSensor:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def start(self) -> None:
        assert self.link.link is not None, "enter the VirtualLink first"
        controller = Controller(self.name, link=self.link.link, public_address=self.address)
        device = Device(address=Address(self.address), host=Host(controller, AsyncPipeSink(controller)))
        device.name = self.name
        device.add_services(self._services())
        device.on(device.EVENT_CONNECTION, self._on_connection)
        await device.power_on()
        self._device = device
        self.link.sensors.append(self)
        await self._advertise()

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self in self.link.sensors:
            self.link.sensors.remove(self)
        if self._device is not None:
            if self._connection is not None:
                await asyncio.gather(self._connection.disconnect(), return_exceptions=True)
            await self._device.host.reset()

    # --- GATT -------------------------------------------------------------------------------------------

    def _services(self) -> list[gatt.Service]:
        p = self.profile
        chars: list[gatt.Characteristic[Any]] = []
        for key, uuid in p.characteristics.items():
            if key == "service":
                continue
            if uuid == p.notify:
                self._notify_char = gatt.Characteristic(
                    uuid, gatt.Characteristic.Properties.NOTIFY, gatt.Characteristic.READABLE, b""
                )
                chars.append(self._notify_char)
            else:
                chars.append(
                    gatt.Characteristic(
                        uuid,
                        gatt.Characteristic.Properties.READ
                        | gatt.Characteristic.Properties.WRITE
                        | gatt.Characteristic.Properties.WRITE_WITHOUT_RESPONSE,
                        gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE,
                        gatt.CharacteristicValue(read=self._read_config, write=self._make_writer(uuid)),
                    )
                )
        services = [gatt.Service(p.service, chars)]
        if p.battery:
            level: gatt.Characteristic[bytes] = gatt.Characteristic(
                BATTERY_LEVEL_UUID,
                gatt.Characteristic.Properties.READ,
                gatt.Characteristic.READABLE,
                gatt.CharacteristicValue[bytes](read=lambda _conn: bytes([self.battery_pct])),
            )
            services.append(gatt.Service(BATTERY_SERVICE_UUID, [level]))
        assert self._notify_char is not None
        self._notify_char.on(self._notify_char.EVENT_SUBSCRIPTION, self._on_subscription)
        return services

    def _read_config(self, _connection: Any) -> bytes:
        return self.writes[-1][1] if self.writes else b""

    def _make_writer(self, uuid: str) -> Callable[[Any, bytes], None]:
        def write(_connection: Any, value: bytes) -> None:
            self.writes.append((uuid, bytes(value)))
            rate = rate_from_command(self.profile, uuid, bytes(value))
            if rate is not None and rate != self.rate_hz:
                self._set_rate(rate)

        return write

    def _set_rate(self, rate_hz: float) -> None:
        log.info("%s: rate set to %g Hz", self.name, rate_hz)
        if self._clock0 is not None:  # already streaming: continue the scenario at the new rate
            self._gen = None
            self._pending.clear()
        self.rate_hz = rate_hz

    async def _advertise(self) -> None:
        assert self._device is not None
        adv = AdvertisingData(
            [(AdvertisingData.FLAGS, bytes([0x06])), (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode())]
        )
        services = [UUID(u) for u in self.profile.advertised_services]
        scan = AdvertisingData(
            [(AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS, b"".join(u.to_bytes() for u in services))]
            if services
            else []
        )
        await self._device.start_advertising(
            advertising_data=bytes(adv), scan_response_data=bytes(scan), advertising_interval_min=20.0
        )

    def _on_connection(self, connection: Connection) -> None:
        self._connection = connection
        self.connections += 1
        connection.on(connection.EVENT_DISCONNECTION, lambda *_: self._on_disconnection())

    def _on_disconnection(self) -> None:
        self._connection = None
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if not self._closing:
            asyncio.get_running_loop().create_task(self._readvertise())

    async def _readvertise(self) -> None:
        await asyncio.sleep(self.faults.readvertise_after_s)
        if not self._closing and self._device is not None and self._connection is None:
            await self._advertise()

    def _on_subscription(self, _bearer: Any, notify: bool, _indicate: bool) -> None:
        if notify and self._task is None and self._connection is not None:
            if self._clock0 is None:
                self._clock0 = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._stream(self._connection))
        elif not notify and self._task is not None:
            self._task.cancel()
            self._task = None

    # --- the simulated wearer ---------------------------------------------------------------------------

    def stream_time(self) -> float:
        """The sensor's clock, stream seconds (0 before notifications were first enabled)."""
        return 0.0 if self._clock0 is None else (time.monotonic() - self._clock0) * self.speed

    def _take_due(self, until_s: float) -> Samples:
        """Generated samples with t < until_s (the device samples whether or not it is connected)."""
        out: list[Samples] = []
        while True:
            if self._gen is None:
                model = SensorModel(**{**_model_fields(self.model), "rate_hz": self.rate_hz})
                self._gen = simulate_chunks(self.segments, model, seed=self.seed, chunk_s=5.0)
                self._skip_before = self._last_t
            if not self._pending:
                chunk = next(self._gen, None)
                if chunk is None:
                    break
                samples, truth = chunk
                keep = samples.t > self._skip_before
                if not keep.any():
                    continue
                idx = np.flatnonzero(keep)
                samples = samples.slice(int(idx[0]))
                self.truth.append((samples, truth.slice(int(idx[0]))))
                self._pending.append(samples)
            head = self._pending[0]
            n = int(np.searchsorted(head.t, until_s, side="left"))
            if n == 0:
                break
            out.append(head.slice(0, n))
            self._generated += n
            self._last_t = float(head.t[n - 1])
            if n == len(head):
                self._pending.pop(0)
            else:
                self._pending[0] = head.slice(n)
        return Samples.concat(out)

    _last_t = -1.0
    _skip_before = -1.0
    _generated = 0

    async def _stream(self, connection: Connection) -> None:
        assert self._device is not None and self._notify_char is not None
        layout = self.profile.packet
        faults = self.faults
        if self._index or self._generated:
            # Samples taken while nobody listened (a dropped link) are gone; the counter still counts them.
            self.missed += len(self._take_due(self.stream_time()))
            self._index = self._generated
        try:
            while True:
                await asyncio.sleep(faults.interval_s * (1 + faults.jitter * (2 * self._rng.random() - 1)))
                now = self.stream_time()
                if self._drops_left and now >= self._drops_left[0]:
                    self._drops_left.pop(0)
                    self.drops += 1
                    log.info("%s: dropping the link at t = %.1f s", self.name, now)
                    await connection.disconnect()
                    return
                due = self._take_due(now)
                per = layout.max_records(connection.att_mtu - 3)
                n_total = len(due)
                if faults.split_bytes or faults.reply_every:
                    await self._send_stream(connection, due)
                    if n_total == 0 and self._gen is not None and not self._pending and self._exhausted():
                        self.finished.set()
                    continue
                for start in range(0, n_total, per):
                    stop = min(start + per, n_total)
                    counter = self._index
                    self._index += stop - start
                    if self._rng.random() < faults.lost:
                        self.lost += 1
                        continue
                    value = layout.encode(due.acc[start:stop], due.gyro[start:stop], counter=counter)
                    await self._device.notify_subscriber(connection, self._notify_char, value)
                    self.sent += 1
                if n_total == 0 and self._gen is not None and not self._pending and self._exhausted():
                    self.finished.set()
        except asyncio.CancelledError:
            pass

    async def _send_stream(self, connection: Connection, due: Samples) -> None:
        """``due`` as a byte stream (with other frames mixed in), cut into ``split_bytes`` notifications; what
        is left over waits for the next interval (all of it once nothing more is due)."""
        assert self._device is not None and self._notify_char is not None
        faults, layout = self.faults, self.profile.packet
        every = faults.reply_every or len(due) or 1
        for start in range(0, len(due), every):
            stop = min(start + every, len(due))
            self._stream_buf += layout.encode(due.acc[start:stop], due.gyro[start:stop], counter=self._index)
            self._index += stop - start
            if faults.reply_every:
                self._stream_buf += faults.reply_frame
                self.replies += 1
        size = faults.split_bytes or connection.att_mtu - 3
        while self._stream_buf and (len(self._stream_buf) >= size or len(due) == 0):
            piece, self._stream_buf = self._stream_buf[:size], self._stream_buf[size:]
            if self._rng.random() < faults.lost:
                self.lost += 1
                continue
            await self._device.notify_subscriber(connection, self._notify_char, piece)
            self.sent += 1

    _stream_buf = b""
    replies = 0  # other frames sent in the stream

    def _exhausted(self) -> bool:
        end = sum(s.duration_s for s in self.segments)
        return self._last_t >= end - 2.0 / self.rate_hz


def _model_fields(model: SensorModel) -> dict[str, Any]:
    return {name: getattr(model, name) for name in model.__dataclass_fields__}


def rate_from_command(profile: Profile, uuid: str, data: bytes) -> int | None:
    """The rate a configuration write selects, by matching it against the profile's rate commands."""
    for cmd in profile.configure:
        if cmd.uuid != uuid:
            continue
        payloads = {rate: cmd.payload(rate, code) for rate, code in profile.rate_codes.items()}
        if len(set(payloads.values())) < 2:
            continue  # this command does not carry the rate (e.g. an unlock)
        for rate, payload in payloads.items():
            if payload == data:
                return rate
    return None
