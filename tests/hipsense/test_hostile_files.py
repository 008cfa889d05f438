"""Hostile and unlucky local input (issue 11, rows 6, 7, 13, 14, 17, and replay of an old recording).

Configs, stored rows and outputs: one-line errors, never a traceback; secrets never printed; spreadsheets not
fed formulas; health-data files owner-only.
"""

from __future__ import annotations

import csv
import io
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hipsense.cli import main
from hipsense.mqtt import BrokerSettings
from processing.errors import ConfigError

SCENARIO = "stand 20, walk 40, sit 3min, walk 30, stand 20"


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "short.csv.gz"
    assert main(["simulate", "--scenario", SCENARIO, "--seed", "5", "--rate", "50", "--out", str(out)]) == 0
    return out


# -- row 6: passwords never printed --------------------------------------------------------------------------------

URLS_WITH_SECRETS = [
    ("mqtt://alice:S3cr/et@10.0.0.5:1883", "S3cr"),
    ("mqtt://alice:Pw9Q#x@10.0.0.5:1883", "Pw9Q"),
    ("mqtt://alice:a%2Fb@10.0.0.5:1883", "a%2Fb"),
    ("mqtt://alice:S3cr/et@10.0.0.5:notaport", "S3cr"),
    ("mqtt://alice:S3cr?et@10.0.0.5", "S3cr"),
]


@pytest.mark.parametrize(("url", "secret"), URLS_WITH_SECRETS)
def test_config_show_masks_odd_passwords(url: str, secret: str, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (home / "config.toml").write_text(f'[mqtt]\nurl = "{url}"\n')
    assert main(["config", "--show"]) == 0
    out = capsys.readouterr().out
    assert secret not in out and "alice:********@10.0.0.5" in out


@pytest.mark.parametrize(("url", "secret"), URLS_WITH_SECRETS)
def test_broker_url_errors_do_not_echo_the_password(url: str, secret: str, home: Path) -> None:
    try:
        settings = BrokerSettings.from_url(url, env={}, insecure=True)
    except ConfigError as exc:
        assert secret not in exc.message and secret not in (exc.hint or "")
        assert secret not in repr(exc) and secret not in str(exc.__cause__ or "")
    else:
        assert settings.password is not None and secret.split("%")[0] in settings.password
        assert secret not in repr(settings) and secret not in settings.url


def test_replay_with_a_bad_broker_url_prints_no_password(
    recording: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(recording), "--fast", "--mqtt", "mqtt://alice:pw#x@127.0.0.1:notaport"]) == 2
    captured = capsys.readouterr()
    assert "pw#x" not in captured.err + captured.out and "pw" not in captured.err


# -- row 7: dates out of range -----------------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1899-12-31"])
def test_exercise_add_refuses_a_day_out_of_range(day: str, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["exercise", "add", "--minutes", "5", "--day", day]) == 2
    assert "--day" in capsys.readouterr().err


def test_report_and_prune_survive_rows_stored_out_of_range(
    recording: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(recording), "--timeline", str(home / "t.csv"), "--store"]) == 0
    db = home / "data" / "history.sqlite3"
    with sqlite3.connect(db) as conn:  # as an older hipsense let them in
        conn.execute("INSERT INTO exercise (day, duration_s, what, source) VALUES ('9999-12-31', 300, 'x', 'mqtt')")
        conn.execute(
            "INSERT INTO days (day, unknown_s, sitting_s, standing_s, walking_s, lying_s, anterior_tilt_standing_s,"
            " longest_bout_s, bouts, alerts, exercise_s) VALUES ('9999-12-31', 0, 0, 0, 0, 0, 0, 0, 0, 0, 300)"
        )
    capsys.readouterr()
    assert main(["report", "--out", str(home / "r.html")]) == 0
    assert main(["report", "--week", "--out", str(home / "w.html")]) == 0
    assert "2026-01-05" in (home / "r.html").read_text()
    assert main(["history", "prune"]) == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM days WHERE day > '9000'").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM exercise WHERE day > '9000'").fetchone() == (0,)
        assert conn.execute("SELECT COUNT(*) FROM days WHERE day = '2026-01-05'").fetchone() == (1,)


# -- row 13: CSV formula injection ---------------------------------------------------------------------------------


