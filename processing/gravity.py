"""The gravity direction the pipeline uses: :class:`~processing.orientation.OrientationEstimator`'s ``up``."""

from __future__ import annotations

from processing.orientation import OrientationEstimator, OrientationParams
from processing.samples import FloatArray, Samples


class OrientationUp:
    """Adapts :class:`OrientationEstimator` to the pipeline's ``UpEstimator``: returns ``up`` (n, 3)."""

    def __init__(self, params: OrientationParams) -> None:
        self.estimator = OrientationEstimator(params)

    def reset(self) -> None:
        self.estimator.reset()

    def update(self, samples: Samples) -> FloatArray:
        return self.estimator.update(samples).up


def make_up_estimator(rate_hz: float) -> OrientationUp:
    return OrientationUp(OrientationParams(rate_hz=rate_hz))
