"""One recording through the whole pipeline, as ``hipsense analyze`` and ``hipsense batch`` both run it.

:func:`analyze_recording` reads the recording in bounded chunks into 1 s epoch features, calibrates from the whole
recording (or the ``neutral`` window), then runs :class:`~processing.pipeline.PostureTracker` over the epochs.
Memory is bounded by the number of 1 s epochs (about 20 MB for a 24 h day), never by the samples.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from hipsense.outputs import build_summary
from processing.activity import ActivityParams
from processing.alerts import Alert, AlertParams
from processing.bouts import Bout
from processing.calibration import Calibration, calibrate
from processing.clock import LocalClock
from processing.days import DayBuilder, DayParams, DayStats, EpochDays
from processing.errors import RecordingError, RecordingWarning
from processing.exercise import ExerciseBout
from processing.features import EpochFeatures, FeatureExtractor
from processing.gravity import HindsightUp
from processing.pipeline import DEFAULT_START, Epochs, PipelineParams, PostureTracker
from sensor.recording import EmptyRecordingError, RecordingInfo, open_recording


@dataclass
class Analysis:
    """A recording's result. ``error``: the read stopped early (the epochs hold everything before it)."""

    path: Path
    info: RecordingInfo
    samples_read: int
    gaps: int
    start: datetime
    clock: LocalClock
    calibration: Calibration | None
    epochs: Epochs
    bouts: list[Bout]
    exercise: list[ExerciseBout]
    alerts: list[Alert]
    error: RecordingError | None
    #: No start in the metadata nor given: 2000-01-01 00:00 UTC was assumed.
    start_assumed: bool = False

    def epoch_days(self) -> EpochDays:
        """The epochs on absolute time with their local days, for :class:`~processing.days.DayBuilder`."""
        return EpochDays.from_stream(
            self.clock,
            self.epochs.t,
            self.epochs.activity,
            self.epochs.tilt_deg,
            [(ex.start_s, ex.duration_s) for ex in self.exercise],
        )

    def days(self, params: DayParams) -> list[DayStats]:
        """This recording's days on its own (a bout in progress at its end is closed there)."""
        builder = DayBuilder(params)
        return builder.update(self.epoch_days()) + builder.finish()

    def summary(self, *, anterior_tilt_deg: float) -> dict[str, Any]:
        """The ``--summary`` JSON."""
        recording: dict[str, Any] = {
            "path": str(self.path),
            "format": self.info.format,
            "rate_hz": self.info.rate_hz,
            "samples": self.samples_read,
            "gaps": self.gaps,
            "metadata": dict(self.info.metadata),
        }
        return build_summary(
            recording=recording,
            epochs=self.epochs,
            days=self.days(DayParams(anterior_tilt_deg=anterior_tilt_deg)),
            bouts=self.bouts,
            alerts=self.alerts,
            calibration=self.calibration,
            start=self.start,
            tz=self.clock.tz,
            assumed_start=self.start_assumed,
            error=None if self.error is None else self.error.message,
        )


def analyze_recording(
    path: Path,
    *,
    wearer: str,
    alerts: AlertParams,
    neutral: tuple[float, float] | None = None,
    tz: tzinfo | None = None,
    accel_unit: Literal["auto", "m/s2", "g"] = "auto",
    gyro_unit: Literal["auto", "rad/s", "deg/s"] = "auto",
    rate_hz: float | None = None,
    start: datetime | None = None,
    progress: bool = False,
) -> Analysis:
    """Run the pipeline over the recording at ``path``. ``start``: the wall-clock time at t = 0 when the
    recording's metadata has none (default: 2000-01-01 00:00 UTC, flagged as assumed). Warnings
    (``RecordingWarning``) say what was repaired or left unknown; a :class:`RecordingError` while opening is
    raised, one while reading is kept in ``error``."""
    error: RecordingError | None = None
    parts: list[EpochFeatures] = []
    with open_recording(path, accel_unit=accel_unit, gyro_unit=gyro_unit, rate_hz=rate_hz) as rec:
        info = rec.info
        # A stored recording: the orientation uses hindsight (smoothing over 10 min windows, bounded memory).
        hindsight = HindsightUp(info.rate_hz)
        extractor = FeatureExtractor(rate_hz=info.rate_hz, up_estimator=hindsight)
        show = progress and sys.stderr.isatty()
        total = rec.bytes_total
        with tqdm(total=total, unit="B", unit_scale=True, disable=not show, desc=path.name, leave=False) as bar:
            done = 0
            try:
                for chunk in rec:
                    parts.extend(extractor.update(ready) for ready in hindsight.push(chunk))
                    now = getattr(rec, "bytes_read", 0)
                    bar.update(now - done)
                    done = now
            except RecordingError as exc:
                error = exc
        parts.extend(extractor.update(ready) for ready in hindsight.finish())
        parts.append(extractor.finish())
        samples_read = rec.samples_read
    if isinstance(error, EmptyRecordingError):
        raise error  # nothing was read: no timeline, no summary, exit 2
    features = EpochFeatures.concat(parts)
    del parts
    if neutral is not None and len(features) and neutral[1] > features.t[-1] + 1.0:
        warnings.warn(
            f"--neutral {neutral[0]:g}:{neutral[1]:g}: ends after the recording ({features.t[-1] + 1.0:.0f} s); "
            "using the part inside it",
            RecordingWarning,
            stacklevel=2,
        )
    calibration = calibrate(features, neutral=neutral) if len(features) else None
    if calibration is None:
        why = (
            "no epochs inside the --neutral window or too little walking for the forward axis"
            if neutral
            else "too little walking to find the forward axis (about 20 s is needed)"
        )
        warnings.warn(
            f"{path}: could not calibrate ({why}); tilt and activity are left unknown", RecordingWarning, stacklevel=2
        )
    start_time = info.start or start or DEFAULT_START
    params = PipelineParams(
        rate_hz=info.rate_hz,
        wearer=wearer,
        start=start_time,
        tz=tz,
        calibration=calibration,
        # The whole recording is one batch: epochs the angle alone decided are revised by the next transition.
        activity=ActivityParams(hindsight=True),
        alerts=alerts,
    )
    tracker = PostureTracker(params)
    out = tracker.update(features)
    end = tracker.finish()
    bouts = out.bouts + end.bouts
    exercise = out.exercise + end.exercise
    for event in tracker.reclips:
        # Live output cannot be corrected afterwards; a whole-recording analysis can: between the estimated
        # moment the sensor moved and its detection, the mounting is unknown.
        out.epochs.mark_in_doubt(event.t_onset, event.t_detected)
        warnings.warn(
            f"{path}: the sensor moved on the belt near t = {event.t_onset:.0f} s ({event.reason}); "
            f"recalibrated at t = {event.t_detected:.0f} s, tilt left empty in between",
            RecordingWarning,
            stacklevel=2,
        )
    return Analysis(
        path=path,
        info=info,
        samples_read=samples_read,
        gaps=extractor.gaps,
        start=start_time,
        clock=tracker.clock,
        calibration=calibration,
        epochs=out.epochs,
        bouts=bouts,
        exercise=exercise,
        alerts=out.alerts,
        error=error,
        start_assumed=info.start is None and start is None,
    )
