"""``hipsense assess`` (posture check-up) and ``hipsense exercise`` (the exercise log), with their store tables."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from hipsense import cli
from hipsense.calstore import save_calibration
from hipsense.commands.assess import GUIDED_SCENARIO
from hipsense.store import MIGRATIONS, HistoryStore, migrate
from processing.assess import timeline
from processing.calibration import Calibration
from processing.clock import LocalClock
from processing.exercise import ExerciseBout
from sensor.recording import RecordingWriter
from sensor.simulate import SensorModel, parse_scenario, simulate

pytestmark = pytest.mark.usefixtures("home")


def _checkup(path: Path, spec: str, *, seed: int, start: str = "2026-03-02T09:00:00+01:00") -> Path:
    samples, _ = simulate(parse_scenario(spec), SensorModel.ideal(rate_hz=50, mounting_deg="random"), seed=seed)
    with RecordingWriter(path, metadata={"start": start, "device": "belt", "rate_hz": "50"}) as w:
        w.write(samples)
    return path


WEEK_1 = "stand 20 tilt=0, stand 15 tilt=12, stand 15 tilt=-10, sit 30 tilt=-20, stand 20 tilt=0"
WEEK_3 = "stand 20 tilt=0, stand 15 tilt=16, stand 15 tilt=-14, sit 30 tilt=-18, stand 20 tilt=0"


def test_a_simulated_checkup_measures_the_range_of_motion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = _checkup(tmp_path / "w1.csv", WEEK_1, seed=3)
    db = tmp_path / "h.sqlite3"
    assert cli.main(["assess", str(rec), "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert "first check-up" in out
    with HistoryStore(db) as store:
        (a,) = store.assessments()
    assert a.anterior_max_deg == pytest.approx(12.0, abs=1.5)
    assert a.posterior_max_deg == pytest.approx(-10.0, abs=1.5)
    assert a.range_deg == pytest.approx(22.0, abs=2.5)
    assert a.sitting_deg is not None and a.sitting_deg == pytest.approx(-20.0, abs=3.0)
    assert a.sit_to_stand_s is not None and 0.0 <= a.sit_to_stand_s <= 4.0
    assert a.neutral_deg is None  # no stored calibration for this wearer
    assert a.time.isoformat() == "2026-03-02T09:00:00+01:00"
    assert "range of motion 2" in out


def test_the_second_checkup_shows_the_change(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    first = _checkup(tmp_path / "w1.csv", WEEK_1, seed=3)
    later = _checkup(tmp_path / "w3.csv", WEEK_3, seed=4, start="2026-03-16T09:00:00+01:00")
    assert cli.main(["assess", str(first), "--store", str(db)]) == 0
    capsys.readouterr()
    assert cli.main(["assess", str(later), "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert "since the last check-up (2026-03-02): range +" in out
    with HistoryStore(db) as store:
        a, b = store.assessments()
    assert b.range_deg - a.range_deg == pytest.approx(8.0, abs=3.0)


def test_windows_by_flag_and_an_offset_timeline(tmp_path: Path) -> None:
    spec = "walk 30, " + WEEK_1
    rec = _checkup(tmp_path / "late.csv", spec, seed=5)
    db = tmp_path / "h.sqlite3"
    assert cli.main(["assess", str(rec), "--at", "30", "--store", str(db)]) == 0
    # the phases by hand (a shorter anterior window), not stored
    windows = [
        "--neutral",
        "30:50",
        "--anterior",
        "52:64",
        "--posterior",
        "65:80",
        "--sit",
        "80:110",
        "--stand",
        "110:130",
    ]
    assert cli.main(["assess", str(rec), "--store", str(db), "--no-save", *windows]) == 0
    with HistoryStore(db) as store:
        (a,) = store.assessments()
    assert a.anterior_max_deg == pytest.approx(12.0, abs=1.5)
    assert a.time.isoformat() == "2026-03-02T09:00:30+01:00"


def test_neutral_is_compared_with_the_stored_calibration(tmp_path: Path) -> None:
    # the wearer's stored neutral: the sensor aligned with the pelvis (an ideal sensor, no mounting rotation)
    save_calibration(Calibration(np.eye(3), "guided", "sitting"), wearer="me", device="belt", source="test")
    samples, _ = simulate(
        parse_scenario(WEEK_1.replace("stand 20 tilt=0", "stand 20 tilt=4", 1)),
        seed=6,
        sensor=SensorModel.ideal(rate_hz=50),
    )
    rec = tmp_path / "c.csv"
    with RecordingWriter(rec, metadata={"device": "belt", "rate_hz": "50"}) as w:
        w.write(samples)
    db = tmp_path / "h.sqlite3"
    assert cli.main(["assess", str(rec), "--store", str(db)]) == 0
    with HistoryStore(db) as store:
        (a,) = store.assessments()
    assert a.neutral_deg == pytest.approx(4.0, abs=1.0)


def test_a_recording_too_short_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rec = _checkup(tmp_path / "short.csv", "stand 20, stand 15 tilt=12", seed=1)
    assert cli.main(["assess", str(rec), "--store", str(tmp_path / "h.sqlite3")]) == 2
    err = capsys.readouterr().err
    assert "short.csv: the check-up runs to 100 s but the recording ends at 35 s" in err


def test_live_checkup_on_a_virtual_wearer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "h.sqlite3"
    argv = ["assess", "--live", "--virtual", "--speed", "25", "--profile", "hipsense", "--seed", "2"]
    assert cli.main([*argv, "--store", str(db)]) == 0
    captured = capsys.readouterr()
    for i in range(1, 6):
        assert f"{i}/5  " in captured.err
    with HistoryStore(db) as store:
        (a,) = store.assessments()
    assert a.source == "live"
    assert a.anterior_max_deg == pytest.approx(15.0, abs=3.0) and a.posterior_max_deg == pytest.approx(-15.0, abs=3.0)
    assert "stand 15 tilt=15, stand 15 tilt=-15" in GUIDED_SCENARIO


def test_timeline_matches_the_brief() -> None:
    assert timeline(10.0) == {
        "neutral": (10.0, 30.0),
        "anterior": (30.0, 45.0),
        "posterior": (45.0, 60.0),
        "sit": (60.0, 90.0),
        "stand": (90.0, 110.0),
    }


# -- the exercise log --------------------------------------------------------------------------------------


def test_exercise_add_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "h.sqlite3")
    assert cli.main(["exercise", "add", "--minutes", "20", "--day", "2026-03-02", "--what", "swim", "--store", db]) == 0
    assert cli.main(["exercise", "add", "--minutes", "5.5", "--day", "2026-03-02", "--store", db]) == 0
    assert "exercise that day 26 min" in capsys.readouterr().out
    with HistoryStore(Path(db)) as store:
        # a detected bout joins the log; logging it again (a re-analysis) replaces it
        for _ in range(2):
            total = store.add_exercise(date(2026, 3, 2), 90.0, what="pelvic tilts", source="detected", start_ts=1e9)
        assert total == pytest.approx(20 * 60 + 5.5 * 60 + 90)
        (day,) = store.days()
        assert day.exercise_s == pytest.approx(total)
    assert cli.main(["exercise", "show", "--day", "2026-03-02", "--store", db]) == 0
    out = capsys.readouterr().out
    assert "20.0 min  swim  (manual)" in out and "pelvic tilts  (detected)" in out and "27 min in all" in out


def test_detected_bouts_go_to_their_local_day(tmp_path: Path) -> None:
    clock = LocalClock(datetime(2026, 3, 2, 23, 0, tzinfo=timezone(timedelta(hours=1))), None)
    bouts = [ExerciseBout(600.0, 690.0, 18.0, 15.0, 0.2), ExerciseBout(3900.0, 3960.0, 12.0, 15.0, 0.2)]
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        for _ in range(2):  # analysed twice: the same bouts
            assert store.add_detected_exercise(bouts, clock) == {date(2026, 3, 2), date(2026, 3, 3)}
        assert [(d.day, d.exercise_s) for d in store.days()] == [(date(2026, 3, 2), 90.0), (date(2026, 3, 3), 60.0)]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--minutes", "0"], "--minutes 0: give the minutes exercised"),
        (["--minutes", "10", "--day", "2026-13-01"], "--day '2026-13-01': not a date"),
    ],
)
def test_exercise_errors(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["exercise", "add", *argv, "--store", str(tmp_path / "h.sqlite3")]) == 2
    assert message in capsys.readouterr().err


def test_migration_4_keeps_the_days_and_adds_the_tables(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / "old.sqlite3", isolation_level=None)
    assert migrate(conn, target=3) == 3
    conn.execute("INSERT INTO days VALUES ('2026-03-01', 0, 3600, 0, 0, 0, 0, 3600, 1, 0, 600)")
    conn.close()
    with HistoryStore(tmp_path / "old.sqlite3") as store:
        assert store.version == len(MIGRATIONS) >= 4
        (day,) = store.days()
        assert day.sitting_s == 3600 and day.exercise_s == 600
        assert store.assessments() == [] and store.exercise_log(date(2026, 3, 1)) == []
