"""``hipsense alerts`` against a real Mosquitto: each alert printed once, a refused login as one line, no terminal
control sequences from hostile alerts (issue 11, row 12), and a flood held in bounded memory with its drop reported
once."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from hipsense.mqtt import to_json
from tests.support.broker import BROKER_USER, REPO, Broker, Collector
from tests.support.mqtt import BASE, alert, publish_all, running


def test_alerts_command_prints_each_alert_once(
    broker: Broker, tmp_path: Path, subprocess_env: dict[str, str], collect: Callable[..., Collector]
) -> None:
    env = {**subprocess_env, "HIPSENSE_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "hipsense", "alerts", "--mqtt", broker.url, "--wearer", "anna", "--count", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    try:
        assert proc.stderr is not None
        ready = proc.stderr.readline().decode()
        assert ready.startswith(f"listening for alerts on {broker.url} {BASE}/alert"), ready
        raw = collect(broker.port, ["unused/topic"])
        with running(broker.url, tmp_path / "o.sqlite3") as pub:
            pub.publish_alert(alert(1))
            assert pub.flush(10)
            raw.client.publish(f"{BASE}/alert", to_json(alert(1)), qos=1).wait_for_publish(5)  # a re-send
            pub.publish_alert(alert(2, "anterior_tilt"))
            out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    lines = out.decode().splitlines()
    assert proc.returncode == 0, err.decode()
    assert len(lines) == 2
    assert "prolonged_sitting" in lines[0] and "anna" in lines[0] and "sitting for 30 minutes" in lines[0]
    assert lines[0].startswith("2024-05-01T10:32:00+02:00")
    assert "anterior_tilt" in lines[1]


def test_alerts_command_reports_a_refused_login(broker: Broker, tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    env = {**subprocess_env, "HIPSENSE_HOME": str(tmp_path / "home"), "HIPSENSE_MQTT_PASSWORD": "nope"}
    res = subprocess.run(
        [sys.executable, "-m", "hipsense", "alerts", "--mqtt", broker.auth_url, "--mqtt-user", BROKER_USER,
         "--timeout", "5"],
        capture_output=True,
        env=env,
        cwd=REPO,
        timeout=30,
    )  # fmt: skip
    err = res.stderr.decode()
    assert res.returncode == 2
    assert err.splitlines()[0] == (
        f"error: {broker.auth_url}: broker refused the login (bad user name or password); "
        "check --mqtt-user/--mqtt-password"
    )
    assert "nope" not in err and "Traceback" not in err


# issue 11, row 12: hipsense alerts prints no terminal control sequences
def test_alerts_command_strips_control_characters_and_survives_odd_alerts(
    broker: Broker, subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**subprocess_env, "HIPSENSE_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "hipsense", "alerts", "--mqtt", broker.url, "--count", "2", "--timeout", "10"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        assert b"listening for alerts" in proc.stderr.readline()  # subscribed
        now = datetime.now(UTC).isoformat()
        evil = {"id": "e1", "event_type": "recalibrate", "time": now, "message": "hi\x1b]0;pwned\x07\x1b[2J\x9b2Jx"}
        deep = '{"id": "e2", "event_type": "recalibrate", "time": "t", "message": ' + "[" * 5000 + "]" * 5000 + "}"
        odd = {"id": ["x"], "event_type": {"a": 1}, "time": 5, "message": {"b": [1, 2]}}
        last = {"id": "e4", "event_type": "battery_low", "time": now, "message": "battery\nlow\r"}
        publish_all(broker, "hipsense/me/alert", [json.dumps(evil), deep, json.dumps(odd), json.dumps(last)])
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert b"Traceback" not in err
    text = out.decode("utf-8")
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) < 0xA0 for c in text)
    lines = text.splitlines()
    assert len(lines) == 2 and "hi" in lines[0] and "pwned" in lines[0]


def _rss_bytes(pid: int) -> int:
    """The resident memory of process ``pid``, bytes (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def _read_lines(stream: IO[bytes], into: list[str]) -> None:
    for raw in stream:
        into.append(raw.decode("utf-8", "replace").rstrip("\n"))


# every input from outside is bounded: a flood while the terminal does not keep up
def test_alerts_command_stays_bounded_under_a_flood_and_reports_the_drop_once(
    broker: Broker, tmp_path: Path, subprocess_env: dict[str, str]
) -> None:
    env = {**subprocess_env, "HIPSENSE_HOME": str(tmp_path / "home")}
    cmd = [sys.executable, "-m", "hipsense", "alerts", "--mqtt", broker.url, "--wearer", "anna"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sent = 8000
    pad = "x" * 6000  # 8000 alerts of about 6 KB: 48 MB, far more than the subscription may hold
    payloads = [json.dumps({**alert(i), "pad": pad}) for i in range(sent)]
    out: list[str] = []
    err: list[str] = []
    try:
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stderr.readline().decode().startswith("listening for alerts")
        before = _rss_bytes(proc.pid)
        # Nobody reads the output yet: the printing stalls on the full pipe, as on a terminal that does not keep
        # up, while the alerts keep coming.
        publish_all(broker, f"{BASE}/alert", payloads)
        time.sleep(3.0)  # the last of them reach the command
        grown = _rss_bytes(proc.pid) - before
        readers = [
            threading.Thread(target=_read_lines, args=(proc.stdout, out), daemon=True),
            threading.Thread(target=_read_lines, args=(proc.stderr, err), daemon=True),
        ]
        for reader in readers:
            reader.start()

        def dropped() -> list[int]:
            return [int(m.group(1)) for line in err if (m := re.search(r"/alert: dropped (\d+) message", line))]

        deadline = time.monotonic() + 60
        printed, still_since = -1, time.monotonic()
        while time.monotonic() < deadline:  # until the drop is reported and the printing has stopped for 2 s
            if len(out) != printed:
                printed, still_since = len(out), time.monotonic()
            elif dropped() and time.monotonic() - still_since > 2.0:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        for reader in readers:
            reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert grown < 20 * 1024 * 1024, f"the command grew by {grown / 2**20:.1f} MB"
    drops = dropped()
    assert len(drops) == 1, err  # reported once, not once per message
    assert drops[0] > 0
    # Every alert printed or counted as dropped, unless the broker's own bound (Mosquitto's max_queued_messages, for
    # a client slower than the publisher) dropped some before they reached the command; it says so in its log.
    assert len(out) + drops[0] == sent or (
        len(out) + drops[0] < sent and "Outgoing messages are being dropped" in broker.log_text()
    )
    assert all("prolonged_sitting" in line and "anna" in line for line in out)
    assert not any("Traceback" in line for line in err)
