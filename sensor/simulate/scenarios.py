"""Scenarios for the simulated wearer: what they do, as a list of :class:`Segment`.

Three ways to get one:

- build it: ``[Segment("standing", 10), Segment("walking", 20), Segment("sitting", 30)]``, or from a short
  text, ``parse_scenario("stand 10, walk 20, sit 30 tilt=-20, lie 1min side=left")``;
- ``scenario_workday(seed)``: three hours of office life with a 45-minute sitting bout (fixed timeline);
- ``scenario_random(minutes, seed)``: a daily-life Markov chain with realistic bout lengths.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace

import numpy as np

from processing.errors import ConfigError

#: Activities a segment can have (the activity vocabulary without ``unknown``).
ACTIVITIES = ("sitting", "standing", "walking", "lying")
#: Lying postures: on the back, on the left side (left hip down), on the right side.
LYING_SIDES = ("supine", "left", "right")


@dataclass(frozen=True, slots=True)
class Segment:
    """One stretch of a scenario. Parameters left ``None`` are drawn from the simulation seed.

    activity: one of :data:`ACTIVITIES`.
    duration_s: s, > 0. Includes the transition into this segment, which happens at its start.
    tilt_deg: mean pelvic tilt, degrees relative to neutral standing, anterior positive. Defaults:
        standing about 0 (|x| <= 1), sitting -15..-25, walking +1.5..+4, supine -82..-89, side-lying about 0.
    obliquity_deg: mean obliquity, degrees, positive = left side of the pelvis higher (right-hand rotation
        about the anterior axis). Side-lying adds -90 (left side down) or +90 (right side down).
    side: lying only: ``supine`` (default), ``left`` or ``right`` (the side that is down).
    step_hz: walking only: step frequency, Hz (default 1.8..2.0).
    speed_m_s: walking only: speed, m/s (default 1.1..1.5).
    turns_per_min: walking only: mean number of turns per minute (default 2..4).
    transition_s: duration of the transition into this segment, s (default 1.5..3 for postural
        transitions, about 1 for a change of tilt or the start of walking). Must leave 0.5 s of segment.
    motion_scale: multiplies sway, fidgets and weight shifts (0 = perfectly still; gait is not affected).
    rock_deg: not walking: a rhythmic pelvic rocking (tilt drills, glute bridges) of this peak-to-peak
        amplitude, degrees, centred on ``tilt_deg`` (default None: no rocking). A sine, no random draw, that
        starts after the transition into the segment and fades in and out over a second.
    rock_hz: the rocking's frequency, Hz (default 0.25 when ``rock_deg`` is given).
    tilt_offset_deg: added to the segment's mean tilt (given or drawn), degrees; no random draw. Used by
        :func:`with_stand_offset` on walking segments for a wearer who stands off their walking posture.
    """

    activity: str
    duration_s: float
    tilt_deg: float | None = None
    obliquity_deg: float | None = None
    side: str | None = None
    step_hz: float | None = None
    speed_m_s: float | None = None
    turns_per_min: float | None = None
    transition_s: float | None = None
    motion_scale: float = 1.0
    rock_deg: float | None = None
    rock_hz: float | None = None
    tilt_offset_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.activity not in ACTIVITIES:
            raise ValueError(f"Segment activity {self.activity!r} is not one of {', '.join(ACTIVITIES)}")
        if not (math.isfinite(self.duration_s) and self.duration_s > 0):
            raise ValueError(f"Segment duration_s must be > 0, got {self.duration_s!r}")
        if self.side is not None and (self.activity != "lying" or self.side not in LYING_SIDES):
            raise ValueError(f"Segment side={self.side!r} needs activity 'lying' and one of {LYING_SIDES}")
        walking_only = {"step_hz": self.step_hz, "speed_m_s": self.speed_m_s, "turns_per_min": self.turns_per_min}
        for name, value in walking_only.items():
            if value is not None and self.activity != "walking":
                raise ValueError(f"Segment {name} is for walking, not {self.activity}")
        _check_range("tilt_deg", self.tilt_deg, -95.0, 95.0)
        _check_range("obliquity_deg", self.obliquity_deg, -60.0, 60.0)
        _check_range("step_hz", self.step_hz, 0.5, 3.0)
        _check_range("speed_m_s", self.speed_m_s, 0.1, 3.0)
        _check_range("turns_per_min", self.turns_per_min, 0.0, 30.0)
        _check_range("transition_s", self.transition_s, 0.2, 10.0)
        _check_range("motion_scale", self.motion_scale, 0.0, 10.0)
        _check_range("rock_deg", self.rock_deg, 0.0, 60.0)
        _check_range("rock_hz", self.rock_hz, 0.02, 2.0)
        _check_range("tilt_offset_deg", self.tilt_offset_deg, -45.0, 45.0)
        if (self.rock_deg is not None or self.rock_hz is not None) and self.activity == "walking":
            raise ValueError("Segment rock_deg/rock_hz (rhythmic pelvic rocking) is not for walking")
        if self.rock_hz is not None and self.rock_deg is None:
            raise ValueError("Segment rock_hz needs rock_deg (the rocking's peak-to-peak amplitude)")
        if self.transition_s is not None and self.transition_s > self.duration_s - 0.5:
            raise ValueError(
                f"Segment transition_s={self.transition_s} leaves less than 0.5 s of its {self.duration_s} s"
            )


def _check_range(name: str, value: float | None, lo: float, hi: float) -> None:
    if value is not None and not (lo <= value <= hi):
        raise ValueError(f"Segment {name}={value!r} is outside [{lo}, {hi}]")


# ---------------------------------------------------------------------------------------------------------
# Text form

_ALIASES = {
    "sit": "sitting",
    "sitting": "sitting",
    "stand": "standing",
    "standing": "standing",
    "walk": "walking",
    "walking": "walking",
    "lie": "lying",
    "lying": "lying",
}
_UNITS = {"": 1.0, "s": 1.0, "min": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^(\d+(?:\.\d*)?)(s|min|h)?$")


def parse_scenario(spec: str) -> list[Segment]:
    """Segments from a short text: comma-separated ``<activity> <duration>[s|min|h] [field=value ...]``.

    Activities may be abbreviated (stand, sit, walk, lie). Options are fields of :class:`Segment`, by full
    name or by the part before the unit (``tilt=-20`` for ``tilt_deg``, ``motion=0``, ``transition=2``;
    ``rock=20`` is ``rock_deg``, the frequency needs its full name ``rock_hz``).

    >>> [(s.activity, s.duration_s) for s in parse_scenario("stand 10, walk 0.5min, sit 30 tilt=-20")]
    [('standing', 10.0), ('walking', 30.0), ('sitting', 30.0)]
    """
    known = {f.name for f in fields(Segment)} - {"activity", "duration_s"}
    segments = []
    for number, part in enumerate(spec.split(","), start=1):
        words = part.split()
        where = f"scenario item {number} ({part.strip()!r})"
        hint = "write items like 'stand 10, walk 2min, sit 30 tilt=-20, lie 60 side=left'"
        if len(words) < 2 or words[0] not in _ALIASES:
            raise ConfigError(f"{where}: expected '<activity> <duration>'", hint=hint)
        match = _DURATION.match(words[1])
        if match is None:
            raise ConfigError(f"{where}: cannot read duration {words[1]!r}", hint=hint)
        kwargs: dict[str, object] = {}
        for word in words[2:]:
            key, sep, value = word.partition("=")
            key = next((name for name in sorted(known) if key in (name, name.split("_")[0])), key)
            if not sep or key not in known:
                raise ConfigError(f"{where}: unknown option {word!r}", hint=f"options: {', '.join(sorted(known))}")
            try:
                kwargs[key] = value if key == "side" else float(value)
            except ValueError:
                raise ConfigError(f"{where}: {key} must be a number, got {value!r}", hint=hint) from None
        duration = float(match.group(1)) * _UNITS[match.group(2) or ""]
        try:
            segments.append(Segment(_ALIASES[words[0]], duration, **kwargs))  # type: ignore[arg-type]
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}", hint=hint) from None
    return segments


def with_stand_offset(segments: list[Segment], stand_offset_deg: float) -> list[Segment]:
    """The same scenario for a wearer whose neutral standing is ``stand_offset_deg`` from their walking posture.

    Degrees, anterior positive: -14 is someone who stands 14° behind (posterior of) the way they walk. Tilts
    stay relative to neutral standing (the truth), so only walking moves: every walking segment's mean tilt
    gets ``-stand_offset_deg`` (:attr:`Segment.tilt_offset_deg`). No random draw changes, so the same seed
    gives the same day with only the walking posture shifted.

    >>> [s.tilt_offset_deg for s in with_stand_offset(parse_scenario("stand 10, walk 20"), -12.0)]
    [0.0, 12.0]
    """
    if not (math.isfinite(stand_offset_deg) and -45.0 <= stand_offset_deg <= 45.0):
        raise ValueError(f"stand_offset_deg={stand_offset_deg!r} is outside [-45, 45] degrees")
    return [
        replace(s, tilt_offset_deg=s.tilt_offset_deg - stand_offset_deg) if s.activity == "walking" else s
        for s in segments
    ]


# ---------------------------------------------------------------------------------------------------------
# Fixed and random scenarios


def scenario_workday(seed: int = 0) -> list[Segment]:
    """Three hours (10 800 s) of office work, always with the same timeline.

    The seed changes postures (exact tilts, gait, fidgets), never durations. Timeline, start times in s:
    0 standing neutral 60; 60 walking 300; **360 sitting 2700 (the 45-minute bout)**; 3060 standing 60;
    3120 walking 120; 3240 standing anterior tilt 120; 3360 standing 45; 3405 sitting 1200;
    4605 walking 90; 4695 standing anterior tilt 180; 4875 walking 60; 4935 sitting 900; 5835 standing 30;
    5865 walking 600; 6465 sitting 1500; 7965 walking 180; 8145 standing anterior tilt 90; 8235 standing 60;
    8295 sitting 1200; 9495 walking 240; 9735 standing anterior tilt 75; 9810 standing 90; 9900 sitting 600;
    10500 walking 180; 10680 standing 120.
    Anterior-tilt episodes are +8..+18°.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5C3,)))

    def anterior(duration_s: float) -> Segment:
        return Segment("standing", duration_s, tilt_deg=float(rng.uniform(8.0, 18.0)))

    return [
        Segment("standing", 60, tilt_deg=0.0),
        Segment("walking", 300),
        Segment("sitting", 2700),
        Segment("standing", 60),
        Segment("walking", 120),
        anterior(120),
        Segment("standing", 45),
        Segment("sitting", 1200),
        Segment("walking", 90),
        anterior(180),
        Segment("walking", 60),
        Segment("sitting", 900),
        Segment("standing", 30),
        Segment("walking", 600),
        Segment("sitting", 1500),
        Segment("walking", 180),
        anterior(90),
        Segment("standing", 60),
        Segment("sitting", 1200),
        Segment("walking", 240),
        anterior(75),
        Segment("standing", 90),
        Segment("sitting", 600),
        Segment("walking", 180),
        Segment("standing", 120),
    ]


