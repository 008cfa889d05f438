"""Ground truth of the simulated wearer: per sample (:class:`Truth`) and per 1 s epoch (:class:`EpochTruth`,
:func:`epoch_truth`, :class:`EpochTruthBuilder` for a stream), and the truth CSV (:func:`write_truth_csv`).
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np
from numpy.typing import NDArray

from sensor.files import open_private
from sensor.simulate.kinematics import FloatArray, pelvis_matrix
from sensor.simulate.scenarios import ACTIVITIES


@dataclass(frozen=True, slots=True)
class Truth:
    """Ground truth at each sample of the matching :class:`Samples`.

    t: (n,) s, the sample instants. tilt_deg: (n,) degrees, anterior positive, 0 = neutral standing.
    obliquity_deg: (n,) degrees, left side up positive. heading_deg: (n,) degrees in (-180, 180], yaw of the
    pelvis about world z. activity: (n,) str from :data:`ACTIVITIES`. transition: (n,) bool.
    mounting: (3, 3) sensor->pelvis rotation used for these samples.
    """

    t: FloatArray
    tilt_deg: FloatArray
    obliquity_deg: FloatArray
    heading_deg: FloatArray
    activity: NDArray[np.str_]
    transition: NDArray[np.bool_]
    mounting: FloatArray = field(default_factory=lambda: np.eye(3))

    def __len__(self) -> int:
        return int(self.t.shape[0])

    def slice(self, start: int, stop: int | None = None) -> Truth:
        s = np.s_[start:stop]
        return Truth(
            self.t[s],
            self.tilt_deg[s],
            self.obliquity_deg[s],
            self.heading_deg[s],
            self.activity[s],
            self.transition[s],
            self.mounting,
        )

    @staticmethod
    def concat(parts: Sequence[Truth]) -> Truth:
        if not parts:
            raise ValueError("Truth.concat needs at least one part")
        return Truth(
            np.concatenate([p.t for p in parts]),
            np.concatenate([p.tilt_deg for p in parts]),
            np.concatenate([p.obliquity_deg for p in parts]),
            np.concatenate([p.heading_deg for p in parts]),
            np.concatenate([p.activity for p in parts]),
            np.concatenate([p.transition for p in parts]),
            parts[0].mounting,
        )

    def pelvis_to_world(self) -> FloatArray:
        """(n, 3, 3) pelvis->world rotations."""
        return pelvis_matrix(np.radians(self.heading_deg), np.radians(self.tilt_deg), np.radians(self.obliquity_deg))

    def sensor_to_world(self) -> FloatArray:
        """(n, 3, 3) sensor->world rotations (the true sensor orientation)."""
        return self.pelvis_to_world() @ self.mounting


@dataclass(frozen=True, slots=True)
class EpochTruth:
    """Truth per 1 s epoch ``k = floor(t - t0)``; epochs without any sample (inside a gap) are absent.

    t: (m,) s, epoch start ``t0 + k``. activity: (m,) str, the most frequent (ties: first in
    :data:`ACTIVITIES`). tilt_deg, obliquity_deg: (m,) degrees, means over the epoch's samples.
    transition: (m,) bool, any sample in a transition. n_samples: (m,) int.
    """

    t: FloatArray
    activity: NDArray[np.str_]
    tilt_deg: FloatArray
    obliquity_deg: FloatArray
    transition: NDArray[np.bool_]
    n_samples: NDArray[np.int64]

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @staticmethod
    def concat(parts: Sequence[EpochTruth]) -> EpochTruth:
        return EpochTruth(
            np.concatenate([np.empty(0)] + [p.t for p in parts]),
            np.concatenate([np.empty(0, dtype="<U8")] + [p.activity for p in parts]),
            np.concatenate([np.empty(0)] + [p.tilt_deg for p in parts]),
            np.concatenate([np.empty(0)] + [p.obliquity_deg for p in parts]),
            np.concatenate([np.empty(0, dtype=bool)] + [p.transition for p in parts]),
            np.concatenate([np.empty(0, dtype=np.int64)] + [p.n_samples for p in parts]),
        )


def epoch_truth(truth: Truth, *, t0: float | None = None) -> EpochTruth:
    """Per-epoch truth of ``truth``; ``t0`` defaults to its first sample's time.

    >>> from sensor.simulate import Segment, SensorModel, simulate
    >>> _, truth = simulate([Segment("sitting", 3.0)], SensorModel.ideal(rate_hz=25))
    >>> epochs = epoch_truth(truth)
    >>> epochs.t.tolist(), epochs.activity.tolist(), epochs.n_samples.tolist()
    ([0.0, 1.0, 2.0], ['sitting', 'sitting', 'sitting'], [25, 25, 25])
    """
    n = len(truth)
    if n == 0:
        return EpochTruth.concat([])
    origin = float(truth.t[0]) if t0 is None else t0
    k = np.floor(truth.t - origin).astype(np.int64)
    starts = np.concatenate(([0], np.flatnonzero(np.diff(k)) + 1))
    counts = np.diff(np.concatenate((starts, [n])))
    votes = np.stack([np.add.reduceat((truth.activity == a).astype(np.int64), starts) for a in ACTIVITIES])
    return EpochTruth(
        t=origin + k[starts].astype(float),
        activity=np.asarray(ACTIVITIES)[np.argmax(votes, axis=0)],
        tilt_deg=np.add.reduceat(truth.tilt_deg, starts) / counts,
        obliquity_deg=np.add.reduceat(truth.obliquity_deg, starts) / counts,
        transition=np.logical_or.reduceat(truth.transition, starts),
        n_samples=counts.astype(np.int64),
    )


class EpochTruthBuilder:
    """Epoch truth from a stream of :class:`Truth` chunks (the same result as on their concatenation).

    ``update(chunk)`` returns the epochs completed so far (the last, possibly unfinished epoch is held
    back); ``finish()`` returns the held-back epoch.
    """

    def __init__(self, *, t0: float | None = None) -> None:
        self._t0 = t0
        self._pending: Truth | None = None

    def update(self, truth: Truth) -> EpochTruth:
        if len(truth) == 0:
            return EpochTruth.concat([])
        if self._t0 is None:
            self._t0 = float(truth.t[0])
        joined = truth if self._pending is None else Truth.concat([self._pending, truth])
        k = np.floor(joined.t - self._t0)  # the same floor as epoch_truth
        split = int(np.searchsorted(k, k[-1], side="left"))
        self._pending = joined.slice(split)
        return epoch_truth(joined.slice(0, split), t0=self._t0)

    def finish(self) -> EpochTruth:
        pending, self._pending = self._pending, None
        if pending is None or self._t0 is None:
            return EpochTruth.concat([])
        return epoch_truth(pending, t0=self._t0)


def write_truth_csv(path: str | Path, epochs: EpochTruth | Iterable[EpochTruth]) -> None:
    """Write epoch truth as CSV (``.csv`` or ``.csv.gz``): ``t,activity,tilt_deg,obliquity_deg,transition``.

    ``t`` is the epoch start in s, angles in degrees with 3 decimals, ``transition`` is 0 or 1. ``epochs``
    may be an iterable of parts (e.g. from :class:`EpochTruthBuilder`), written in order.
    """
    path = Path(path)
    parts = [epochs] if isinstance(epochs, EpochTruth) else epochs
    file = open_private(path, "wb")  # health data: owner-only
    raw: IO[bytes] = gzip.GzipFile(fileobj=file, mode="wb") if path.name.endswith(".gz") else file  # type: ignore[assignment]
    with file, raw, io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as out:
        out.write("t,activity,tilt_deg,obliquity_deg,transition\n")
        for part in parts:
            for t, a, tilt, obl, tr in zip(
                part.t.tolist(),
                part.activity.tolist(),
                part.tilt_deg.tolist(),
                part.obliquity_deg.tolist(),
                part.transition.tolist(),
                strict=True,
            ):
                out.write(f"{_num(t)},{a},{tilt:.3f},{obl:.3f},{int(tr)}\n")


def _num(t: float) -> str:
    text = f"{t:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
