"""BleSource against Bumble virtual sensors over real GATT, through the ordinary bleak API (no mocks of bleak).

Each test builds its own in-process link; the virtual sensor streams the simulator's wearer.
"""

from __future__ import annotations

import asyncio
import json
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner

from processing.samples import STANDARD_GRAVITY, Samples
from sensor.ble import BleSource, ConfigMemory, PacketQueue, _Item, scan
from sensor.profiles import load_profile
from sensor.simulate import SensorModel, parse_scenario
from sensor.source import SourceEvent
from sensor.virtual import Faults, VirtualLink, VirtualSensor

pytest.importorskip("bumble")


def run(coro: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(coro(), 60))


async def collect(source: BleSource, sensor: VirtualSensor, *, slow_s: float = 0.0) -> tuple[Samples, list[Any]]:
    """Run the source until the sensor has sent its scenario; (samples, [(wall time, event)])."""
    chunks: list[Samples] = []
    events: list[tuple[float, SourceEvent]] = []

    async def stop_when_done() -> None:
        await sensor.finished.wait()
        await asyncio.sleep(0.3)
        source.stop()

    stopper = asyncio.get_running_loop().create_task(stop_when_done())
    async for item in source.stream():
        if isinstance(item, Samples):
            chunks.append(item)
            if slow_s:
                await asyncio.sleep(slow_s)  # a consumer that cannot keep up
        else:
            events.append((time.monotonic(), item))
    await stopper
    return Samples.concat(chunks), events


def sent_truth(sensor: VirtualSensor) -> Samples:
    return Samples.concat([s for s, _ in sensor.truth])


@pytest.mark.parametrize("name", ["witmotion", "thingy52", "hipsense"])
def test_each_profile_decodes_to_the_simulators_samples_over_gatt(name: str) -> None:
    profile = load_profile(name)
    rate = profile.default_hz

    async def main() -> tuple[Samples, Samples, list[Any], VirtualSensor]:
        async with VirtualLink() as link:
            model = SensorModel(rate_hz=rate, mounting_deg=(10.0, -20.0, 5.0))
            sensor = VirtualSensor(link, profile, parse_scenario("stand 2, walk 3"), model=model, seed=4, speed=2.0)
            async with sensor:
                source = BleSource(
                    profile,
                    clock_scale=2.0,
                    client_backend=link.client_backend,
                    scanner_backend=link.scanner_backend,
                )
                got, events = await collect(source, sensor)
                return got, sent_truth(sensor), events, sensor

    got, truth, events, sensor = run(main)
    assert [e.kind for _, e in events][:1] == ["connected"]
    if profile.battery:
        assert any(e.kind == "battery" and e.battery_pct == 87 for _, e in events)
    assert sensor.sent > 0 and sensor.lost == 0
    assert len(got) == len(truth) == 5 * rate
    np.testing.assert_allclose(got.t, truth.t - truth.t[0], atol=1e-9)
    lsb_acc = profile.packet.acc_scale_g * STANDARD_GRAVITY
    np.testing.assert_allclose(got.acc, truth.acc, atol=lsb_acc / 2 + 1e-9)
    np.testing.assert_allclose(got.gyro, truth.gyro, atol=np.radians(profile.packet.gyro_scale_dps) / 2 + 1e-9)


def test_the_config_write_sets_the_rate() -> None:
    profile = load_profile("witmotion")  # default 50 Hz

    async def main() -> tuple[Samples, VirtualSensor]:
        async with VirtualLink() as link:
            sensor = VirtualSensor(link, profile, parse_scenario("stand 3"), model=SensorModel(rate_hz=50), speed=2.0)
            async with sensor:
                source = BleSource(
                    profile,
                    rate_hz=100,
                    clock_scale=2.0,
                    client_backend=link.client_backend,
                    scanner_backend=link.scanner_backend,
                )
                got, _ = await collect(source, sensor)
                return got, sensor

    got, sensor = run(main)
    assert sensor.writes == [
        (profile.characteristics["write"], bytes.fromhex("FFAA6988B5")),
        (profile.characteristics["write"], bytes.fromhex("FFAA030900")),
    ]
    assert sensor.rate_hz == 100
    assert len(got) == 300 and np.allclose(np.diff(got.t), 0.01)


