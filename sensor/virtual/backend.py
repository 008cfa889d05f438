"""The bleak backend for the virtual link: ``BleakScanner`` and ``BleakClient`` over Bumble's central."""

from __future__ import annotations

import logging
import uuid as uuidlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Peer
from bumble.hci import Address

if TYPE_CHECKING:
    from sensor.virtual.link import VirtualLink

log = logging.getLogger("sensor.virtual")


def _uuid_str(u: UUID) -> str:
    """A Bumble UUID as bleak spells it: lower-case 128-bit."""
    return str(uuidlib.UUID(bytes=bytes(reversed(u.to_bytes(force_128=True)))))


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
