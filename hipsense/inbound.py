"""Inbound MQTT data, bounded and validated before use (docs/robustness.md).

Anyone who can publish on the broker can send hipsense a message, so every inbound payload is treated as
hostile: its size is checked first (before any parsing), then its nesting depth (a cheap scan, so that a
1000-deep array never reaches :func:`json.loads` and its recursion), then the JSON is parsed without NaN or
infinities, and every field is checked for its type (a bool is not a number), range and, for dates, a window
around today. Text is cleaned of control characters before it is stored or printed.

- :func:`loads_bounded` parses one JSON payload under a size and a depth limit.
- :func:`parse_exercise` turns one ``<base>/exercise/log`` payload into an :class:`ExerciseMessage`.
- :class:`ExerciseGate` protects the exercise log against floods: a rate per window, a daily cap, and a memory
  of the messages already logged (so a retained message is not logged again at every restart).
- :class:`Coalescer` lets at most one action through per interval (discovery re-sends on
  ``homeassistant/status`` floods).
- :func:`clean_text` removes terminal control sequences from text received from elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from hipsense.private import write_private_text

__all__ = [
    "MAX_EXERCISE_BYTES",
    "MAX_INBOUND_PACKET_BYTES",
    "Coalescer",
    "ExerciseGate",
    "ExerciseLimits",
    "ExerciseMessage",
    "InboundError",
    "clean_text",
    "loads_bounded",
    "parse_exercise",
]

log = logging.getLogger(__name__)

#: The largest MQTT packet hipsense accepts from the broker (MQTT v5 CONNECT "Maximum Packet Size": the broker
#: drops larger messages for us instead of sending them). Inbound messages are small JSON documents.
MAX_INBOUND_PACKET_BYTES = 64 * 1024
#: The largest ``exercise/log`` payload, bytes (a real one is under 100).
MAX_EXERCISE_BYTES = 1024
#: Nesting allowed in an exercise message: one flat object.
MAX_EXERCISE_DEPTH = 1

# C0 and C1 control characters, DEL, and the Unicode format characters that reorder or hide text.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]+")


class InboundError(ValueError):
    """An inbound message that is refused; the message says why (one line, no payload echoed)."""


def clean_text(text: str, *, max_chars: int = 200) -> str:
    """``text`` on one line: control characters and escape sequences' introducers become spaces, runs of
    white space one space, cut to ``max_chars`` characters."""
    return " ".join(_CONTROL_RE.sub(" ", text).split())[:max_chars]


def _depth(text: str, limit: int) -> int:
    """The nesting depth of the JSON text (brackets outside strings); stops counting above ``limit``."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


def _no_constant(name: str) -> Any:
    raise InboundError(f"{name} is not a number JSON allows")