def test_history_export_neutralises_formulas(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    evil = ["=cmd|' /C calc'!A0", '=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"]
    for what in evil:
        assert main(["exercise", "add", "--minutes", "5", f"--what={what}"]) == 0
    capsys.readouterr()
    out = home / "ex.csv"
    assert main(["history", "export", "--table", "exercise", "--out", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == len(evil)
    for row in rows:
        assert row["what"][0] not in "=+-@\t\r", row["what"]
    assert rows[0]["what"] == "'=cmd|' /C calc'!A0"
    assert float(rows[0]["duration_s"]) == 300.0  # numbers stay numbers


# -- row 14: health data owner-only --------------------------------------------------------------------------------


def test_data_files_and_folders_are_owner_only(recording: Path, home: Path) -> None:
    old_umask = os.umask(0o022)  # the usual umask: nothing may rely on a stricter one
    try:
        _make_data_files(recording, home)
    finally:
        os.umask(old_umask)
    found = {p.relative_to(home).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in (home / "data").rglob("*")}
    found["data"] = stat.S_IMODE((home / "data").stat().st_mode)
    assert {"data/history.sqlite3", "data/mqtt-outbox.sqlite3", "data/rules/me.json"} <= set(found)
    assert any(p.startswith("data/calibrations/") for p in found), found
    wrong = {p: oct(m) for p, m in found.items() if m != (0o700 if (home / p).is_dir() else 0o600)}
    assert not wrong


def _make_data_files(recording: Path, home: Path) -> None:
    from hipsense.outbox import Outbox
    from hipsense.runtime import _save_rule_state
    from processing.pipeline import Pipeline, PipelineParams

    assert main(["analyze", str(recording), "--timeline", str(home / "t.csv"), "--store"]) == 0
    assert main(["exercise", "add", "--minutes", "5"]) == 0
    assert main(["calibrate", str(recording), "--neutral", "2:18"]) == 0
    with Outbox(home / "data" / "mqtt-outbox.sqlite3") as box:
        box.put("t", {"id": "a"})
    _save_rule_state(Pipeline(PipelineParams(rate_hz=50.0)), home / "data" / "rules" / "me.json")


def test_an_existing_world_readable_store_is_made_owner_only(home: Path) -> None:
    from hipsense.store import HistoryStore

    (home / "data").mkdir(mode=0o755)
    db = home / "data" / "history.sqlite3"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    HistoryStore(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "data").stat().st_mode) == 0o700


# -- row 17: odd configs and store paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"[store]\nretention_days = nan\n", "retention_days"),
        (b"[store]\nretention_days = inf\n", "retention_days"),
        (b"[alerts]\nprolonged_sitting_s = nan\n", "prolonged_sitting_s"),
        (b"[store]\nretention_days = 1" + b"0" * 400 + b"\n", "retention_days"),
        (b"[store]\nretention_days = 1" + b"0" * 5000 + b"\n", "config.toml"),
        (b"[alerts.cooldown_s]\nanterior_tilt = 1" + b"0" * 400 + b"\n", "cooldown_s"),
        (b'[wearer]\nid = "\xff\xfe"\n', "UTF-8"),
        (b"\xef\xbb\xbf\x00\x00garbage", "config.toml"),
    ],
)
def test_odd_configs_are_one_line_errors(
    content: bytes, expected: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "config.toml").write_bytes(content)
    assert main(["config", "--show"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err.splitlines()[0] and "Traceback" not in err


def test_a_store_path_under_a_file_is_a_one_line_error(home: Path, subprocess_env: dict[str, str]) -> None:
    (home / "afile").write_text("x")
    (home / "config.toml").write_text(f'[store]\npath = "{home / "afile" / "h.sqlite3"}"\n')
    env = {**subprocess_env, "HIPSENSE_HOME": str(home)}
    for argv in (["history", "prune"], ["exercise", "add", "--minutes", "5"], ["report"]):
        proc = subprocess.run([sys.executable, "-m", "hipsense", *argv], env=env, capture_output=True, text=True)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: ")
        assert "afile" in proc.stderr.splitlines()[0]


# -- replay --store of a recording older than the retention --------------------------------------------------------


def test_replay_store_of_an_old_recording_says_what_the_retention_drops(
    recording: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "config.toml").write_text("[store]\nretention_days = 30\n")
    assert main(["replay", str(recording), "--fast", "--store"]) == 0
    err = capsys.readouterr().err
    assert "2026-01-05" in err and "retention" in err and "30" in err
