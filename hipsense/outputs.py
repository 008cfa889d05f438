"""Outputs of a run: the timeline CSV (a contract, see docs/contracts.md), the JSON summary, and the rows of a
study's ``days.csv`` (``hipsense batch``); the day figures in both come from :mod:`processing.days`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import numpy as np

from processing.activity import ACTIVITIES
from processing.alerts import Alert
from processing.bouts import Bout
from processing.calibration import Calibration
from processing.days import DayStats
from processing.pipeline import MOUNTING, Epochs

TIMELINE_HEADER = "t,activity,tilt_deg,obliquity_deg,calibrated,sitting_bout_s,mounting\n"


def write_timeline(fh: TextIO, epochs: Epochs, *, header: bool = True) -> None:
    """One row per 1 s epoch; ``tilt_deg`` and ``obliquity_deg`` empty where undefined; ``mounting`` says why
    (``calibrated``, ``calibrating``, ``in doubt``: then the activity is ``unknown`` too)."""
    if header:
        fh.write(TIMELINE_HEADER)
    names = np.array(ACTIVITIES)[epochs.activity]
    tilt = np.char.mod("%.2f", epochs.tilt_deg)
    tilt[np.isnan(epochs.tilt_deg)] = ""
    obl = np.char.mod("%.2f", epochs.obliquity_deg)
    obl[np.isnan(epochs.obliquity_deg)] = ""
    t = np.char.mod("%.3f", epochs.t)
    cal = np.where(epochs.calibrated, "1", "0")
    bout = np.char.mod("%d", epochs.sitting_bout_s.astype(np.int64))
    # A whole-recording analysis blanks the tilt between a re-clip's onset and its detection afterwards:
    # those epochs are in doubt, so every column says so.
    assert epochs.mounting is not None
    doubt = (epochs.mounting == MOUNTING.index("in doubt")) | (
        ~epochs.calibrated & (epochs.mounting == MOUNTING.index("calibrated"))
    )
    names = np.where(doubt, "unknown", names)
    mounting = np.where(doubt, "in doubt", np.array(MOUNTING)[epochs.mounting])
    rows = [",".join(r) for r in zip(t, names, tilt, obl, cal, bout, mounting, strict=True)]
    if rows:
        fh.write("\n".join(rows))
        fh.write("\n")


def _iso(start: datetime, t: float, tz: Any) -> str:
    return (start.astimezone(UTC) + timedelta(seconds=t)).astimezone(tz).isoformat(timespec="seconds")


def _opt(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def summary_day_row(d: DayStats) -> dict[str, Any]:
    """A day of the ``--summary`` JSON (seconds)."""
    return {
        "date": d.day.isoformat(),
        **{f"{name}_s": round(getattr(d, f"{name}_s")) for name in ACTIVITIES},
        "anterior_tilt_standing_s": round(d.anterior_tilt_standing_s),
        "exercise_s": round(d.exercise_s),
        "wear_s": round(d.wear_s),
        "nonwear_s": round(d.nonwear_s),
        "valid": d.valid,
        "sitting_bouts": d.bouts,
        "sitting_bouts_30min": d.long_bouts,
        "longest_bout_s": round(d.longest_bout_s),
        "sitting_breaks": d.breaks,
        "breaks_per_sitting_h": _opt(d.breaks_per_sitting_h, 2),
        "standing_tilt_median_deg": _opt(d.standing_tilt_median_deg, 2),
        "sitting_tilt_median_deg": _opt(d.sitting_tilt_median_deg, 2),
    }


#: The columns of a study's ``days.csv`` after ``wearer`` (see README, Studies).
DAY_COLUMNS = (
    "date",
    "valid",
    "wear_min",
    "recorded_min",
    "nonwear_min",
    "sitting_min",
    "standing_min",
    "walking_min",
    "lying_min",
    "unknown_min",
    "sitting_bouts",
    "sitting_bouts_30min",
    "longest_bout_min",
    "sitting_breaks",
    "breaks_per_sitting_h",
    "anterior_tilt_standing_min",
    "standing_tilt_median_deg",
    "sitting_tilt_median_deg",
    "exercise_min",
)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def study_day_row(d: DayStats) -> list[str]:
    """A row of ``days.csv`` (the :data:`DAY_COLUMNS`), minutes with 2 decimals, degrees with 2."""
    return [
        d.day.isoformat(),
        "1" if d.valid else "0",
        *(
            _fmt(v / 60.0)
            for v in (d.wear_s, d.recorded_s, d.nonwear_s, d.sitting_s, d.standing_s, d.walking_s, d.lying_s)
        ),
        _fmt(d.unknown_s / 60.0),
        str(d.bouts),
        str(d.long_bouts),
        _fmt(d.longest_bout_s / 60.0),
        str(d.breaks),
        _fmt(d.breaks_per_sitting_h),
        _fmt(d.anterior_tilt_standing_s / 60.0),
        _fmt(d.standing_tilt_median_deg),
        _fmt(d.sitting_tilt_median_deg),
        _fmt(d.exercise_s / 60.0),
    ]


def build_summary(
    *,
    recording: dict[str, Any],
    epochs: Epochs,
    days: Sequence[DayStats],
    bouts: Iterable[Bout],
    alerts: Iterable[Alert],
    calibration: Calibration | None,
    start: datetime,
    tz: Any,
    assumed_start: bool,
    error: str | None,
) -> dict[str, Any]:
    """The ``--summary`` JSON: per-day figures (:mod:`processing.days`), sitting bouts, tilt exposure and alerts."""
    valid = ~np.isnan(epochs.tilt_deg)
    day_rows = [summary_day_row(d) for d in days]
    return {
        "recording": recording,
        "start": start.isoformat(timespec="seconds"),
        "start_assumed": assumed_start,
        "epochs": len(epochs),
        "calibration": None if calibration is None else calibration.to_dict(),
        "tilt_deg": {
            "mean": round(float(np.mean(epochs.tilt_deg[valid])), 2) if valid.any() else None,
            "p10": round(float(np.percentile(epochs.tilt_deg[valid], 10)), 2) if valid.any() else None,
            "p90": round(float(np.percentile(epochs.tilt_deg[valid], 90)), 2) if valid.any() else None,
        },
        "days": day_rows,
        "sitting_bouts": [
            {
                "start": _iso(start, b.start_s, tz),
                "end": _iso(start, b.end_s, tz),
                "start_s": b.start_s,
                "duration_s": round(b.duration_s),
                "sitting_s": round(b.sitting_s),
                "short_breaks": b.breaks,
            }
            for b in bouts
        ],
        "alerts": [a.to_payload() for a in alerts],
        "complete": error is None,
        "error": error,
    }
