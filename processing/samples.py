"""The unit of data that flows through hipsense: a chunk of IMU samples.

Units are SI: ``t`` in seconds on the stream's own clock, ``acc`` specific force in m/s² (about +9.81 along the
upward axis when still), ``gyro`` angular rate in rad/s, both in the sensor frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Standard gravity, m/s². Used to convert accelerations in g.
STANDARD_GRAVITY = 9.80665


@dataclass(frozen=True, slots=True)
class Samples:
    """A chunk of IMU samples.

    t: (n,) float64, seconds, strictly increasing.
    acc: (n, 3) float64, m/s², sensor frame.
    gyro: (n, 3) float64, rad/s, sensor frame.

    A gap in the stream is a step in ``t`` longer than three sample periods; it is never interpolated.

    >>> s = Samples.empty()
    >>> len(s)
    0
    """

    t: FloatArray
    acc: FloatArray
    gyro: FloatArray

    def __post_init__(self) -> None:
        n = self.t.shape[0]
        if self.t.ndim != 1 or self.acc.shape != (n, 3) or self.gyro.shape != (n, 3):
            raise ValueError(f"Samples shapes disagree: t {self.t.shape}, acc {self.acc.shape}, gyro {self.gyro.shape}")

    def __len__(self) -> int:
        return int(self.t.shape[0])

    @staticmethod
    def empty() -> Samples:
        return Samples(np.empty(0), np.empty((0, 3)), np.empty((0, 3)))

    @staticmethod
    def concat(parts: Sequence[Samples]) -> Samples:
        if not parts:
            return Samples.empty()
        return Samples(
            np.concatenate([p.t for p in parts]),
            np.concatenate([p.acc for p in parts]),
            np.concatenate([p.gyro for p in parts]),
        )

    def slice(self, start: int, stop: int | None = None) -> Samples:
        """Samples ``start:stop`` (views, no copy)."""
        return Samples(self.t[start:stop], self.acc[start:stop], self.gyro[start:stop])
