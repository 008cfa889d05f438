"""hipsense's pure processing core: no I/O, no asyncio, no bleak, paho or sqlite.

Every estimator is an object with parameters apart from state: ``update(chunk) -> result`` and ``reset()``.
The batch form is the streaming form fed one big chunk.
"""

from processing.errors import (
    ConfigError,
    DecodeError,
    HipsenseError,
    HipsenseWarning,
    RecordingError,
    RecordingWarning,
    SensorConnectionError,
)
from processing.samples import STANDARD_GRAVITY, Samples

__all__ = [
    "STANDARD_GRAVITY",
    "ConfigError",
    "DecodeError",
    "HipsenseError",
    "HipsenseWarning",
    "RecordingError",
    "RecordingWarning",
    "Samples",
    "SensorConnectionError",
]