def test_a_dropped_link_reconnects_and_leaves_a_gap() -> None:
    profile = load_profile("hipsense")

    async def main() -> tuple[Samples, list[Any], VirtualSensor, BleSource]:
        async with VirtualLink() as link:
            sensor = VirtualSensor(
                link,
                profile,
                parse_scenario("sit 12"),
                speed=4.0,
                faults=Faults(drop_link_at_s=(4.0,), readvertise_after_s=0.3),
            )
            async with sensor:
                source = BleSource(
                    profile,
                    clock_scale=4.0,
                    client_backend=link.client_backend,
                    scanner_backend=link.scanner_backend,
                )
                got, events = await collect(source, sensor)
                return got, events, sensor, source

    got, events, sensor, source = run(main)
    kinds = [e.kind for _, e in events if e.kind not in ("battery", "tick")]
    assert kinds == ["connected", "disconnected", "connected"]
    assert "tick" in [e.kind for _, e in events]  # time passing while away reaches the alert rules
    assert sensor.drops == 1 and sensor.connections == 2 and source.connects == 2
    wall = {e.kind: w for w, e in events if e.kind == "disconnected"}
    reconnected = [w for w, e in events if e.kind == "connected"][-1]
    assert reconnected - wall["disconnected"] < 5.0
    dt = np.diff(got.t)
    [gap] = np.flatnonzero(dt > 3 / 100)
    assert got.t[gap] == pytest.approx(4.0, abs=0.2)  # the stream stops where the link dropped ...
    assert dt[gap] == pytest.approx(sensor.missed / 100 + 0.01, abs=1e-6)  # ... for exactly what was missed
    truth = sent_truth(sensor)
    assert len(got) + sensor.missed == len(truth)
    assert np.all(dt > 0)


def test_overflow_drops_the_oldest_and_keeps_the_timeline() -> None:
    profile = load_profile("hipsense")

    async def main() -> tuple[Samples, VirtualSensor, BleSource]:
        async with VirtualLink() as link:
            sensor = VirtualSensor(link, profile, parse_scenario("stand 6"), speed=3.0, faults=Faults(interval_s=0.01))
            async with sensor:
                source = BleSource(
                    profile,
                    queue_size=3,
                    clock_scale=3.0,
                    client_backend=link.client_backend,
                    scanner_backend=link.scanner_backend,
                )
                got, _ = await collect(source, sensor, slow_s=0.2)
                return got, sensor, source

    got, sensor, source = run(main)
    assert source.queue.dropped > 0
    truth = sent_truth(sensor)
    assert len(got) + source.queue.dropped_samples == len(truth)
    # What survived sits at its true time: the dropped notifications are gaps, not a shifted clock.
    idx = np.rint(got.t * 100).astype(int)
    np.testing.assert_allclose(got.acc, truth.acc[idx], atol=profile.packet.acc_scale_g * STANDARD_GRAVITY)


def test_packet_queue_policy() -> None:
    async def main() -> None:
        q = PacketQueue(2, lambda data: len(data))
        q.put(1.0, b"a")
        q.put(2.0, b"bb")
        q.put(3.0, b"ccc")  # full: "a" (1 sample) goes
        q.put(4.0, b"dddd")  # "bb" (2 samples) goes
        items = await q.get_all(timeout=0)
        assert items is not None
        assert [(i.data, i.lost_before) for i in items] == [(b"ccc", 3), (b"dddd", 0)]
        assert q.dropped == 2 and q.dropped_samples == 3
        assert await q.get_all(timeout=0.01) == []
        q.close()
        assert await q.get_all(timeout=0.01) is None

    asyncio.run(main())


