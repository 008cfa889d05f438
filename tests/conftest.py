"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh ``HIPSENSE_HOME`` (config and data folder) for one test, without MQTT credentials from the
    environment. Test modules that need it for every test say ``pytestmark = pytest.mark.usefixtures("home")``."""
    folder = tmp_path / "home"
    folder.mkdir()
    monkeypatch.setenv("HIPSENSE_HOME", str(folder))
    monkeypatch.delenv("HIPSENSE_MQTT_PASSWORD", raising=False)
    monkeypatch.delenv("HIPSENSE_MQTT_USER", raising=False)
    yield folder
