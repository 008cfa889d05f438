"""Guided recordings on the live sensor: prompt the wearer through timed phases and record them.

Used by ``calibrate --live`` (stand, then walk) and ``assess --live`` (the two-minute check-up).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from hipsense.commands.live import open_source
from processing.errors import HipsenseError
from processing.samples import Samples
from sensor.recording import RecordingWriter


async def record_guided(
    args: argparse.Namespace, path: Path, phases: Sequence[tuple[float, str]], *, what: str
) -> tuple[Path, str]:
    """Connect to the sensor the flags name, prompt each phase ``(seconds, instruction)`` when it is due on the
    stream's clock, and record everything to ``path``. Returns the recording and the device name it is for.

    what: the activity, for messages ("calibration", "check-up"). A dropped link ends it with an error: a guided
    recording with a hole in it would measure the wrong thing.
    """
    total = sum(seconds for seconds, _ in phases)
    async with contextlib.AsyncExitStack() as stack:
        source, profile, rate = await open_source(args, stack)
        device = args.device or profile.name
        writer = stack.enter_context(RecordingWriter(path, metadata={"device": device, "rate_hz": f"{rate:g}"}))
        t_first: float | None = None
        said = 0
        due = 0.0  # stream seconds from the first sample at which the next prompt is due

        def prompt() -> None:
            nonlocal said, due
            seconds, instruction = phases[said]
            print(f"{said + 1}/{len(phases)}  {instruction} ({seconds:g} s) ...", file=sys.stderr)
            due += seconds
            said += 1

        print(f"connecting to a {profile.title} ...", file=sys.stderr)
        async for item in source.stream():
            if not isinstance(item, Samples):
                if item.kind == "connected" and said == 0:
                    prompt()
                elif item.kind == "disconnected":
                    raise HipsenseError(
                        f"{source.name}: the link dropped during the {what}", hint="stay near the sensor and retry"
                    )
                continue
            if len(item) == 0:
                continue
            if t_first is None:
                t_first = float(item.t[0])
            writer.write(item)
            elapsed = float(item.t[-1]) - t_first
            while said < len(phases) and elapsed >= due:
                prompt()
            if elapsed >= total:
                source.stop()
                break
        if t_first is None:
            raise HipsenseError(f"{source.name}: no samples arrived", hint="check the sensor and retry")
        print("done: thank you.", file=sys.stderr)
        return path, device