def test_scanning_finds_and_names_the_sensors() -> None:
    async def main() -> list[Any]:
        async with VirtualLink() as link:
            scenario = parse_scenario("stand 5")
            async with (
                VirtualSensor(link, "witmotion", scenario, address="C0:00:00:00:00:01"),
                VirtualSensor(link, "hipsense", scenario, address="C0:00:00:00:00:02"),
            ):
                found = await scan(timeout_s=0.5, backend=link.scanner_backend)
                # The ordinary bleak API too: connect by address, read the battery through GATT.
                device = await BleakScanner.find_device_by_address(
                    "C0:00:00:00:00:02", timeout=2, backend=link.scanner_backend
                )
                assert device is not None
                async with BleakClient(device, backend=link.client_backend) as client:
                    assert (await client.read_gatt_char("00002a19-0000-1000-8000-00805f9b34fb"))[0] == 87
                return found

    found = run(main)
    assert {(f.address, f.name, f.profile.name if f.profile else None) for f in found} == {
        ("C0:00:00:00:00:01", "WT901BLE68", "witmotion"),
        ("C0:00:00:00:00:02", "hipsense-1", "hipsense"),
    }


# --- issue #11: WitMotion byte streams, Thingy flash writes ---------------------------------------------------


def test_witmotion_frames_straddling_notifications_with_register_replies_arrive_whole() -> None:
    """Over real GATT: the sensor sends its frames as a byte stream cut every 7 bytes, with a 55 71 register reply
    after every 3 frames (as WitMotion modules do); every sample arrives, every reply is skipped and counted."""
    profile = load_profile("witmotion")

    async def main() -> tuple[Samples, Samples, VirtualSensor, BleSource]:
        async with VirtualLink() as link:
            sensor = VirtualSensor(
                link,
                profile,
                parse_scenario("stand 2, walk 2"),
                speed=2.0,
                faults=Faults(split_bytes=7, reply_every=3),
            )
            async with sensor:
                source = BleSource(
                    profile, clock_scale=2.0, client_backend=link.client_backend, scanner_backend=link.scanner_backend
                )
                got, _ = await collect(source, sensor)
                return got, sent_truth(sensor), sensor, source

    got, truth, sensor, source = run(main)
    assert sensor.replies > 50 and sensor.lost == 0
    assert len(got) == len(truth) == 4 * profile.default_hz
    assert source.decoder.skipped_frames == sensor.replies and source.decoder.rejected == 0
    np.testing.assert_allclose(got.acc, truth.acc, atol=profile.packet.acc_scale_g * STANDARD_GRAVITY / 2 + 1e-9)
    assert np.allclose(np.diff(got.t), 1 / profile.default_hz)


def test_a_stalled_hosts_backlog_is_late_not_lost_but_a_radio_loss_is_a_gap() -> None:
    """WitMotion has no sample counter: times come from arrivals. A host that stalls 0.4 s takes the waiting
    notifications at once; the first of them is late for its samples, the last on time: nothing was lost. Samples
    lost on the radio leave every later notification late: a gap, exactly as long as what was lost."""
    profile = load_profile("witmotion")
    rate = profile.default_hz
    frames = [profile.packet.encode(np.full((1, 3), float(i)), np.zeros((1, 3))) for i in range(40)]
    on_time = [(i + 1) / rate + 0.005 for i in range(40)]  # sample i is taken at i / rate, sent a period later

    def place(batches: list[list[int]], arrival: Callable[[int], float]) -> Samples:
        source = BleSource(profile)
        chunks = [source._decode([_Item(arrival(i), frames[i]) for i in batch]) for batch in batches]
        return Samples.concat([c for c in chunks if c is not None])

    stall = [*range(10)], [*range(10, 40)]  # 10..39 wait in the host's buffer until the stall ends at sample 39
    got = place([*stall], lambda i: on_time[i] if i < 10 else on_time[39] + (i - 10) * 1e-4)
    np.testing.assert_allclose(got.t, np.arange(40) / rate)
    np.testing.assert_allclose(got.acc[:, 0], np.arange(40), atol=profile.packet.acc_scale_g * STANDARD_GRAVITY)

    lost = [*range(10)], [*range(30, 40)]  # 10..29 lost on the radio; 30..39 arrive on time
    got = place([*lost], lambda i: on_time[i])
    np.testing.assert_allclose(got.t, np.r_[np.arange(10), np.arange(30, 40)] / rate)


