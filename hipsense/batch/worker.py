"""One recording of a study, as a worker runs it (a process of the pool, or a Dask worker).

:func:`run_task` is a plain top-level function of a picklable :class:`Task`: it never raises, it returns
:class:`Done` (with everything the parent writes: the rendered timeline and summary, and the epochs on absolute
time for the day table) or :class:`Failed` with a one-line message. It reads the recording in bounded chunks
(:func:`hipsense.analysis.analyze_recording`), so a worker's memory is bounded by the 1 s epochs of one recording
(about 20 MB for a 24 h day), never by the samples.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hipsense.analysis import analyze_recording
from hipsense.commands._common import parse_tz
from hipsense.outputs import write_timeline
from processing.alerts import AlertParams
from processing.days import EpochDays
from processing.errors import ConfigError, HipsenseError

#: A wearer id (from metadata, a file-name pattern or the file name): it names a folder and a CSV field.
WEARER_RE = re.compile(r"[\w@+-][\w.@+-]{0,63}")

# One task at a time per process: warnings are caught per process (not per thread), and Dask workers may run
# several threads; the pipeline holds the GIL most of the time anyway.
_ONE_AT_A_TIME = threading.Lock()


@dataclass(frozen=True)
class Settings:
    """Everything that changes a recording's result; a recording done with the same content and the same
    settings is skipped when a batch is resumed. ``wearer_from``: a regular expression searched in the path as
    given, its group ``wearer`` (else its first group, else the whole match) names the wearer when the
    metadata does not; an optional group ``start`` (ISO 8601) gives the start."""

    alerts: AlertParams = dataclasses.field(default_factory=AlertParams)
    tz: str | None = None
    wearer_from: str | None = None
    accel_unit: str = "auto"
    gyro_unit: str = "auto"
    rate_hz: float | None = None

    def key(self) -> str:
        """A digest of the settings and of hipsense's version."""
        from hipsense import __version__

        return hashlib.sha256(f"hipsense {__version__} batch 1 {self!r}".encode()).hexdigest()[:16]

    def pattern(self) -> re.Pattern[str] | None:
        if not self.wearer_from:
            return None
        try:
            return re.compile(self.wearer_from)
        except re.error as exc:
            raise ConfigError(
                f"--wearer-from {self.wearer_from!r} is not a regular expression: {exc}",
                hint=r"e.g. --wearer-from '(?P<wearer>p\d+)_'",
            ) from exc


@dataclass(frozen=True)
class Task:
    """path: as given (written to the outputs); read_path: absolute (what a worker opens); content: digest."""

    path: str
    read_path: str
    content: str
    settings: Settings


@dataclass
class Done:
    """A recording analysed. ``error``: it broke off (the epochs hold what was read before); ``warnings``: one
    line each. ``wearer_source``: ``metadata``, ``pattern`` or ``file`` (its name)."""

    path: str
    content: str
    wearer: str
    wearer_source: str
    start: str
    start_assumed: bool
    format: str
    rate_hz: float
    epochs: int
    error: str | None
    warnings: list[str]
    timeline_csv: str
    summary_json: str
    days: EpochDays


@dataclass
class Failed:
    path: str
    content: str
    message: str


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _from_pattern(task: Task) -> tuple[str | None, datetime | None]:
    pattern = task.settings.pattern()
    if pattern is None:
        return None, None
    m = pattern.search(task.path)
    if m is None:
        return None, None
    groups = m.groupdict()
    wearer = groups.get("wearer") or (m.group(1) if m.re.groups else m.group(0))
    start = None
    if groups.get("start"):
        try:
            start = datetime.fromisoformat(groups["start"])
        except ValueError as exc:
            raise ConfigError(f"{task.path}: --wearer-from matched start {groups['start']!r}, not ISO 8601") from exc
        if start.tzinfo is None:
            tz = parse_tz(task.settings.tz)
            if tz is None:
                raise ConfigError(
                    f"{task.path}: the start {groups['start']!r} from the file name has no UTC offset",
                    hint="give --tz ZONE (e.g. Europe/Berlin)",
                )
            start = start.replace(tzinfo=tz)
    return wearer, start


def _stem(path: str) -> str:
    name = Path(path).name
    for suffix in (".csv.gz", ".txt.gz", ".csv", ".txt", ".hsb", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def run_task(task: Task) -> Done | Failed:
    """Analyse one recording; never raises (a failure is a :class:`Failed` with a one-line message)."""
    with _ONE_AT_A_TIME:
        try:
            return _run(task)
        except HipsenseError as exc:
            return Failed(task.path, task.content, _one_line(exc.message))
        except MemoryError:
            return Failed(task.path, task.content, "out of memory while analysing it")
        except Exception as exc:  # a bug must not stop the study: report it as one line
            return Failed(task.path, task.content, _one_line(f"internal error: {type(exc).__name__}: {exc}"))


def _run(task: Task) -> Done:
    s = task.settings
    pattern_wearer, pattern_start = _from_pattern(task)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = analyze_recording(
            Path(task.read_path),
            wearer="me",
            alerts=s.alerts,
            tz=parse_tz(s.tz),
            accel_unit=s.accel_unit,  # type: ignore[arg-type]
            gyro_unit=s.gyro_unit,  # type: ignore[arg-type]
            rate_hz=s.rate_hz,
            start=pattern_start,
        )
    meta = result.info.metadata
    if meta.get("wearer"):
        wearer, source = meta["wearer"].strip(), "metadata"
    elif pattern_wearer:
        wearer, source = pattern_wearer, "pattern"
    else:
        wearer, source = _stem(task.path), "file"
    if not WEARER_RE.fullmatch(wearer):
        raise ConfigError(
            f"{task.path}: wearer {wearer[:80]!r} (from the {source}) is not an id of 1-64 letters, digits, "
            "'.', '_', '-', '@', '+'",
            hint="fix the metadata, or give --wearer-from with a group (?P<wearer>...)",
        )
    result = dataclasses.replace(result, path=Path(task.path))
    timeline = io.StringIO()
    write_timeline(timeline, result.epochs)
    summary = result.summary(anterior_tilt_deg=s.alerts.anterior_tilt_deg)
    summary["recording"]["wearer"] = wearer
    return Done(
        path=task.path,
        content=task.content,
        wearer=wearer,
        wearer_source=source,
        start=result.start.isoformat(timespec="seconds"),
        start_assumed=result.info.start is None and pattern_start is None,
        format=result.info.format,
        rate_hz=result.info.rate_hz,
        epochs=len(result.epochs),
        error=None if result.error is None else _one_line(result.error.message),
        warnings=[_one_line(str(w.message)) for w in caught],
        timeline_csv=timeline.getvalue(),
        summary_json=json.dumps(summary, indent=2, ensure_ascii=False) + "\n",
        days=result.epoch_days(),
    )
