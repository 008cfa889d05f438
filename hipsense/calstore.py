"""Calibrations stored per wearer and device in the data folder, so the next day starts calibrated.

``<data>/calibrations/<wearer>/<device>.json`` holds the sensor-to-pelvis rotation, how it was found, when,
and from what. Files are written atomically.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hipsense.config import data_dir
from hipsense.private import private_dir
from processing.calibration import Calibration
from processing.errors import ConfigError


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")
    return slug or "default"


def calibration_file(wearer: str, device: str, *, root: Path | None = None) -> Path:
    return (root or data_dir()) / "calibrations" / _slug(wearer) / f"{_slug(device)}.json"


def save_calibration(
    calibration: Calibration,
    *,
    wearer: str,
    device: str,
    source: str,
    details: dict[str, Any] | None = None,
    root: Path | None = None,
) -> Path:
    """Store ``calibration`` for ``wearer`` and ``device`` (replacing the previous one); returns the file.

    ``source`` says what it was computed from (e.g. ``day.csv 5-25 s``); ``details`` are extra JSON fields
    (the mounting in words, angles) kept for people reading the file.
    """
    path = calibration_file(wearer, device, root=root)
    private_dir(path.parent, tighten=False)  # 0700 for the folders it creates (health data)
    record: dict[str, Any] = {
        **calibration.to_dict(),
        "wearer": wearer,
        "device": device,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        **(details or {}),
    }
    fd, tmp = tempfile.mkstemp(prefix=".cal.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_calibration(wearer: str, device: str, *, root: Path | None = None) -> Calibration | None:
    """The stored calibration for ``wearer`` and ``device``, or None; ConfigError when the file is unreadable."""
    path = calibration_file(wearer, device, root=root)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Calibration.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(
            f"{path}: stored calibration is unreadable ({exc})",
            hint="delete the file and run 'hipsense calibrate' again",
        ) from exc
