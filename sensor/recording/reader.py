"""The public reading API: :func:`open_recording` and :class:`Recording`, format detection."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from types import TracebackType

import numpy as np

from processing.errors import RecordingError
from processing.samples import STANDARD_GRAVITY, Samples
from sensor.recording.base import (
    _RAD_PER_DEG,
    _UNIT_PREFIX_MAX_SAMPLES,
    MAX_ABS_VALUE,
    RATE_RANGE_HZ,
    START_YEARS,
    UNIT_PREFIX_S,
    AccelUnit,
    GyroUnit,
    RecordingInfo,
    _check_regular,
    _RawBlock,
    _Source,
)
from sensor.recording.checks import _Checker
from sensor.recording.csv import _CsvSource
from sensor.recording.hapt import _HAPT_RE, _hapt_partner, _HaptSource
from sensor.recording.hsb import _HsbSource
from sensor.recording.phyphox import _PhyphoxSource
from sensor.recording.text import _line_too_long, _Lines, _LineTooLong, _open_bytes
from sensor.recording.units import _decide_accel_unit, _decide_gyro_unit


def _detect_format(path: Path) -> str:
    name = path.name.lower()
    try:
        exists, is_dir = path.exists(), path.is_dir()
    except OSError as exc:  # a symlink loop, a name too long, ...
        raise RecordingError(f"{path}: cannot read ({exc.strerror or exc})", hint="check the path") from None
    if not exists:
        raise RecordingError(f"{path}: no such file or folder", hint="check the path")
    if is_dir:
        return "phyphox"
    _check_regular(path)
    if name.endswith(".hsb"):
        return "hsb"
    if _HAPT_RE.match(path.name):
        return "hapt"
    if name.endswith(".zip"):
        return "phyphox"
    if name.endswith(".csv") or name.endswith(".csv.gz"):
        if path.stat().st_size == 0:
            return "csv"
        reader = _open_bytes(path)
        try:
            first = (_Lines(reader).readline() or b"").lstrip()
        except _LineTooLong:
            raise _line_too_long(path.name, 1) from None
        finally:
            reader.close()
        return "phyphox" if first.startswith(b'"') else "csv"
    raise RecordingError(
        f"{path.name}: unknown recording format",
        hint="use .csv / .csv.gz (canonical), .hsb, a phyphox folder or .zip, or HAPT acc_expXX_userYY.txt",
    )


def _make_source(path: Path, fmt: str) -> _Source:
    try:
        return _make_source_unchecked(path, fmt)
    except OSError as exc:
        raise _os_error(path, exc) from None


def _os_error(path: Path, exc: OSError) -> RecordingError:
    return RecordingError(
        f"{path.name}: cannot read ({exc.strerror or type(exc).__name__})", hint="check the file and its permissions"
    )


def _make_source_unchecked(path: Path, fmt: str) -> _Source:
    if fmt == "hsb":
        return _HsbSource(path)
    if fmt == "hapt":
        pair = _hapt_partner(path)
        assert pair is not None
        return _HaptSource(*pair)
    if fmt == "phyphox":
        return _PhyphoxSource(path)
    return _CsvSource(path)


class EmptyRecordingError(RecordingError):
    """A recording that ends without usable samples (header only, all NaN, one timestamp repeated)."""


class Recording:
    """An open recording. Iterate to get :class:`Samples` chunks of at most ``chunk_size`` samples.

    Use as a context manager. ``samples_read`` counts samples yielded so far; ``bytes_read`` / ``bytes_total``
    give progress through the file(s) (compressed bytes for gzip), e.g. for a tqdm bar.
    Iterating again starts again from the beginning.
    """

    def __init__(
        self,
        info: RecordingInfo,
        open_source: Callable[[], _Source],
        *,
        chunk_size: int,
        accel_unit: str,
        gyro_unit: str,
        bytes_total: int,
    ) -> None:
        self.info = info
        self._open_source = open_source
        self._chunk_size = chunk_size
        self._accel_unit = accel_unit
        self._gyro_unit = gyro_unit
        self._source: _Source | None = None
        self.samples_read = 0
        self.bytes_total = bytes_total
        self._bytes_done = 0

    @property
    def bytes_read(self) -> int:
        return self._source.bytes_read if self._source is not None else self._bytes_done

    def __enter__(self) -> Recording:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._source is not None:
            self._bytes_done = self._source.bytes_read
            self._source.close()
            self._source = None

    def __iter__(self) -> Iterator[Samples]:
        self.close()
        self.samples_read = 0
        source = self._open_source()
        self._source = source
        out: list[Samples] = []
        size = 0
        error: RecordingError | None = None
        try:
            try:
                for block in self._checked(source):
                    out.append(block)
                    size += len(block)
                    while size >= self._chunk_size:
                        whole = Samples.concat(out) if len(out) > 1 else out[0]
                        chunk = whole.slice(0, self._chunk_size)
                        rest = whole.slice(self._chunk_size)
                        out, size = ([rest] if len(rest) else []), len(rest)
                        self.samples_read += len(chunk)
                        yield chunk
            except RecordingError as exc:
                error = exc  # yield what came before it first
            except OSError as exc:  # the disk or the file went away while reading
                error = _os_error(self.info.path, exc)
            if size:
                whole = Samples.concat(out)
                self.samples_read += len(whole)
                yield whole
            if error is not None:
                raise error
            if self.samples_read < 2:
                raise EmptyRecordingError(
                    f"{self.info.path.name}: no usable samples ({self.samples_read} after dropping rows with NaN "
                    "or a repeated timestamp); nothing to analyze",
                    hint="check that the file was written completely",
                )
        finally:
            self.close()

    def _checked(self, source: _Source) -> Iterator[Samples]:
        """Checked, unit-converted blocks; on an error, everything before it is yielded first."""
        name = self.info.path.name
        checker = _Checker(
            source,
            name,
            1.0 / self.info.rate_hz,
            source.acc_range,
            source.gyro_range,
        )
        decide = not source.units_known or self._accel_unit != "auto" or self._gyro_unit != "auto"
        acc_scale = gyro_scale = 1.0
        prefix: list[_RawBlock] = []
        prefix_n = 0
        error: RecordingError | None = None
        blocks = source.blocks()
        try:
            while True:
                try:
                    raw = next(blocks, None)
                except RecordingError as exc:
                    error, raw = exc, None
                if decide and raw is not None:
                    prefix.append(raw)
                    prefix_n += raw.t.size
                    t_all = np.concatenate([p.t for p in prefix])
                    finite_t = t_all[np.isfinite(t_all)]
                    span = float(finite_t[-1] - finite_t[0]) if finite_t.size else 0.0
                    if span < UNIT_PREFIX_S and prefix_n < _UNIT_PREFIX_MAX_SAMPLES:
                        continue
                if decide and prefix:
                    acc_scale, gyro_scale = self._decide_units(prefix, source)
                    decide = False
                    for p in prefix:
                        yield from self._check_one(checker, p, acc_scale, gyro_scale)
                    prefix = []
                elif raw is not None:
                    yield from self._check_one(checker, raw, acc_scale, gyro_scale)
                if raw is None:
                    break
        finally:
            checker.summary()
        if error is not None:
            raise error

    @staticmethod
    def _check_one(checker: _Checker, raw: _RawBlock, acc_scale: float, gyro_scale: float) -> Iterator[Samples]:
        s = checker.check(raw, acc_scale, gyro_scale)
        if len(s):
            yield s
        if checker._pending_error is not None:
            raise checker._pending_error

    def _decide_units(self, prefix: list[_RawBlock], source: _Source) -> tuple[float, float]:
        t = np.concatenate([p.t for p in prefix])
        acc = np.concatenate([p.acc for p in prefix])
        gyro = np.concatenate([p.gyro for p in prefix])
        ok = np.isfinite(t) & np.isfinite(acc).all(axis=1) & np.isfinite(gyro).all(axis=1)
        with np.errstate(invalid="ignore"):
            ok &= (np.abs(acc) <= MAX_ABS_VALUE).all(axis=1) & (np.abs(gyro) <= MAX_ABS_VALUE).all(axis=1)
        t, acc, gyro = t[ok], acc[ok], gyro[ok]
        if t.size:
            keep = t <= t[0] + UNIT_PREFIX_S
            keep &= np.arange(t.size) < _UNIT_PREFIX_MAX_SAMPLES
            t, acc, gyro = t[keep], acc[keep], gyro[keep]
        if t.size == 0:
            return 1.0, 1.0
        name = self.info.path.name
        if source.units_known:
            acc_scale = {"auto": 1.0, "m/s2": 1.0, "g": STANDARD_GRAVITY}.get(self._accel_unit, 1.0)
            gyro_scale = {"auto": 1.0, "rad/s": 1.0, "deg/s": _RAD_PER_DEG}.get(self._gyro_unit, 1.0)
            return acc_scale, gyro_scale
        acc_scale = _decide_accel_unit(acc, self._accel_unit, name)
        gyro_scale = _decide_gyro_unit(t, acc * acc_scale, gyro, self._gyro_unit, name)
        return acc_scale, gyro_scale


def _parse_start(value: str | None, name: str) -> datetime | None:
    if not value:
        return None
    try:
        start = datetime.fromisoformat(value)
    except ValueError:
        raise RecordingError(
            f"{name}: metadata start={value!r} is not an ISO 8601 time",
            hint="write e.g. '# start=2024-05-01T08:30:00+02:00'",
        ) from None
    if start.tzinfo is None:
        raise RecordingError(
            f"{name}: metadata start={value!r} has no UTC offset",
            hint="write e.g. '# start=2024-05-01T08:30:00+02:00'",
        )
    first, last = START_YEARS
    if not first <= start.year <= last:
        raise RecordingError(
            f"{name}: metadata start={value!r} is outside the years {first}-{last}",
            hint="a device clock that was never set? write the real start, e.g. '# start=2024-05-01T08:30:00+02:00'",
        )
    return start


def open_recording(
    path: str | Path,
    *,
    chunk_size: int = 65536,
    accel_unit: AccelUnit = "auto",
    gyro_unit: GyroUnit = "auto",
    rate_hz: float | None = None,
) -> Recording:
    """Open a recording of any supported format (see the module docstring).

    accel_unit / gyro_unit: the units of the canonical CSV's columns, "auto" to detect from the first 60 s
    (the other formats declare their units). rate_hz: nominal rate, overriding metadata and estimation.
    Raises RecordingError (one line, with a hint) for unknown, empty or malformed files.
    """
    p = Path(path)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if accel_unit not in ("auto", "m/s2", "g"):
        raise RecordingError(f"accel_unit={accel_unit!r} is not one of auto, m/s2, g", hint="--accel-unit m/s2")
    if gyro_unit not in ("auto", "rad/s", "deg/s"):
        raise RecordingError(f"gyro_unit={gyro_unit!r} is not one of auto, rad/s, deg/s", hint="--gyro-unit rad/s")
    fmt = _detect_format(p)
    source = _make_source(p, fmt)
    try:
        metadata = dict(source.metadata)
        bytes_total = source.bytes_total
        rate = rate_hz
        where = "the rate_hz argument"
        if rate is None and "rate_hz" in metadata:
            where = f"metadata rate_hz={metadata['rate_hz']!r}"
            try:
                rate = float(metadata["rate_hz"])
            except ValueError:
                raise RecordingError(
                    f"{p.name}: metadata rate_hz={metadata['rate_hz']!r} is not a number",
                    hint="write e.g. '# rate_hz=100'",
                ) from None
        if rate is None:
            where = "the rate estimated from the first timestamps"
            rate = _estimate_rate(source, p.name)
        low, high = RATE_RANGE_HZ
        if not low <= rate <= high:
            raise RecordingError(
                f"{p.name}: sample rate {rate:g} Hz ({where}) is outside {low:g}-{high:g} Hz",
                hint="check the timestamps (seconds) or the '# rate_hz=...' line; --rate overrides it",
            )
        start = _parse_start(metadata.get("start"), p.name)
    except OSError as exc:
        raise _os_error(p, exc) from None
    finally:
        source.close()
    info = RecordingInfo(path=p, format=fmt, metadata=metadata, rate_hz=float(rate), start=start)
    return Recording(
        info,
        lambda: _make_source(p, fmt),
        chunk_size=chunk_size,
        accel_unit=accel_unit,
        gyro_unit=gyro_unit,
        bytes_total=bytes_total,
    )


def _estimate_rate(source: _Source, name: str) -> float:
    first = next(source.blocks(), None)  # a RecordingError in the first block is reported as it is
    if first is None or first.t.size == 0:
        raise RecordingError(
            f"{name}: the recording holds no samples", hint="check that the file was written completely"
        )
    t = first.t[np.isfinite(first.t)][:2000]
    steps = np.diff(t)
    steps = steps[steps > 0]
    if steps.size == 0:
        raise RecordingError(
            f"{name}: cannot estimate the sample rate from the first timestamps",
            hint="add '# rate_hz=...' to the metadata or pass rate_hz=...",
        )
    return float(f"{1.0 / np.median(steps):.6g}")  # 100.0, not 100.00000000000213