def loads_bounded(payload: bytes, *, max_bytes: int, max_depth: int) -> Any:
    """Parse a JSON payload of at most ``max_bytes`` bytes and ``max_depth`` levels of nesting.

    Size first (nothing is decoded from a larger payload), then UTF-8, then depth, then :func:`json.loads`
    without NaN or infinities. Raises :class:`InboundError`.

    >>> loads_bounded(b'{"minutes": 5}', max_bytes=100, max_depth=1)
    {'minutes': 5}
    >>> loads_bounded(b"[" * 50 + b"]" * 50, max_bytes=100, max_depth=8)
    Traceback (most recent call last):
    ...
    hipsense.inbound.InboundError: nested deeper than 8 levels
    """
    if len(payload) > max_bytes:
        raise InboundError(f"{len(payload)} bytes, more than {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InboundError("not UTF-8 text") from None
    if _depth(text, max_depth) > max_depth:
        raise InboundError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise InboundError(f"not JSON ({type(exc).__name__})") from None


@dataclass(frozen=True)
class ExerciseLimits:
    """Bounds on exercise logged over MQTT.

    min_minutes, max_minutes: one message, minutes (inclusive).
    past_days, future_days: ``day`` must lie within this many days before / after the wearer's today.
    per_window, window_s: at most ``per_window`` messages are taken per ``window_s`` seconds (wall clock);
    more are dropped with one log line per window.
    daily_cap_minutes: at most this many minutes per day from MQTT (entries by hand and detected drills are
    not counted against it).
    remember: message ids and retained-message digests remembered to drop a message logged already.
    """

    min_minutes: float = 1.0
    max_minutes: float = 180.0
    past_days: int = 7
    future_days: int = 1
    per_window: int = 10
    window_s: float = 60.0
    daily_cap_minutes: float = 240.0
    remember: int = 1000

    def __post_init__(self) -> None:
        if not 0 < self.min_minutes <= self.max_minutes <= self.daily_cap_minutes:
            raise ValueError("need 0 < min_minutes <= max_minutes <= daily_cap_minutes")
        if self.past_days < 0 or self.future_days < 0:
            raise ValueError("past_days and future_days must be >= 0")
        if self.per_window < 1 or not self.window_s > 0 or self.remember < 1:
            raise ValueError("per_window, window_s and remember must be positive")


@dataclass(frozen=True)
class ExerciseMessage:
    """One validated ``exercise/log`` message. minutes: float, minutes. what: clean text (<= 200 characters).
    day: the local day it counts on. msg_id: the sender's id ('' if none)."""

    minutes: float
    what: str
    day: date
    msg_id: str


_EXERCISE_KEYS = frozenset({"minutes", "what", "day", "id"})


def parse_exercise(payload: bytes, *, today: date, limits: ExerciseLimits | None = None) -> ExerciseMessage:
    """Validate one ``exercise/log`` payload: ``{"minutes": N, "what": TEXT, "day": "YYYY-MM-DD", "id": TEXT}``
    (only ``minutes`` required; ``day`` defaults to ``today``). Raises :class:`InboundError`.

    >>> parse_exercise(b'{"minutes": 5, "what": "bridges"}', today=date(2026, 3, 2))
    ExerciseMessage(minutes=5.0, what='bridges', day=datetime.date(2026, 3, 2), msg_id='')
    >>> parse_exercise(b'{"minutes": true}', today=date(2026, 3, 2))
    Traceback (most recent call last):
    ...
    hipsense.inbound.InboundError: minutes must be a number, got bool
    """
    lim = limits or ExerciseLimits()
    msg = loads_bounded(payload, max_bytes=MAX_EXERCISE_BYTES, max_depth=MAX_EXERCISE_DEPTH)
    if not isinstance(msg, dict):
        raise InboundError(f"a JSON object is needed, got {type(msg).__name__}")
    unknown = sorted(set(msg) - _EXERCISE_KEYS)
    if unknown:
        raise InboundError(f"unknown key {clean_text(unknown[0], max_chars=40)!r}")
    minutes = msg.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, int | float):
        raise InboundError(f"minutes must be a number, got {type(minutes).__name__}")
    if isinstance(minutes, int) and abs(minutes) > 10**6:  # a huge integer does not fit a float
        minutes = math.inf
    if not (math.isfinite(minutes) and lim.min_minutes <= minutes <= lim.max_minutes):
        raise InboundError(f"minutes must be {lim.min_minutes:g} to {lim.max_minutes:g}")
    what = msg.get("what", "exercise")
    if not isinstance(what, str):
        raise InboundError(f"what must be text, got {type(what).__name__}")
    msg_id = msg.get("id", "")
    if not isinstance(msg_id, str) or len(msg_id) > 64:
        raise InboundError("id must be text of at most 64 characters")
    day = today
    if msg.get("day") is not None:
        raw_day = msg["day"]
        if not isinstance(raw_day, str) or len(raw_day) != 10:
            raise InboundError("day must be YYYY-MM-DD")
        try:
            day = date.fromisoformat(raw_day)
        except ValueError:
            raise InboundError("day must be YYYY-MM-DD") from None
        if not today - timedelta(days=lim.past_days) <= day <= today + timedelta(days=lim.future_days):
            raise InboundError(
                f"day {day} is outside {today - timedelta(days=lim.past_days)} to "
                f"{today + timedelta(days=lim.future_days)}"
            )
    return ExerciseMessage(float(minutes), clean_text(what) or "exercise", day, clean_text(msg_id, max_chars=64))


