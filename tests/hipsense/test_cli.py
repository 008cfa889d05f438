"""The hipsense command end to end, on small simulated recordings (in-process and as a real subprocess)."""

from __future__ import annotations

import csv
import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from hipsense.cli import build_parser, main

SCENARIO = "stand 20, walk 40, sit 150, stand 20, walk 30, stand 40"


pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture(scope="module")
def recording(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rec") / "day.csv.gz"
    code = main(
        ["simulate", "--scenario", SCENARIO, "--seed", "5", "--rate", "50", "--mounting", "0,0,0", "--out", str(out)]
    )
    assert code == 0
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_simulate_writes_recording_and_truth(recording):
    truth = read_csv(recording.with_name("day.truth.csv"))
    assert len(truth) == 300
    with gzip.open(recording, "rt") as fh:
        head = [next(fh) for _ in range(8)]
    assert "# start=2026-01-05T08:00:00+01:00\n" in head
    assert "t,ax,ay,az,gx,gy,gz\n" in head


def test_analyze_writes_one_timeline_row_per_second_and_a_summary(recording, tmp_path, capsys):
    timeline, summary = tmp_path / "tl.csv", tmp_path / "s.json"
    code = main(
        ["analyze", str(recording), "--neutral", "2:18", "--timeline", str(timeline), "--summary", str(summary)]
    )
    assert code == 0
    rows = read_csv(timeline)
    assert len(rows) == 300
    assert list(rows[0])[:3] == ["t", "activity", "tilt_deg"]
    assert [r["t"] for r in rows[:3]] == ["0.000", "1.000", "2.000"]
    truth = read_csv(recording.with_name("day.truth.csv"))
    steady = [i for i, r in enumerate(truth) if r["transition"] == "0"]
    agree = sum(rows[i]["activity"] == truth[i]["activity"] for i in steady) / len(steady)
    assert agree > 0.95
    report = json.loads(summary.read_text())
    assert report["calibration"]["method"] == "guided"
    assert report["days"][0]["date"] == "2026-01-05"
    assert abs(report["days"][0]["sitting_s"] - 150) <= 6
    [bout] = report["sitting_bouts"]
    assert abs(bout["start_s"] - 60) <= 3 and abs(bout["duration_s"] - 150) <= 6


def test_replay_fast_prints_alerts_from_the_config(recording, home, capsys):
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[alerts]\nprolonged_sitting_s = 60\nprolonged_sitting_repeat_s = 60\n")
    assert main(["replay", str(recording), "--fast"]) == 0
    out = capsys.readouterr().out
    alerts = [line for line in out.splitlines() if line.startswith("ALERT")]
    # 150 s of sitting: alerts at 60 s and 120 s into the bout.
    assert len(alerts) == 2, out
    assert "prolonged_sitting: You have been sitting for 1 minute" in alerts[0]
    assert "2026-01-05T08:02:" in alerts[0]


def test_analyze_of_a_missing_file_is_one_clear_line(tmp_path, capsys):
    code = main(["analyze", str(tmp_path / "nope.csv"), "--timeline", str(tmp_path / "t.csv")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "nope.csv" in err
    assert "Traceback" not in err
    assert not (tmp_path / "t.csv").exists()


def test_bad_neutral_window_names_the_flag(recording, tmp_path, capsys):
    code = main(["analyze", str(recording), "--neutral", "20-5", "--timeline", str(tmp_path / "t.csv")])
    assert code == 2
    assert "--neutral '20-5' is not START:END" in capsys.readouterr().err


def test_truncated_gzip_keeps_what_was_read_and_says_where_it_stopped(recording, tmp_path, capsys):
    data = recording.read_bytes()
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(data[: len(data) // 2])
    timeline = tmp_path / "t.csv"
    code = main(["analyze", str(broken), "--timeline", str(timeline)])
    err = capsys.readouterr().err
    assert code == 2
    assert "broken.csv.gz" in err and "truncated" in err and "Traceback" not in err
    rows = read_csv(timeline)
    assert 100 < len(rows) < 200  # about half of the 300 s


def test_every_flag_has_help():
    import argparse

    def check(parser: argparse.ArgumentParser) -> None:
        for flag in parser._actions:
            assert flag.help, f"{parser.prog} {flag.option_strings} has no help"
            if isinstance(flag, argparse._SubParsersAction):
                for sub in flag.choices.values():
                    check(sub)

    check(build_parser())


def test_the_console_script_runs_as_a_subprocess(recording, tmp_path):
    timeline = tmp_path / "tl.csv"
    proc = subprocess.run(
        [sys.executable, "-m", "hipsense", "analyze", str(recording), "--timeline", str(timeline)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(read_csv(timeline)) == 300


def test_replay_writes_the_history_store_and_report_reads_it(recording, tmp_path, capsys):
    db = tmp_path / "history.sqlite3"
    assert main(["replay", str(recording), "--fast", "--store", str(db)]) == 0
    out = tmp_path / "day.html"
    assert main(["report", "--day", "2026-01-05", "--store", str(db), "--out", str(out)]) == 0
    html = out.read_text()
    assert html.count('data-plot="') >= 5
    import sqlite3

    with sqlite3.connect(db) as conn:
        (epochs,) = conn.execute("SELECT COUNT(*) FROM epochs").fetchone()
        (sitting,) = conn.execute("SELECT sitting_s FROM days WHERE day = '2026-01-05'").fetchone()
    assert epochs == 300
    # The live path calibrates itself causally from the first walk, so the first seconds of the sit may be lost.
    assert 130 <= sitting <= 156


def test_history_export_and_prune(recording, tmp_path, capsys):
    db = tmp_path / "history.sqlite3"
    assert (
        main(
            ["analyze", str(recording), "--neutral", "2:18", "--timeline", str(tmp_path / "t.csv"), "--store", str(db)]
        )
        == 0
    )
    out = tmp_path / "days.csv"
    assert main(["history", "--store", str(db), "export", "--table", "days", "--out", str(out)]) == 0
    rows = read_csv(out)
    assert [r["day"] for r in rows] == ["2026-01-05"]
    assert abs(float(rows[0]["sitting_s"]) - 150) <= 6
    assert main(["history", "--store", str(db), "export", "--table", "epochs", "--from", "2026-01-05"]) == 0
    assert capsys.readouterr().out.count("\n") == 301  # header + one row per second
    # The recording is from 2026: a retention of 1 day (today) deletes its epochs but keeps the day.
    assert main(["history", "--store", str(db), "prune", "--keep-days", "1"]) == 0
    assert "deleted 300 epochs" in capsys.readouterr().err
    assert main(["history", "--store", str(db), "export", "--table", "days", "--out", str(out)]) == 0
    assert len(read_csv(out)) == 1
    assert main(["history", "--store", str(db), "export", "--from", "5 Jan"]) == 2
    assert "--from '5 Jan' is not a date" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "verbose", "quiet"),
    [
        (["config"], 0, 0),
        (["-v", "config"], 1, 0),
        (["config", "-v", "-v"], 2, 0),
        (["-q", "config"], 0, 1),
        (["config", "--quiet"], 0, 1),
        (["-v", "config"], 1, 0),
    ],
)
def test_log_flags_are_accepted_before_and_after_the_sub_command(argv, verbose, quiet):
    args = build_parser().parse_args(argv)
    assert (args.verbose, args.quiet) == (verbose, quiet)
