"""Sitting bouts, breaks and day totals, from the 1 s activity stream.

A sitting bout starts at the first sitting epoch. A break is standing or walking; a break of at least
``break_s`` ends the bout (at the start of the break), shorter breaks are counted inside the bout.
Unknown and lying epochs neither extend nor break a bout.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from processing.activity import SITTING, STANDING, WALKING


@dataclass(frozen=True)
class Bout:
    """A sitting bout: start_s and end_s on the stream clock, seconds; sitting_s excludes short breaks."""

    start_s: float
    end_s: float
    sitting_s: float
    breaks: int

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass
class BoutTracker:
    """Streaming bout state machine; feed one epoch at a time with :meth:`step`."""

    break_s: float = 60.0
    min_bout_s: float = 60.0
    _start: float | None = None
    _last_sit_end: float = 0.0
    _sitting_s: float = 0.0
    _break_start: float | None = None
    _breaks: int = 0
    completed: list[Bout] = field(default_factory=list)

    @property
    def current_s(self) -> float:
        """Length of the bout in progress (0 when none), seconds, up to its last sitting epoch."""
        return 0.0 if self._start is None else self._last_sit_end - self._start

    @property
    def in_bout(self) -> bool:
        """A sitting bout is in progress."""
        return self._start is not None

    def step(self, t: float, activity: int) -> Bout | None:
        """Advance by the epoch starting at ``t``; return a bout if this epoch ended one."""
        if activity == SITTING:
            if self._start is None:
                self._start = t
            elif self._break_start is not None:
                self._breaks += 1
            self._break_start = None
            self._last_sit_end = t + 1.0
            self._sitting_s += 1.0
            return None
        if self._start is None or activity not in (STANDING, WALKING):
            return None
        if self._break_start is None:
            self._break_start = t
        if t + 1.0 - self._break_start >= self.break_s:
            return self.close()
        return None

    def close(self) -> Bout | None:
        """End the bout in progress (at its last sitting epoch); return it if it lasted ``min_bout_s``."""
        if self._start is None:
            return None
        bout = Bout(self._start, self._last_sit_end, self._sitting_s, self._breaks)
        self._start = None
        self._break_start = None
        self._sitting_s = 0.0
        self._breaks = 0
        if bout.duration_s >= self.min_bout_s:
            self.completed.append(bout)
            return bout
        return None
