"""A recorder killed with SIGKILL loses at most about one second of data (what `live --record` relies on)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from processing.errors import RecordingError
from sensor.recording import open_recording

WRITER = """
import sys, time
import numpy as np
from processing.samples import Samples
from sensor.recording import RecordingWriter

rate = 100.0
w = RecordingWriter(sys.argv[1], metadata={"device": "kill-test", "rate_hz": "100"}, flush_s=1.0)
i = 0
while True:  # 0.1 s packets, like BLE notifications, as fast as the disk allows
    t = (i * 10 + np.arange(10)) / rate
    acc = np.tile([0.0, 0.0, 9.81], (10, 1)) + 0.01 * np.sin(t)[:, None]
    w.write(Samples(t, acc, np.zeros((10, 3))))
    print(f"{t[-1]:.2f}", flush=True)
    i += 1
    if i % 50 == 0:
        time.sleep(0.01)
"""


@pytest.mark.parametrize("suffix", ["csv.gz", "hsb", "csv"])
def test_sigkill_loses_at_most_a_second(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"rec.{suffix}"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    last_written = 0.0
    deadline = time.monotonic() + 30
    while last_written < 30.0 and time.monotonic() < deadline:
        last_written = float(proc.stdout.readline())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert last_written >= 30.0
    recorded = []
    with open_recording(path) as rec:
        try:
            for chunk in rec:
                recorded.append(chunk.t)
        except RecordingError as exc:  # killed in the middle of a write: everything before it is kept
            assert "truncated" in str(exc)
    last_recorded = float(recorded[-1][-1])
    # The writer had handed over samples up to last_written (the kill may come a little later still).
    assert last_recorded >= last_written - 1.0 - 0.01
