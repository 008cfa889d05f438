"""The hipsense error hierarchy.

One root, :class:`HipsenseError`, and a few specific errors. Every error carries a one-line message that
names the file, line or device and, where useful, a ``hint`` that says what to do about it. The CLI prints
``error: <message>`` and ``hint: <hint>``, never a traceback.

Warnings follow the same rule: one line, naming the file and line. They are issued with
:func:`warnings.warn` so that callers (and tests) can catch them by category.
"""

from __future__ import annotations


class HipsenseError(Exception):
    """Root of every error hipsense raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class RecordingError(HipsenseError):
    """A recording cannot be read (unknown format, malformed row, truncated file, ...)."""


class DecodeError(HipsenseError):
    """A device packet cannot be decoded."""


class SensorConnectionError(HipsenseError):
    """A sensor or broker cannot be reached."""


class ConfigError(HipsenseError):
    """A configuration file or option is invalid."""


class HipsenseWarning(UserWarning):
    """Root of hipsense warnings (printed as one line by the CLI)."""


class RecordingWarning(HipsenseWarning):
    """Something in a recording was repaired or deserves attention (gap, units, saturation, ...)."""