class ExerciseGate:
    """Flood protection for the exercise log: decides whether a valid message may be logged.

    - rate: at most ``limits.per_window`` messages per ``limits.window_s`` (dropped ones are counted and
      reported once per window);
    - daily cap: the day's MQTT minutes (``logged_s``, from the store) plus this message at most
      ``limits.daily_cap_minutes``;
    - duplicates: a message with an ``id`` seen before, or a *retained* message whose bytes were logged before
      (the broker hands it out again at every subscription), is dropped. These keys are remembered in
      ``seen_path`` (owner-only JSON, the last ``limits.remember`` keys) across restarts.

    clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        seen_path: Path | None = None,
        limits: ExerciseLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or ExerciseLimits()
        self.seen_path = seen_path
        self.clock = clock
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._window_start = -math.inf
        self._in_window = 0
        self.dropped = 0  # dropped by the rate limit since the last report
        self._load()

    @staticmethod
    def key(payload: bytes, message: ExerciseMessage, *, retained: bool) -> str | None:
        """What identifies a message for dropping a second delivery: its id, or (retained) its digest."""
        if message.msg_id:
            return "id:" + message.msg_id
        if retained:
            return "sha256:" + hashlib.sha256(payload).hexdigest()
        return None

    def allow_rate(self) -> bool:
        """Count one message against the rate; False if it exceeds it (then it is dropped)."""
        now = self.clock()
        if now - self._window_start >= self.limits.window_s:
            if self.dropped:
                log.warning(
                    "exercise log: dropped %d message(s) in the last %g s (more than %d per window)",
                    self.dropped,
                    self.limits.window_s,
                    self.limits.per_window,
                )
            self._window_start, self._in_window, self.dropped = now, 0, 0
        if self._in_window >= self.limits.per_window:
            self.dropped += 1
            return False
        self._in_window += 1
        return True

    def seen(self, key: str | None) -> bool:
        return key is not None and key in self._seen

    def within_cap(self, message: ExerciseMessage, logged_s: float) -> bool:
        return logged_s + message.minutes * 60.0 <= self.limits.daily_cap_minutes * 60.0 + 1e-9

    def remember(self, key: str | None) -> None:
        """Note ``key`` as logged (and save the memory, owner-only)."""
        if key is None:
            return
        self._seen[key] = None
        while len(self._seen) > self.limits.remember:
            self._seen.popitem(last=False)
        if self.seen_path is not None:
            try:
                write_private_text(self.seen_path, json.dumps(list(self._seen)))
            except OSError as exc:
                log.warning("%s: cannot save the exercise messages seen (%s)", self.seen_path, exc.strerror)

    def _load(self) -> None:
        if self.seen_path is None or not self.seen_path.exists():
            return
        try:
            if self.seen_path.stat().st_size > 200 * self.limits.remember + 1024:
                raise InboundError("file too large")
            keys = json.loads(self.seen_path.read_text(encoding="utf-8"))
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise InboundError("not a list of keys")
        except (OSError, ValueError) as exc:
            log.warning("%s: ignored (%s); starting afresh", self.seen_path, exc)
            return
        for k in keys[-self.limits.remember :]:
            self._seen[k] = None


class Coalescer:
    """Lets one action through per ``min_interval_s`` seconds; calls within the interval are dropped (the
    caller may do the action once when :meth:`wait_s` says the interval is over: a trailing run).

    >>> c = Coalescer(5.0, clock=iter([0.0, 1.0, 1.0, 6.0]).__next__)
    >>> c.allow(), c.allow(), c.wait_s(), c.allow()
    (True, False, 4.0, True)
    """

    def __init__(self, min_interval_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.min_interval_s = min_interval_s
        self.clock = clock
        self._last = -math.inf
        self.dropped = 0

    def allow(self) -> bool:
        now = self.clock()
        if now - self._last < self.min_interval_s:
            self.dropped += 1
            return False
        self._last = now
        return True

    def wait_s(self) -> float:
        """Seconds until the next action may run (0 if now)."""
        return max(0.0, self._last + self.min_interval_s - self.clock())

    def mark(self) -> None:
        """Note that the action just happened by another way (e.g. on connect)."""
        self._last = self.clock()


def exercise_seen_path(data_folder: Path, wearer: str) -> Path:
    """Where the exercise messages already logged are remembered: ``<data>/inbound/<wearer>-exercise.json``."""
    return data_folder / "inbound" / f"{wearer}-exercise.json"
