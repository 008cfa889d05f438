"""Stream time <-> the wearer's local wall time, with DST handled.

Stream times are float seconds on the recording's own clock; ``start`` is the wall-clock time at t = 0.
Arithmetic happens in UTC (aware-datetime arithmetic within one zone is wall-clock arithmetic and would be
wrong across DST changes); local dates are cached per day, since datetimes are slow next to 1 Hz epochs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo


class LocalClock:
    """start: aware wall time at stream t = 0. tz: the wearer's zone (default: start's own offset).

    >>> from zoneinfo import ZoneInfo
    >>> c = LocalClock(datetime(2026, 3, 28, 12, 0, tzinfo=ZoneInfo("Europe/Berlin")))
    >>> c.local(86400.0).isoformat()  # a day later, across the spring-forward night
    '2026-03-29T13:00:00+02:00'
    >>> c.stream_time(date(2026, 3, 29), time(13, 0))
    86400.0
    """

    def __init__(self, start: datetime, tz: tzinfo | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime (with a UTC offset)")
        self.start = start
        self.tz = tz or start.tzinfo or UTC
        self._start_utc = start.astimezone(UTC)
        self._day_start = 0.0
        self._day_end = -1.0
        self._day = date(2000, 1, 1)

    def local(self, t: float) -> datetime:
        """Local wall time (aware) of stream time ``t``."""
        return (self._start_utc + timedelta(seconds=t)).astimezone(self.tz)

    def stream_time(self, day: date, at: time) -> float:
        """Stream seconds of the local wall time ``at`` on ``day``."""
        wall = datetime.combine(day, at).replace(tzinfo=self.tz)
        return (wall.astimezone(UTC) - self._start_utc).total_seconds()

    def day(self, t: float) -> date:
        """Local date of stream time ``t``."""
        if not self._day_start <= t < self._day_end:
            self._day = self.local(t).date()
            self._day_start = min(self.stream_time(self._day, time(0)), t)
            self._day_end = max(self.stream_time(self._day + timedelta(days=1), time(0)), t + 1e-9)
        return self._day
