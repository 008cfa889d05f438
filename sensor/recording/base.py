"""Shared by every format: the limits, the sample types, :class:`RecordingInfo` and the raw-source protocol.

A raw source (one per format) yields fixed blocks of rows with their line numbers; the checks then run on them.
"""

from __future__ import annotations

import math
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import numpy as np
from numpy.typing import NDArray

from processing.errors import RecordingError

# CROSS

FloatArray = NDArray[np.float64]
_T = TypeVar("_T")
IntArray = NDArray[np.int64]
AccelUnit = Literal["auto", "m/s2", "g"]
GyroUnit = Literal["auto", "rad/s", "deg/s"]

CANONICAL_COLUMNS = ("t", "ax", "ay", "az", "gx", "gy", "gz")
CANONICAL_HEADER = ",".join(CANONICAL_COLUMNS)
#: decimals written per canonical column: t to 1 µs, acc to 1e-5 m/s², gyro to 1e-6 rad/s
CSV_DECIMALS = (6, 5, 5, 5, 6, 6, 6)
#: decompressed bytes parsed per internal block (fixed: results never depend on chunk_size)
TEXT_BLOCK_BYTES = 1 << 20
#: canonical CSV: blocks read and parsed on a worker thread ahead of the checks (0: no thread)
READ_AHEAD_BLOCKS = 2
#: a step in t longer than this many nominal sample periods is a gap
GAP_PERIODS = 3.0
#: gzip level for .csv.gz (3: about 3x faster than the default 6, files a few % larger)
GZIP_LEVEL = 3
#: gap warnings issued one by one before a single summary
MAX_GAP_WARNINGS = 3
#: saturation: this many consecutive samples at the range limit
SATURATION_RUN = 3
#: units are decided on this first stretch of the recording
UNIT_PREFIX_S = 60.0
_UNIT_PREFIX_MAX_SAMPLES = 200_000
#: the longest line read (a canonical row is under 100 bytes); a longer one is an error, read no further
MAX_LINE_BYTES = 1 << 20
#: metadata lines allowed before the header
MAX_METADATA_LINES = 1000
#: largest piece of decompressed text handed out at once, however well the input compresses
_MAX_PIECE_BYTES = 1 << 22
#: a single gap longer than this stops the stream with an error (24 h: a sensor off overnight is fine)
MAX_GAP_S = 86400.0
#: time in gaps may exceed the time covered by samples this many times (plus MAX_GAP_S); beyond, it stops.
#: The epochs made downstream are then at most (1 + this) x the samples' own, plus a day: bounded by the input.
MAX_GAP_RATIO = 3.0
#: |t| beyond this (s, about 317 years) is not a time on any recording's clock: such rows are dropped
MAX_ABS_T_S = 1e10
#: |acc| (m/s²) or |gyro| (rad/s) beyond this is no measurement (a damaged row): such rows are dropped
MAX_ABS_VALUE = 1e6
#: the sample rates hipsense processes, Hz
RATE_RANGE_HZ = (1.0, 2000.0)
#: the years a metadata ``start`` may lie in
START_YEARS = (1970, 2199)
_RAD_PER_DEG = math.pi / 180.0


@dataclass(frozen=True)
class RecordingInfo:
    """What is known about a recording before reading its samples.

    rate_hz: nominal sample rate (metadata ``rate_hz``, the ``rate_hz`` argument, or estimated from the first
    timestamps). start: absolute time of t = 0 from metadata ``start`` (ISO 8601 with offset), else None.
    """

    path: Path
    format: str
    metadata: dict[str, str]
    rate_hz: float
    start: datetime | None


@dataclass
class _RawBlock:
    t: FloatArray
    acc: FloatArray
    gyro: FloatArray
    lines: IntArray  # (n,) line (or sample) number of each row, for messages


class _Source(Protocol):
    format: str
    metadata: dict[str, str]
    units_known: bool  # False: canonical CSV, units checked from the data
    acc_range: float | None  # m/s², for saturation
    gyro_range: float | None  # rad/s
    bytes_total: int

    @property
    def bytes_read(self) -> int: ...

    def blocks(self) -> Iterator[_RawBlock]: ...

    def locate(self, line: int) -> str: ...

    def close(self) -> None: ...


def _check_regular(path: Path) -> None:
    """Refuse anything but a regular file (a FIFO or ``/dev/zero`` named ``.csv`` would block or never end)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})", hint="check the path") from None
    if not stat.S_ISREG(mode):
        raise RecordingError(
            f"{path.name}: not a regular file (a device, pipe or socket)",
            hint="give a recording file, a phyphox folder or .zip",
        )
