"""A full disk during a run (issue 11, row 5): a small tmpfs as the data folder, filled while the run goes on.

The run stops with a one-line error and loses nothing it had accepted: every alert shown on the console is in
the outbox (or delivered), or the error names it; the history written before the disk filled is intact.
"""

from __future__ import annotations

import asyncio
import errno
import io
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hipsense.cli import main
from hipsense.mqtt import BrokerSettings, Publisher
from hipsense.runtime import run
from hipsense.sinks import ConsoleSink, MqttSink, Sink, StoreSink
from hipsense.store import HistoryStore
from processing.alerts import AlertParams
from processing.errors import HipsenseError
from processing.pipeline import Pipeline, PipelineOutput, PipelineParams
from sensor.recording import open_recording
from sensor.replay import ReplaySource
from tests.support.broker import Broker, Collector

SCENARIO = "stand 20, walk 40, sit 4min, walk 30, stand 20"


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 5 MB tmpfs (root only); skipped where it cannot be mounted."""
    d = tmp_path / "tiny"
    d.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=5m,mode=0700", "tmpfs", str(d)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode(errors='replace').strip()}")
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], capture_output=True)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; returns the filler file (delete it to free)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as fh:
        for size in (1 << 20, 1 << 14, 1 << 10, 1):
            block = b"\0" * size
            while True:
                try:
                    fh.write(block)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    return filler


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "sit.csv.gz"
    assert main(["simulate", "--scenario", SCENARIO, "--seed", "4", "--rate", "50", "--out", str(out)]) == 0
    return out


class FillAt:
    """A sink that fills the disk once the run reaches stream second ``t_s`` (before the other sinks see it)."""

    def __init__(self, folder: Path, t_s: float) -> None:
        self.folder, self.t_s = folder, t_s
        self.filler: Path | None = None

    def handle(self, output: PipelineOutput, states: list[dict[str, Any]]) -> None:
        if self.filler is None and len(output.epochs) and output.epochs.t[-1] >= self.t_s:
            self.filler = fill(self.folder)

    def event(self, event: object) -> None:
        pass

    def close(self) -> None:
        pass


def test_disk_full_during_a_run_keeps_what_was_accepted(
    recording: Path, tiny_disk: Path, broker: Broker, collect, tmp_path: Path
) -> None:
    sub: Collector = collect(broker.port, ["hipsense/#"])
    console = io.StringIO()
    store = HistoryStore(tiny_disk / "history.sqlite3")
    pub = Publisher(BrokerSettings.from_url(broker.url, env={}), wearer="me", outbox_path=tiny_disk / "outbox.sqlite3")
    pub.start()
    filler_sink = FillAt(tiny_disk, t_s=120.0)  # in the sitting bout, before the alert at 60 + 60 s of sitting
    with open_recording(recording) as rec:
        source = ReplaySource(rec, speed=600.0)  # 12 s packets, like a sensor
        pipeline = Pipeline(
            PipelineParams(rate_hz=source.rate_hz, start=source.start, alerts=AlertParams(prolonged_sitting_s=60.0))
        )
        sinks: list[Sink] = [
            filler_sink,
            ConsoleSink(stream=console),
            StoreSink(store, pipeline.tracker.clock, anterior_tilt_deg=10.0, flush_s=0.0),
            MqttSink(pub),
        ]
        with pytest.raises(HipsenseError) as caught:
            asyncio.run(run(source, pipeline, sinks))
    error = caught.value.message
    assert "\n" not in error and ("full" in error or "space" in error)
    assert filler_sink.filler is not None
    filler_sink.filler.unlink()  # free the disk, then look at what survived

    shown = [line for line in console.getvalue().splitlines() if line.startswith("ALERT ")]
    assert shown, "the scenario sits long enough for an alert"
    delivered = {m.json()["event_type"] + " " + m.json()["time"] for m in sub.on("hipsense/me/alert")}
    with sqlite3.connect(tiny_disk / "outbox.sqlite3") as db:
        queued = {
            r[0] for r in db.execute("SELECT json_extract(payload, '$.event_type') || ' ' || "
                                     "json_extract(payload, '$.time') FROM outbox")
        }  # fmt: skip
    for line in shown:
        _, when, kind = line.split()[:3]
        key = f"{kind.rstrip(':')} {when}"
        assert key in delivered | queued or (kind.rstrip(":") in error and when in error), (line, error)

    # The history flushed before the disk filled is intact: the first 2 minutes of epochs, readable.
    with sqlite3.connect(tiny_disk / "history.sqlite3") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (n,) = db.execute("SELECT COUNT(*) FROM epochs").fetchone()
    assert n >= 100


def test_replay_on_a_full_disk_stops_with_one_line(
    recording: Path, tiny_disk: Path, broker: Broker, collect, subprocess_env: dict[str, str]
) -> None:
    sub: Collector = collect(broker.port, ["hipsense/#"])
    env = {**subprocess_env, "HIPSENSE_HOME": str(tiny_disk)}
    (tiny_disk / "config.toml").write_text('[wearer]\nid = "me"\n[alerts]\nprolonged_sitting_s = 60\n')
    cmd = [sys.executable, "-m", "hipsense", "replay", str(recording), "--speed", "40", "--store", "--mqtt", broker.url]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outbox = tiny_disk / "data" / "mqtt-outbox.sqlite3"
    filled = threading.Event()

    def filler() -> None:
        deadline = time.monotonic() + 60
        while not outbox.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)
        fill(tiny_disk)
        filled.set()

    threading.Thread(target=filler, daemon=True).start()
    out, err = proc.communicate(timeout=120)
    assert filled.is_set()
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and ("full" in errors[0] or "space" in errors[0]), err
    # Every alert the console showed reached the broker, or the error names it.
    sub.wait_for(lambda ms: False, timeout_s=1.0)
    delivered = {m.json()["time"] for m in sub.on("hipsense/me/alert")}
    shown = [line.split()[1] for line in out.splitlines() if line.startswith("ALERT ")]
    assert all(when in delivered or when in errors[0] for when in shown), (shown, delivered, errors[0])


@pytest.fixture
def read_only_home(tmp_path: Path) -> Iterator[Path]:
    """A folder hipsense cannot write: a read-only tmpfs (root), else a folder without write permission."""
    d = tmp_path / "ro"
    d.mkdir()
    if os.geteuid() == 0:
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(d)], capture_output=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a read-only tmpfs here: {proc.stderr.decode(errors='replace').strip()}")
        try:
            yield d
        finally:
            subprocess.run(["umount", "-l", str(d)], capture_output=True)
    else:
        d.chmod(0o500)
        try:
            yield d
        finally:
            d.chmod(0o700)


@pytest.mark.parametrize(
    "argv",
    [
        ["replay", "REC", "--fast", "--store", "--mqtt", "BROKER"],
        ["exercise", "add", "--minutes", "5"],
        ["history", "prune"],
    ],
    ids=["replay", "exercise", "prune"],
)
def test_a_read_only_data_folder_is_a_one_line_error(
    argv: list[str], recording: Path, read_only_home: Path, broker: Broker, subprocess_env: dict[str, str]
) -> None:
    env = {**subprocess_env, "HIPSENSE_HOME": str(read_only_home)}
    argv = [str(recording) if a == "REC" else broker.url if a == "BROKER" else a for a in argv]
    proc = subprocess.run(
        [sys.executable, "-m", "hipsense", *argv], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(read_only_home) in errors[0], proc.stderr
