"""Live path cost and latency: a virtual sensor -> bleak -> BleSource -> runtime.run -> pipeline, in real time.

Prints, per profile and rate: process CPU (% of one core; this includes the virtual sensor, Bumble's two
host stacks and controllers, which a real sensor does not cost), the consumer's own CPU (decode, timestamps,
pipeline, state) and the notification-to-state latency (callback timestamp -> the pipeline has processed
the notification and the state is built), p50 / p99.

    python benchmarks/bench_live.py [--seconds 20] [--profiles witmotion,hipsense] [--rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import numpy as np

from hipsense.runtime import run
from processing.pipeline import Pipeline, PipelineOutput, PipelineParams
from processing.samples import Samples
from sensor.ble import BleSource
from sensor.profiles import load_profile
from sensor.simulate import SensorModel, parse_scenario
from sensor.source import SourceEvent
from sensor.virtual import Faults, VirtualLink, VirtualSensor


class LatencySink:
    def __init__(self) -> None:
        self.pending: list[float] = []
        self.latencies: list[float] = []

    def handle(self, output: PipelineOutput, states: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        self.latencies.extend(now - a for a in self.pending)
        self.pending.clear()

    def event(self, event: SourceEvent) -> None:
        pass

    def close(self) -> None:
        pass


async def measure(profile_name: str, rate: int, seconds: float) -> dict[str, float]:
    profile = load_profile(profile_name)
    async with VirtualLink() as link:
        scenario = parse_scenario(f"stand 10, walk 20, sit {max(10.0, seconds - 30):g}")
        sensor = VirtualSensor(
            link, profile, scenario, model=SensorModel(rate_hz=rate), faults=Faults(interval_s=0.03, lost=0.001)
        )
        async with sensor:
            source = BleSource(
                profile, rate_hz=rate, client_backend=link.client_backend, scanner_backend=link.scanner_backend
            )
            sink = LatencySink()
            busy = [0.0]

            def on_chunk(arrivals: list[float], chunk: Samples) -> None:
                sink.pending.extend(arrivals)

            source.on_chunk = on_chunk
            pipeline = Pipeline(PipelineParams(rate_hz=rate))
            update = pipeline.update

            def timed_update(chunk: Samples) -> PipelineOutput:
                t0 = time.perf_counter()
                out = update(chunk)
                busy[0] += time.perf_counter() - t0
                return out

            pipeline.update = timed_update  # type: ignore[method-assign,assignment]
            decode = source._decode

            def timed_decode(items: Any) -> Samples | None:
                t0 = time.perf_counter()
                out = decode(items)
                busy[0] += time.perf_counter() - t0
                return out

            source._decode = timed_decode  # type: ignore[method-assign]

            async def stop_later() -> None:
                await asyncio.sleep(seconds)
                source.stop()

            stopper = asyncio.get_running_loop().create_task(stop_later())
            wall0, cpu0 = time.monotonic(), time.process_time()
            stats = await run(source, pipeline, [sink])
            wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
            await stopper
    lat = np.array(sink.latencies) * 1000
    return {
        "samples": stats.samples,
        "notifications": sensor.sent,
        "cpu_pct": 100 * cpu / wall,
        "consumer_pct": 100 * busy[0] / wall,
        "p50_ms": float(np.percentile(lat, 50)),
        "p99_ms": float(np.percentile(lat, 99)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--profiles", default="witmotion,hipsense")
    ap.add_argument("--rate", type=int, default=100)
    args = ap.parse_args()
    print(f"live path at {args.rate} Hz, {args.seconds:g} s each (real time)")
    print(
        f"{'profile':<10} {'samples':>8} {'notif':>6} {'process CPU':>12} {'consumer CPU':>13} "
        f"{'p50 ms':>7} {'p99 ms':>7}"
    )
    for name in args.profiles.split(","):
        r = asyncio.run(measure(name, args.rate, args.seconds))
        print(
            f"{name:<10} {r['samples']:>8.0f} {r['notifications']:>6.0f} {r['cpu_pct']:>11.1f}% "
            f"{r['consumer_pct']:>12.1f}% {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f}"
        )


if __name__ == "__main__":
    main()
