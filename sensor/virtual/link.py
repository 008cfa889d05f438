"""The in-process Bluetooth LE link: a Bumble ``LocalLink`` with one central for bleak, and its sensors."""

from __future__ import annotations

import logging
from types import TracebackType

from bleak.backends.client import BaseBleakClient
from bleak.backends.scanner import BaseBleakScanner
from bumble.controller import Controller
from bumble.device import Device
from bumble.hci import Address
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

from sensor.virtual.backend import VirtualBleakClient, VirtualBleakScanner
from sensor.virtual.peripheral import VirtualSensor

# Bumble's simulated controller warns about every packet still in flight when a link is dropped on purpose;
# those are expected here and would bury hipsense's own messages.
logging.getLogger("bumble").setLevel(logging.CRITICAL)

CENTRAL_ADDRESS = "F0:F0:F0:F0:F0:F0"


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
