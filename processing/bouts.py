"""Sitting bouts, breaks and day totals, from the 1 s activity stream.

A sitting bout starts at the first sitting epoch. A break is standing or walking; a break of at least
``break_s`` ends the bout (at the start of the break), shorter breaks are counted inside the bout.
Unknown and lying epochs neither extend nor break a bout.
"""

from __future__ import annotations

from dataclasses import dataclass

from processing.activity import SITTING, STANDING, WALKING
from processing.stage import SnapshotState


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


class BoutTracker(SnapshotState):
    """Streaming bout state machine: feed one epoch at a time to :meth:`update`; :meth:`finish` at the end.

    break_s: a break (standing or walking) at least this long ends the bout, s.
    min_bout_s: shorter bouts are not reported, s.
    completed: the bouts reported so far, in order.
    """

    def __init__(self, *, break_s: float = 60.0, min_bout_s: float = 60.0) -> None:
        self.break_s = break_s
        self.min_bout_s = min_bout_s
        self.reset()

    def reset(self) -> None:
        """Forget the bout in progress and the completed ones."""
        self._start: float | None = None
        self._last_sit_end = 0.0
        self._sitting_s = 0.0
        self._break_start: float | None = None
        self._breaks = 0
        self.completed: list[Bout] = []

    @property
    def current_s(self) -> float:
        """Length of the bout in progress (0 when none), seconds, up to its last sitting epoch."""
        return 0.0 if self._start is None else self._last_sit_end - self._start

    @property
    def in_bout(self) -> bool:
        """A sitting bout is in progress."""
        return self._start is not None

    def update(self, t: float, activity: int) -> Bout | None:
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
            return self.finish()
        return None

    def finish(self) -> Bout | None:
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
