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

Modules: :mod:`~sensor.virtual.link` (the link and its central), :mod:`~sensor.virtual.peripheral` (the
Bumble sensor and its faults), :mod:`~sensor.virtual.backend` (the bleak scanner and client backends).
"""

from __future__ import annotations

from sensor.virtual.backend import VirtualBleakClient, VirtualBleakScanner
from sensor.virtual.link import CENTRAL_ADDRESS, VirtualLink
from sensor.virtual.peripheral import Faults, VirtualSensor, rate_from_command

__all__ = [
    "CENTRAL_ADDRESS",
    "Faults",
    "VirtualBleakClient",
    "VirtualBleakScanner",
    "VirtualLink",
    "VirtualSensor",
    "rate_from_command",
]
