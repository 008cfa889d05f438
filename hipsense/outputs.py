"""Outputs of a run: the timeline CSV (a contract, see docs/contracts.md) and the JSON summary."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import numpy as np

from processing.activity import ACTIVITIES
from processing.alerts import Alert
from processing.bouts import Bout
from processing.calibration import Calibration
from processing.pipeline import MOUNTING, DayTotals, Epochs

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


def build_summary(
    *,
    recording: dict[str, Any],
    epochs: Epochs,
    days: dict[Any, DayTotals],
    bouts: Iterable[Bout],
    alerts: Iterable[Alert],
    calibration: Calibration | None,
    start: datetime,
    tz: Any,
    assumed_start: bool,
    error: str | None,
) -> dict[str, Any]:
    """The ``--summary`` JSON: per-day totals, sitting bouts, tilt exposure and alerts."""
    valid = ~np.isnan(epochs.tilt_deg)
    day_rows = []
    for day in sorted(days):
        totals = days[day]
        day_rows.append(
            {
                "date": day.isoformat(),
                **{f"{name}_s": round(totals.seconds[name]) for name in ACTIVITIES},
                "anterior_tilt_standing_s": round(totals.anterior_tilt_standing_s),
                "exercise_s": round(totals.exercise_s),
            }
        )
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