# Bout lengths: lognormal (median s, sigma of log), clipped to [lo, hi] s.
_BOUTS = {
    "sitting": (420.0, 0.9, 30.0, 5400.0),
    "standing": (60.0, 0.8, 10.0, 900.0),
    "walking": (45.0, 0.9, 8.0, 900.0),
    "lying": (900.0, 0.7, 120.0, 3600.0),
}
# Next activity after a bout: probabilities over ACTIVITIES (sitting, standing, walking, lying).
_NEXT = {
    "sitting": (0.0, 0.65, 0.30, 0.05),
    "standing": (0.45, 0.0, 0.50, 0.05),
    "walking": (0.45, 0.55, 0.0, 0.0),
    "lying": (0.70, 0.30, 0.0, 0.0),
}
_P_ANTERIOR = 0.3  # a standing bout is an anterior-tilt episode (+8..+18°, 30..180 s)


def scenario_random(minutes: float, seed: int) -> list[Segment]:
    """A random stretch of daily life lasting exactly ``minutes``.

    Starts with 30 s of neutral standing, then a Markov chain over activities with lognormal bout lengths
    (median sitting 7 min, standing 1 min, walking 45 s, lying 15 min); 30 % of standing bouts are
    anterior-tilt episodes. Lying is on the back or either side.
    """
    total = float(minutes) * 60.0
    if not (math.isfinite(total) and total >= 1.0):
        raise ValueError(f"scenario_random needs minutes >= 1/60, got {minutes!r}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x2A4D,)))
    segments = [Segment("standing", min(30.0, total), tilt_deg=0.0)]
    elapsed = segments[0].duration_s
    activity = "standing"
    while total - elapsed > 1e-9:
        activity = str(rng.choice(ACTIVITIES, p=_NEXT[activity]))
        median, sigma, lo, hi = _BOUTS[activity]
        duration = float(np.clip(median * math.exp(sigma * rng.standard_normal()), lo, hi))
        extra: dict[str, float | str] = {}
        if activity == "standing" and rng.random() < _P_ANTERIOR:
            duration = float(rng.uniform(30.0, 180.0))
            extra["tilt_deg"] = float(rng.uniform(8.0, 18.0))
        if activity == "lying":
            extra["side"] = str(rng.choice(LYING_SIDES, p=(0.5, 0.25, 0.25)))
        duration = round(duration, 1)
        remaining = total - elapsed
        if remaining - duration < 8.0:  # do not leave a sliver: the last bout takes what is left
            duration = remaining
        if duration < 6.0:  # too short for a transition: give the time to the previous bout
            last = segments.pop()
            segments.append(replace(last, duration_s=last.duration_s + duration))
            break
        segments.append(Segment(activity, duration, **extra))  # type: ignore[arg-type]
        elapsed += duration
    return segments