def test_a_host_stall_over_gatt_delays_witmotion_samples_but_loses_none() -> None:
    """The event loop (sensor and host alike) blocks for 0.3 s in the middle of a stream of 7-byte pieces: every
    sample arrives, at its own time, with no gap."""
    profile = load_profile("witmotion")

    async def main() -> tuple[Samples, Samples, BleSource]:
        async with VirtualLink() as link:
            sensor = VirtualSensor(
                link, profile, parse_scenario("stand 3, walk 3"), speed=2.0, faults=Faults(split_bytes=7)
            )
            async with sensor:
                source = BleSource(
                    profile, clock_scale=2.0, client_backend=link.client_backend, scanner_backend=link.scanner_backend
                )

                async def stall() -> None:
                    while sensor.stream_time() < 3.0:
                        await asyncio.sleep(0.01)
                    time.sleep(0.3)  # blocks everything, as a busy host does

                staller = asyncio.get_running_loop().create_task(stall())
                got, _ = await collect(source, sensor)
                await staller
                return got, sent_truth(sensor), source

    got, truth, source = run(main)
    assert len(got) == len(truth) == 6 * profile.default_hz
    assert source.timestamps.gaps == 0
    np.testing.assert_allclose(got.t, np.arange(len(got)) / profile.default_hz, atol=1e-9)


def test_thingy_motion_config_is_written_only_when_it_differs(tmp_path: Path) -> None:
    """The Thingy stores its motion config in flash on every write: a reconnect, or a new session with the same
    rate, does not write it again; another rate does; a device that reads back something else gets it again."""
    profile = load_profile("thingy52")
    memory_file = tmp_path / "data" / "device_config.json"
    config_uuid = profile.characteristics["config"]

    async def session(link: VirtualLink, sensor: VirtualSensor, rate: int) -> BleSource:
        source = BleSource(
            profile,
            rate_hz=rate,
            clock_scale=4.0,
            client_backend=link.client_backend,
            scanner_backend=link.scanner_backend,
            config_memory=ConfigMemory(memory_file),
        )
        sensor.finished.clear()
        await collect(source, sensor)
        return source

    async def main() -> tuple[list[list[bytes]], list[tuple[int, int]], list[bytes]]:
        writes: list[list[bytes]] = []
        counts: list[tuple[int, int]] = []
        async with VirtualLink() as link:
            sensor = VirtualSensor(
                link, profile, parse_scenario("stand 6"), speed=4.0, faults=Faults(drop_link_at_s=(2.0,))
            )
            async with sensor:
                first = await session(link, sensor, 50)  # writes once, then reconnects after the drop
                writes.append([data for uuid, data in sensor.writes if uuid == config_uuid])
                counts.append((first.connects, first.config_skipped))
            again = VirtualSensor(link, profile, parse_scenario("stand 2"), speed=4.0)
            again._read_config = sensor._read_config  # type: ignore[method-assign]  # the same device, flash kept
            async with again:
                second = await session(link, again, 50)
                third = await session(link, again, 100)
                writes.append([data for uuid, data in again.writes if uuid == config_uuid])
                counts.append((second.config_skipped, third.config_skipped))
            blank = VirtualSensor(link, profile, parse_scenario("stand 2"), speed=4.0)  # reads back nothing
            async with blank:
                await session(link, blank, 100)
                writes.append([data for uuid, data in blank.writes if uuid == config_uuid])
        return writes, counts, []

    writes, counts, _ = run(main)
    at50, at100 = profile.configure_commands(50)[0][1], profile.configure_commands(100)[0][1]
    assert writes[0] == [at50] and counts[0] == (2, 1)  # two connections, one write
    assert writes[1] == [at100] and counts[1] == (1, 0)  # same rate: skipped; 100 Hz: written
    assert writes[2] == [at100]  # the memory says 100 Hz, the device says otherwise: written
    assert stat.S_IMODE(memory_file.stat().st_mode) == 0o600
    saved = json.loads(memory_file.read_text())
    assert saved == {"C0:00:00:00:00:01": {config_uuid: at100.hex()}}


def test_config_memory_ignores_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "device_config.json"
    for junk in (b"[" * 100000, b"\xff\xfe", b'{"AA": {"x": 5}}', b"{}" + b" " * (1 << 17)):
        path.write_bytes(junk)
        memory = ConfigMemory(path)
        assert memory.last("AA", "x") is None
        memory.remember("AA", "x", b"\x01")
        assert ConfigMemory(path).last("aa", "x") == b"\x01"
