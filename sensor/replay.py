"""Pace a recording like a live sensor: ``speed`` times real time, or as fast as possible."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from datetime import datetime

from processing.samples import Samples
from sensor.recording import Recording
from sensor.source import SourceEvent


class ReplaySource:
    """A :class:`~sensor.source.Source` over an open recording.

    speed: times real time (100 = a minute of recording in 0.6 s); None: as fast as possible.
    packet_s: stream seconds per chunk when paced, like the notifications of a BLE sensor; at high speeds
    packets grow so that no more than ``max_packets_per_s`` are handed out per wall-clock second.
    """

    def __init__(
        self,
        recording: Recording,
        *,
        speed: float | None = 1.0,
        packet_s: float = 0.1,
        max_packets_per_s: float = 50.0,
    ) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self.recording = recording
        self.speed = speed
        self.packet_s = packet_s if speed is None else max(packet_s, speed / max_packets_per_s)
        self.name = str(recording.info.path)
        self.rate_hz = recording.info.rate_hz
        self.start: datetime | None = recording.info.start

    async def stream(self) -> AsyncIterator[Samples | SourceEvent]:
        if self.speed is None:
            for chunk in self.recording:
                yield chunk
                await asyncio.sleep(0)
            return
        wall0: float | None = None
        t_first = 0.0
        for chunk in self.recording:
            if len(chunk) == 0:
                continue
            if wall0 is None:
                wall0 = time.monotonic()
                t_first = float(chunk.t[0])
            # Cut the chunk into packets of packet_s stream seconds.
            edges = ((chunk.t - t_first) // self.packet_s).astype("int64")
            cuts = [0, *((edges[1:] != edges[:-1]).nonzero()[0] + 1).tolist(), len(chunk)]
            for a, b in itertools.pairwise(cuts):
                packet = chunk.slice(a, b)
                due = wall0 + (float(packet.t[-1]) - t_first) / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                yield packet
