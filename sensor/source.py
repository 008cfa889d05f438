"""One source interface for live and recorded data.

A source yields chunks of :class:`~processing.samples.Samples` (and, from live sensors, :class:`SourceEvent`
notices such as a lost link or a battery reading). ``replay`` and ``live`` hand any source to the same runtime
loop, so replaying a recording exercises the live path exactly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from processing.samples import Samples


@dataclass(frozen=True)
class SourceEvent:
    """A notice from a source at stream time ``t``, s.

    kind: "connected", "disconnected", "battery" (with battery_pct, 0..100) or "tick" (time passes while the
    sensor is away, so that a lost sensor is noticed).
    """

    kind: str
    t: float
    battery_pct: float | None = None
    detail: str = ""


class Source(Protocol):
    name: str
    rate_hz: float
    start: datetime | None

    def stream(self) -> AsyncIterator[Samples | SourceEvent]: ...
