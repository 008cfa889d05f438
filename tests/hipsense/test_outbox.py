"""The durable alert outbox: order, acknowledgement, idempotent put, survival of a killed process."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hipsense.outbox import Outbox
from processing.errors import ConfigError

TOPIC = "hipsense/anna/alert"


def _alert(i: int) -> dict[str, object]:
    return {"id": f"a{i:05d}", "event_type": "prolonged_sitting", "time": "2024-05-01T10:00:00+02:00"}


def test_pending_keeps_put_order_and_ack_removes(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        entries = [box.put(TOPIC, _alert(i)) for i in range(5)]
        assert [e.seq for e in entries] == sorted(e.seq for e in entries)
        assert [e.alert_id for e in box.pending()] == ["a00000", "a00001", "a00002", "a00003", "a00004"]
        assert box.ack(entries[2].seq) is True
        assert box.ack(entries[2].seq) is False
        assert [e.alert_id for e in box.pending()] == ["a00000", "a00001", "a00003", "a00004"]
        assert [e.alert_id for e in box.pending(after_seq=entries[1].seq, limit=1)] == ["a00003"]
        assert len(box) == 4
        assert json.loads(box.pending()[0].payload) == _alert(0)
        assert box.pending()[0].topic == TOPIC


def test_put_is_idempotent_by_id_and_creates_missing_ids(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.sqlite3") as box:
        first = box.put(TOPIC, _alert(1))
        again = box.put(TOPIC, {**_alert(1), "message": "changed"})
        assert again == first
        assert len(box) == 1
        fresh = box.put(TOPIC, {"event_type": "battery_low"})
        assert len(fresh.alert_id) == 32
        assert json.loads(fresh.payload)["id"] == fresh.alert_id
        assert len(box) == 2


def test_entries_survive_reopen_and_seq_is_never_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "o.sqlite3"  # the parent folder is created
    with Outbox(path) as box:
        a = box.put(TOPIC, _alert(1))
        b = box.put(TOPIC, _alert(2))
        box.ack(b.seq)
    with Outbox(path) as box:
        assert [e.alert_id for e in box.pending()] == ["a00001"]
        assert len(box) == 1
        c = box.put(TOPIC, _alert(3))
        assert c.seq > b.seq > a.seq


def test_put_is_on_disk_when_the_process_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    repo = Path(__file__).resolve().parents[2]
    code = (
        "import sys, time\n"
        "from hipsense.outbox import Outbox\n"
        "box = Outbox(sys.argv[1])\n"
        "for i in range(20):\n"
        "    box.put('t', {'id': f'k{i:02d}'})\n"
        "print('stored', flush=True)\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(repo)}
    proc = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"stored"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout:
            proc.stdout.close()
    with Outbox(path) as box:
        assert [e.alert_id for e in box.pending()] == [f"k{i:02d}" for i in range(20)]


def test_large_outbox_warns_once_and_keeps_everything(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="hipsense.outbox"),
        Outbox(tmp_path / "o.sqlite3", warn_above=3) as box,
    ):
        for i in range(6):
            box.put(TOPIC, _alert(i))
        assert len(box) == 6
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "more than 3" in warnings[0].getMessage()


def test_unusable_path_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="cannot open the alert outbox"):
        Outbox(tmp_path / "file" / "o.sqlite3")


def test_ack_after_close_is_ignored(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3")
    e = box.put(TOPIC, _alert(1))
    box.close()
    assert box.ack(e.seq) is False
    with pytest.raises(RuntimeError, match="closed"):
        box.put(TOPIC, _alert(2))
    with Outbox(tmp_path / "o.sqlite3") as again:
        assert len(again) == 1
