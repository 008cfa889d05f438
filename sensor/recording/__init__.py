"""Recordings: read and write IMU recordings in bounded chunks.

Formats (chosen by suffix or content):

``csv``
    The canonical CSV (docs/contracts.md): ``.csv`` / ``.csv.gz``, optional ``# key=value`` metadata lines, header
    ``t,ax,ay,az,gx,gy,gz`` (extra columns ignored), t in s, acc in m/s², gyro in rad/s. Written with t to
    1 µs (6 decimals), acc to 1e-5 m/s² (5 decimals) and gyro to 1e-6 rad/s (6 decimals), trailing zeros
    dropped; that is 100-1000x finer than an IMU's least significant bit, and reading back gives exactly the
    printed decimals (correctly rounded). ``.csv.gz`` is written as one gzip member per flush, so a killed
    recorder leaves a readable file.
``hapt``
    The raw HAPT pair ``acc_expXX_userYY.txt[.gz]`` (g) + ``gyro_expXX_userYY.txt[.gz]`` (rad/s), 50 Hz, no
    timestamps (t = i / 50). Either file may be given.
``phyphox``
    A phyphox CSV export (folder, ``.zip`` or one of its CSV files) with an accelerometer table (acceleration
    *with* g, m/s²) and a gyroscope table (rad/s), each with its own time base. Gyro is put onto the
    accelerometer's timestamps by linear interpolation between neighbouring samples only, never across a gap.
``hsb``
    The compact binary format, see :mod:`sensor.recording.hsb`.

Whatever the format, the samples pass the same checks, in fixed internal blocks so that the result (arrays and
warnings) does not depend on ``chunk_size``: non-finite rows and duplicate timestamps are dropped with a
warning, timestamps going backwards stop the stream with an error (after everything before was yielded), gaps
longer than three sample periods are reported (never interpolated), saturation at a known range is reported,
and units are checked on the first 60 s (acc in g, gyro in deg/s are detected and converted with a warning).

The package holds one module per job: :mod:`~sensor.recording.base` (limits, types, the raw-source protocol),
:mod:`~sensor.recording.text` (bounded text input), one module per format (:mod:`~sensor.recording.csv`,
:mod:`~sensor.recording.hapt`, :mod:`~sensor.recording.phyphox`, :mod:`~sensor.recording.hsb`, with the text
codec in :mod:`~sensor.recording.fastcsv`), :mod:`~sensor.recording.checks` (sample checks),
:mod:`~sensor.recording.units` (unit guessing), :mod:`~sensor.recording.reader` and
:mod:`~sensor.recording.writer`. Import the public names from here.

>>> import tempfile, numpy as np
>>> from pathlib import Path
>>> from processing.samples import Samples
>>> path = Path(tempfile.mkdtemp()) / "rec.csv"
>>> t = np.arange(3) / 100
>>> s = Samples(t, np.tile([0.0, 0.0, 9.81], (3, 1)), np.zeros((3, 3)))
>>> write_recording(path, [s], metadata={"device": "demo"})
3
>>> with open_recording(path) as rec:
...     print(rec.info.format, rec.info.metadata["device"], rec.info.rate_hz, len(Samples.concat(list(rec))))
csv demo 100.0 3
"""

from __future__ import annotations

from sensor.recording.base import CANONICAL_HEADER, RecordingInfo
from sensor.recording.reader import EmptyRecordingError, Recording, open_recording
from sensor.recording.writer import RecordingWriter, format_csv_rows, write_recording

__all__ = [
    "CANONICAL_HEADER",
    "EmptyRecordingError",
    "Recording",
    "RecordingInfo",
    "RecordingWriter",
    "format_csv_rows",
    "open_recording",
    "write_recording",
]
