"""Exercise detection: pelvic-tilt drills and glute bridges, from the 1 s epoch tilt stream.

In both exercises the pelvis rocks rhythmically between anterior and posterior tilt: standing (or seated)
pelvic tilts, and lying on the back for glute bridges or supine pelvic tilts. Daily life does not do that:
walking moves the pelvis at the step frequency (1.6–2 Hz, a few degrees, averaged out by 1 s epochs), sitting
fidgets and weight shifts are single steps tens of seconds apart, and a sit-to-stand is one swing.

The detector follows the turning points of the epoch tilt with hysteresis: a turning point is confirmed when
the tilt has come back by ``min_swing_deg`` from its extreme. A *half-cycle* joins two consecutive turning
points; it is rhythmic when it lasts ``min_half_s``..``max_half_s`` (a full cycle of about 0.08–0.5 Hz). A run
of rhythmic half-cycles lasting ``min_bout_s`` or more, with ``min_cycles`` full cycles, is an exercise bout,
from its first turning point to its last (plus the epoch).

Walking epochs, epochs without tilt (NaN: uncalibrated, gap, non-wear) and gaps in time end a run. Any other
activity may rock (the classifier may call a posterior standing tilt "sitting", and a glute bridge is
"lying").

Epoch means attenuate a fast rocking (a sine of 0.25 Hz loses 10 % of its amplitude, 0.4 Hz 25 %) and sample
its extremes at 1 Hz: a drill of 8° peak to peak at up to ~0.4 Hz shows swings of 6° or more. Faster than
0.5 Hz, 1 s epochs cannot see the rhythm.

>>> import numpy as np
>>> t = np.arange(120.0)
>>> tilt = 10.0 * np.sin(2 * np.pi * 0.2 * t + 0.3)  # 20° peak to peak, one rep every 5 s
>>> [b.duration_s for b in detect_exercise(t, tilt, np.full(120, 2, np.int8))]
[117.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from processing.activity import WALKING
from processing.samples import FloatArray
from processing.stage import SnapshotState

Int8Array = NDArray[np.int8]


@dataclass(frozen=True)
class ExerciseParams:
    """min_swing_deg: degrees (epoch means) the tilt must come back from an extreme to make it a turning point,
    and so the least swing of a half-cycle. min_half_s, max_half_s: s, the duration of a rhythmic half-cycle.
    min_bout_s: s, the shortest bout counted. min_cycles: full cycles (two half-cycles each) in a bout.
    max_gap_s: s, a step in epoch time longer than this ends a run.
    """

    min_swing_deg: float = 6.0
    min_half_s: float = 1.0
    max_half_s: float = 6.0
    min_bout_s: float = 30.0
    min_cycles: int = 4
    max_gap_s: float = 1.5

    def __post_init__(self) -> None:
        if not self.min_swing_deg > 0:
            raise ValueError(f"min_swing_deg={self.min_swing_deg} must be > 0")
        if not 0 < self.min_half_s < self.max_half_s:
            raise ValueError(f"need 0 < min_half_s < max_half_s, got {self.min_half_s}, {self.max_half_s}")
        if not self.min_bout_s > 0 or self.min_cycles < 1:
            raise ValueError("min_bout_s must be > 0 and min_cycles >= 1")
        if not self.max_gap_s >= 1.0:
            raise ValueError(f"max_gap_s={self.max_gap_s} must be >= 1 s (epochs are 1 s apart)")


@dataclass(frozen=True, slots=True)
class ExerciseBout:
    """One bout of rhythmic pelvic rocking.

    start_s, end_s: stream seconds (epoch starts; end_s is exclusive). cycles: full rocking cycles.
    swing_deg: median swing of its half-cycles, degrees (epoch means; a little under the true peak to peak).
    rate_hz: cycles per second.
    """

    start_s: float
    end_s: float
    cycles: float
    swing_deg: float
    rate_hz: float

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


class ExerciseDetector(SnapshotState):
    """Streaming: ``update(t, tilt_deg, activity) -> bouts that ended``; ``finish()`` at the end of a stream.

    Chunk-invariant: the epochs are taken one at a time, whatever the chunks.
    """

    def __init__(self, params: ExerciseParams | None = None) -> None:
        self.params = params or ExerciseParams()
        self.reset()

    def reset(self) -> None:
        """Forget the stream."""
        self._last_t = -math.inf
        self._dir = 0  # +1: rising toward a maximum, -1: falling toward a minimum, 0: not known yet
        self._hi = (0.0, -math.inf)  # (t, tilt) of the highest / lowest value since the last turning point
        self._lo = (0.0, math.inf)
        self._turn: tuple[float, float] | None = None  # the last confirmed turning point
        self._run_start: float | None = None
        self._run_end = 0.0
        self._swings: list[float] = []

    @property
    def current_s(self) -> float:
        """Seconds of the run in progress if it already counts as a bout, else 0."""
        return self._qualifying_s()

    def update(self, t: FloatArray, tilt_deg: FloatArray, activity: Int8Array) -> list[ExerciseBout]:
        """t: (m,) epoch starts, s; tilt_deg: (m,) degrees, anterior positive, NaN where undefined;
        activity: (m,) int8 codes into ACTIVITIES. Returns the bouts that ended in these epochs."""
        done: list[ExerciseBout] = []
        p = self.params
        for ti, xi, ai in zip(t.tolist(), tilt_deg.tolist(), activity.tolist(), strict=True):
            if ti - self._last_t > p.max_gap_s or ai == WALKING or math.isnan(xi):
                self._close(done)
                self._restart()
                self._last_t = ti
                if ai == WALKING or math.isnan(xi):
                    self._last_t = -math.inf  # the next usable epoch starts afresh
                    continue
            self._last_t = ti
            self._step(ti, xi, done)
            if self._turn is not None and self._run_start is not None and ti - self._turn[0] > 2 * p.max_half_s:
                self._close(done)  # no reversal in time: the rhythm has stopped
        return done

    def finish(self) -> list[ExerciseBout]:
        """Close the run in progress (end of the stream)."""
        done: list[ExerciseBout] = []
        self._close(done)
        self._restart()
        self._last_t = -math.inf
        return done

    # -- internals -------------------------------------------------------------------------------------------

    def _restart(self) -> None:
        self._dir = 0
        self._hi = (0.0, -math.inf)
        self._lo = (0.0, math.inf)
        self._turn = None

    def _step(self, t: float, x: float, done: list[ExerciseBout]) -> None:
        swing = self.params.min_swing_deg
        if x > self._hi[1]:
            self._hi = (t, x)
        if x < self._lo[1]:
            self._lo = (t, x)
        if self._dir >= 0 and self._hi[1] - x >= swing:  # came down from a maximum
            self._turning_point(self._hi, done)
            self._dir = -1
            self._lo = (t, x)
            self._hi = (t, x)
        elif self._dir <= 0 and x - self._lo[1] >= swing:  # came up from a minimum
            self._turning_point(self._lo, done)
            self._dir = 1
            self._hi = (t, x)
            self._lo = (t, x)

    def _turning_point(self, point: tuple[float, float], done: list[ExerciseBout]) -> None:
        p = self.params
        prev = self._turn
        self._turn = point
        if prev is None:
            return
        half = point[0] - prev[0]
        if not p.min_half_s <= half <= p.max_half_s:
            self._close(done)
            return
        if self._run_start is None:
            self._run_start = prev[0]
        self._run_end = point[0]
        self._swings.append(abs(point[1] - prev[1]))

    def _qualifying_s(self) -> float:
        if self._run_start is None:
            return 0.0
        p = self.params
        duration = self._run_end + 1.0 - self._run_start
        if duration < p.min_bout_s or len(self._swings) < 2 * p.min_cycles:
            return 0.0
        return duration

    def _close(self, done: list[ExerciseBout]) -> None:
        if self._qualifying_s() > 0 and self._run_start is not None:
            cycles = len(self._swings) / 2.0
            end = self._run_end + 1.0
            done.append(
                ExerciseBout(
                    start_s=self._run_start,
                    end_s=end,
                    cycles=cycles,
                    swing_deg=float(np.median(self._swings)),
                    rate_hz=cycles / (self._run_end - self._run_start),
                )
            )
        self._run_start = None
        self._swings = []


def detect_exercise(
    t: FloatArray, tilt_deg: FloatArray, activity: Int8Array, params: ExerciseParams | None = None
) -> list[ExerciseBout]:
    """The batch form: every bout in a whole stream of epochs (see :meth:`ExerciseDetector.update`)."""
    detector = ExerciseDetector(params)
    return detector.update(t, tilt_deg, activity) + detector.finish()


__all__ = ["ExerciseBout", "ExerciseDetector", "ExerciseParams", "detect_exercise"]
