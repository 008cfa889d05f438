"""The alert gate: notices become alerts after the cool-down per kind and the quiet hours, with a stable id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from processing.alerts.base import EVENT_TYPES, Alert, AlertParams
from processing.alerts.kinds import Notice
from processing.alerts.state import COUNT, STREAM_TIMES, RulePart, rule_state
from processing.clock import LocalClock


def _in_window(at: time, window: tuple[time, time]) -> bool:
    start, end = window
    if start <= end:
        return start <= at < end
    return at >= start or at < end  # across midnight


@rule_state
@dataclass
class AlertGateMemory:
    last_fired: dict[str, float] = field(default_factory=dict, metadata=STREAM_TIMES)  #: when each kind last fired
    suppressed: int = field(default=0, metadata=COUNT)  #: alerts suppressed by the quiet hours


class AlertGate(RulePart[AlertGateMemory]):
    """Turns notices into alerts: the cool-down per kind, the quiet hours (suppressed, counted, not postponed)
    and the stable id (``wearer-kind-stamp``)."""

    def __init__(self, params: AlertParams, wearer: str) -> None:
        super().__init__(AlertGateMemory)
        self.cooldown_s = {kind: params.cooldown(kind) for kind in EVENT_TYPES}
        self.quiet = params.quiet_window()
        self.wearer = wearer

    def emit(self, notices: list[Notice], clock: LocalClock) -> list[Alert]:
        out: list[Alert] = []
        for n in notices:
            last = self.memory.last_fired.get(n.kind)
            if last is not None and n.t - last < self.cooldown_s[n.kind]:
                continue
            local = clock.local(n.t)
            if self.quiet is not None and _in_window(local.time(), self.quiet):
                self.memory.suppressed += 1
                continue
            self.memory.last_fired[n.kind] = n.t
            stamp = n.key or local.strftime("%Y%m%dT%H%M%S")
            out.append(Alert(f"{self.wearer}-{n.kind}-{stamp}", n.kind, n.t, local, n.message, n.fields))
        return out
