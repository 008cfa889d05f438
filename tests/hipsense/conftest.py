"""Fixtures for the application tests: a real Mosquitto per test (harness in :mod:`tests.support.broker`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.broker import REPO, Broker, Collector, TlsFiles, _find_mosquitto, make_tls_files


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """Test certificates, made once per session."""
    try:
        return make_tls_files(tmp_path_factory.mktemp("tls"))
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def broker(tmp_path: Path, tls_files: TlsFiles) -> Iterator[Broker]:
    """A fresh mosquitto for one test (stopped afterwards)."""
    exe = _find_mosquitto()
    if exe is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto); the MQTT tests need a real broker")
    b = Broker(exe=exe, workdir=tmp_path / "broker", tls=tls_files)
    b.write_config()
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def collect() -> Iterator[Callable[..., Collector]]:
    """``collect(port, [topics])`` -> a running Collector, closed after the test."""
    made: list[Collector] = []

    def make(port: int, topics: list[str], **kw: Any) -> Collector:
        c = Collector(port, topics, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def subprocess_env() -> dict[str, str]:
    """Environment for child Python processes that import hipsense from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("HIPSENSE_MQTT_USER", None)
    env.pop("HIPSENSE_MQTT_PASSWORD", None)
    return env
