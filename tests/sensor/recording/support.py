"""Helpers shared by the recording tests: a synthetic wearer, reading with warnings, CSV text."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from processing.errors import RecordingWarning
from processing.samples import Samples
from sensor.recording import (
    CANONICAL_HEADER,
    open_recording,
)

HAPT_DIR = Path(__file__).resolve().parents[4] / "shared" / "data" / "hapt-dev" / "RawData"


def wearer(n: int = 3000, rate: float = 100.0, seed: int = 0) -> Samples:
    """A still-ish wearer tilting +-0.5 rad about y at 0.3 Hz: acc in m/s², gyro in rad/s."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    th = 0.5 * np.sin(2 * np.pi * 0.3 * t)
    acc = np.column_stack([9.81 * np.sin(th), np.zeros(n), 9.81 * np.cos(th)]) + rng.normal(0, 0.05, (n, 3))
    gyro = np.column_stack([np.zeros(n), 0.5 * 2 * np.pi * 0.3 * np.cos(2 * np.pi * 0.3 * t), np.zeros(n)])
    gyro = gyro + rng.normal(0, 0.01, (n, 3))
    return Samples(t, acc, gyro)


def read_all(path: Path, **kwargs: object) -> tuple[Samples, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_recording(path, **kwargs) as rec:  # type: ignore[arg-type]
            s = Samples.concat(list(rec))
    return s, [str(w.message) for w in caught if issubclass(w.category, RecordingWarning)]


def write_csv_text(path: Path, rows: list[str], meta: str = "") -> Path:
    path.write_text(meta + CANONICAL_HEADER + "\n" + "".join(r + "\n" for r in rows))
    return path


def rows_for(s: Samples) -> list[str]:
    return [",".join(f"{v:.6f}" for v in (s.t[i], *s.acc[i], *s.gyro[i])) for i in range(len(s))]
