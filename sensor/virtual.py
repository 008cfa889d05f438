"""Virtual BLE sensors: Bumble peripherals on an in-process link, reached through the ordinary bleak API.

:class:`VirtualLink` is a Bumble ``LocalLink`` with one central controller. :class:`VirtualSensor` adds a
peripheral that speaks a device profile (``firmware_config/*.toml``) over real GATT: it advertises, serves the
profile's service, a Battery service, takes configuration writes (which set its rate) and, once notifications
are enabled through the CCCD, streams the simulated wearer of :mod:`sensor.simulate` as that profile's packets.

Bumble simulates no radio timing, so the sensor injects what a radio does itself (:class:`Faults`): packets go
out in bursts once per connection interval with jitter, some notifications are lost, and the link drops at
chosen stream times (the sensor keeps sampling while disconnected, so the outage is a gap).

bleak reaches the link through a small backend: ``BleakClient(address, backend=link.client_backend)`` and
``BleakScanner(backend=link.scanner_backend)``. Everything must run inside one event loop (Bumble builds its
controllers in the running loop).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble import gatt
from bumble.controller import Controller
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device, Peer
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from processing.samples import Samples
from sensor.profiles import BATTERY_LEVEL_UUID, BATTERY_SERVICE_UUID, Profile, load_profile
from sensor.simulate import Segment, SensorModel, Truth, simulate_chunks

log = logging.getLogger(__name__)
# Bumble's simulated controller warns about every packet still in flight when a link is dropped on purpose;
# those are expected here and would bury hipsense's own messages.
logging.getLogger("bumble").setLevel(logging.CRITICAL)

CENTRAL_ADDRESS = "F0:F0:F0:F0:F0:F0"


def _uuid_str(u: UUID) -> str:
    """A Bumble UUID as bleak spells it: lower-case 128-bit."""
    return str(uuidlib.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


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


class VirtualLink:
    """An in-process Bluetooth LE link: a central for bleak and any number of :class:`VirtualSensor`.

    ``async with VirtualLink() as link:`` (inside the running loop), then ``link.client_backend`` and
    ``link.scanner_backend`` are the bleak backend classes bound to this link.
    """

    def __init__(self) -> None:
        self.link: LocalLink | None = None
        self.central: Device | None = None
        self.sensors: list[VirtualSensor] = []
        link = self

        class _Client(VirtualBleakClient):
            virtual_link = link

        class _Scanner(VirtualBleakScanner):
            virtual_link = link

        _Client.__name__ = "VirtualBleakClient"
        _Scanner.__name__ = "VirtualBleakScanner"
        self.client_backend: type[BaseBleakClient] = _Client
        self.scanner_backend: type[BaseBleakScanner] = _Scanner

    async def __aenter__(self) -> VirtualLink:
        self.link = LocalLink()  # type: ignore[no-untyped-call]
        controller = Controller("central", link=self.link, public_address=CENTRAL_ADDRESS)
        self.central = Device(address=Address(CENTRAL_ADDRESS), host=Host(controller, AsyncPipeSink(controller)))
        await self.central.power_on()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sensor in list(self.sensors):
            await sensor.close()
        if self.central is not None:
            await self.central.host.reset()

    def sensor_at(self, address: str) -> VirtualSensor | None:
        return next((s for s in self.sensors if s.address.upper() == address.upper()), None)


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


# --- the bleak backend ----------------------------------------------------------------------------------


class VirtualBleakScanner(BaseBleakScanner):
    """bleak scanner backend over a :class:`VirtualLink` (use ``link.scanner_backend``)."""

    virtual_link: VirtualLink

    def __init__(
        self,
        detection_callback: Any = None,
        service_uuids: list[str] | None = None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._listening = False

    async def start(self) -> None:
        central = self.virtual_link.central
        if central is None:
            raise BleakError("the virtual link is not running")
        self.seen_devices = {}
        central.on(central.EVENT_ADVERTISEMENT, self._on_advertisement)
        self._listening = True
        await central.start_scanning(filter_duplicates=False)

    async def stop(self) -> None:
        central = self.virtual_link.central
        if central is None or not self._listening:
            return
        self._listening = False
        central.remove_listener(central.EVENT_ADVERTISEMENT, self._on_advertisement)
        await central.stop_scanning()

    def _on_advertisement(self, adv: Any) -> None:
        data = adv.data
        name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME)
        uuids = [
            _uuid_str(u)
            for kind in (
                AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
            )
            for u in (data.get(kind) or [])
        ]
        address = adv.address.to_string(with_type_qualifier=False)
        if not self.is_allowed_uuid(uuids):
            return
        previous = self.seen_devices.get(address)
        if previous is not None:  # merge the scan response into the advertisement
            name = name or previous[1].local_name
            uuids = sorted(set(uuids) | set(previous[1].service_uuids))
        ad = AdvertisementData(
            local_name=name,
            manufacturer_data={},
            service_data={},
            service_uuids=uuids,
            tx_power=None,
            rssi=int(adv.rssi) if adv.rssi != adv.RSSI_NOT_AVAILABLE else -60,
            platform_data=(adv,),
        )
        device = self.create_or_update_device(address, address, name, adv.address, ad)
        self.call_detection_callbacks(device, ad)


class VirtualBleakClient(BaseBleakClient):
    """bleak client backend over a :class:`VirtualLink` (use ``link.client_backend``): real ATT/GATT through
    Bumble's host stacks (MTU exchange, discovery, reads, writes, CCCD subscription, notifications)."""

    virtual_link: VirtualLink

    def __init__(self, address_or_ble_device: BLEDevice | str, **kwargs: Any) -> None:
        super().__init__(
            address_or_ble_device,
            disconnected_callback=kwargs.get("disconnected_callback"),
            timeout=kwargs.get("timeout", 10.0),
        )
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._proxies: dict[int, Any] = {}
        self._subscribers: dict[int, Callable[[bytes], None]] = {}
        self._closing = False

    @property
    def name(self) -> str:
        sensor = self.virtual_link.sensor_at(self.address)
        return sensor.name if sensor else self.address

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        central = self.virtual_link.central
        if central is None:
            raise BleakError("the virtual link is not running")
        if self.virtual_link.sensor_at(self.address) is None:
            raise BleakDeviceNotFoundError(self.address, f"Device with address {self.address} was not found")
        try:
            connection = await central.connect(Address(self.address), timeout=self._timeout)
        except Exception as exc:  # Bumble raises its own timeout/HCI errors; bleak callers expect BleakError
            raise BleakError(f"could not connect to {self.address}: {exc}") from exc
        self._closing = False
        self._connection = connection
        connection.on(connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            peer = Peer(connection)
            await peer.request_mtu(247)
            await peer.discover_services()
            collection = BleakGATTServiceCollection()
            for svc in peer.services:
                await svc.discover_characteristics()
                service = BleakGATTService(svc, svc.handle, _uuid_str(svc.uuid))
                collection.add_service(service)
                for ch in svc.characteristics:
                    await ch.discover_descriptors()
                    self._proxies[ch.handle] = ch
                    char = BleakGATTCharacteristic(
                        ch,
                        ch.handle,
                        _uuid_str(ch.uuid),
                        _properties(int(ch.properties)),
                        lambda: self.mtu_size - 3,
                        service,
                    )
                    collection.add_characteristic(char)
                    for d in ch.descriptors:
                        self._proxies[d.handle] = d
                        collection.add_descriptor(BleakGATTDescriptor(d, d.handle, _uuid_str(d.type), char))
        except BaseException:
            await self.disconnect()
            raise
        self._peer = peer
        self.services = collection

    def _on_disconnection(self, *_: Any) -> None:
        was_open = self._connection is not None
        self._connection = None
        self._peer = None
        self.services = None
        if was_open and not self._closing and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        self._closing = True
        connection = self._connection
        if connection is not None:
            try:
                await connection.disconnect()
            except Exception as exc:
                log.debug("virtual disconnect: %s", exc)
        self._connection = None
        self._peer = None
        self.services = None

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("virtual sensors do not pair")

    async def unpair(self) -> None:
        raise NotImplementedError("virtual sensors do not pair")

    def _require(self) -> Peer:
        if self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic, **kwargs: Any) -> bytearray:
        return bytearray(await self._require().read_value(characteristic.handle))

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor, **kwargs: Any) -> bytearray:
        return bytearray(await self._require().read_value(descriptor.handle))

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic, data: Any, response: bool) -> None:
        await self._require().write_value(characteristic.handle, bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        await self._require().write_value(descriptor.handle, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        peer = self._require()

        def deliver(value: bytes) -> None:
            callback(bytearray(value))

        self._subscribers[characteristic.handle] = deliver
        await peer.subscribe(self._proxies[characteristic.handle], deliver)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        peer = self._require()
        deliver = self._subscribers.pop(characteristic.handle, None)
        await peer.unsubscribe(self._proxies[characteristic.handle], deliver)


_PROPERTY_NAMES = (
    (0x01, "broadcast"),
    (0x02, "read"),
    (0x04, "write-without-response"),
    (0x08, "write"),
    (0x10, "notify"),
    (0x20, "indicate"),
    (0x40, "authenticated-signed-writes"),
    (0x80, "extended-properties"),
)


def _properties(bits: int) -> list[Any]:
    return [name for bit, name in _PROPERTY_NAMES if bits & bit]


__all__ = [
    "Faults",
    "VirtualBleakClient",
    "VirtualBleakScanner",
    "VirtualLink",
    "VirtualSensor",
    "rate_from_command",
]
