"""The history store: round trip, merging and replacing runs, migrations from old versions, retention, CSV."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from hipsense.store import MIGRATIONS, SCHEMA_VERSION, HistoryStore, migrate, schema_version
from processing.activity import ACTIVITIES
from processing.alerts import Alert
from processing.bouts import Bout
from processing.clock import LocalClock
from processing.errors import ConfigError, HipsenseError
from processing.pipeline import Epochs

TZ = timezone(timedelta(hours=1))
START = datetime(2026, 1, 5, 23, 0, tzinfo=TZ)  # one hour before midnight: a run crosses into the next day


def make_epochs(n: int, t0: float = 0.0, pattern: tuple[str, ...] = ("sitting", "standing")) -> Epochs:
    t = t0 + np.arange(n, dtype=float)
    codes = [ACTIVITIES.index(pattern[(i // 60) % len(pattern)]) for i in range(n)]
    activity = np.array(codes, dtype=np.int8)
    tilt = np.where(activity == ACTIVITIES.index("standing"), 12.0, -20.0)
    tilt[:5] = np.nan
    calibrated = ~np.isnan(tilt)
    return Epochs(t, activity, tilt, tilt / 4, calibrated, np.zeros(n), np.zeros(n))


def alert(t: float, clock: LocalClock) -> Alert:
    return Alert(f"a{t:.0f}", "prolonged_sitting", t, clock.local(t), "Stand up.", {"bout_s": 1800.0})


def test_round_trip_across_midnight(tmp_path: Path) -> None:
    clock = LocalClock(START)
    epochs = make_epochs(7200)  # 23:00 -> 01:00
    bouts = [Bout(0.0, 60.0, 60.0, 0), Bout(3600.0, 3660.0, 60.0, 0)]
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        days = store.add_run(epochs=epochs, clock=clock, bouts=bouts, alerts=[alert(100.0, clock)])
        assert days == {date(2026, 1, 5), date(2026, 1, 6)}
    with HistoryStore(tmp_path / "h.sqlite3") as store:  # survives a restart
        first, second = store.days()
        assert first.day == date(2026, 1, 5) and second.day == date(2026, 1, 6)
        assert first.sitting_s == 1800 and first.standing_s == 1800
        assert first.anterior_tilt_standing_s == 1800  # standing at 12° >= 10°
        assert first.bouts == 1 and first.alerts == 1 and second.alerts == 0
        day = store.day_epochs(date(2026, 1, 6))
        assert len(day.sod) == 3600 and day.sod[0] == 0.0 and day.sod[-1] == 3599.0
        assert [ACTIVITIES[a] for a in day.activity[:2]] == ["sitting", "sitting"]
        first_day = store.day_epochs(date(2026, 1, 5))
        assert first_day.sod[0] == 23 * 3600 and np.isnan(first_day.tilt_deg[:5]).all()
        assert first_day.tilt_deg[5] == -20.0
        (b,) = store.day_bouts(date(2026, 1, 6))
        assert b.start_sod == 0.0 and b.duration_s == 60.0
        assert store.day_alerts(date(2026, 1, 5)) == [("2026-01-05T23:01:40+01:00", "prolonged_sitting", "Stand up.")]


def test_two_runs_of_a_day_add_up_and_a_reanalysis_replaces(tmp_path: Path) -> None:
    clock = LocalClock(datetime(2026, 1, 5, 8, 0, tzinfo=TZ))
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        store.add_run(epochs=make_epochs(600), clock=clock)
        store.add_run(epochs=make_epochs(600, t0=3600.0), clock=clock)
        (day,) = store.days()
        assert day.worn_s == 1200
        store.add_run(epochs=make_epochs(600, t0=3600.0, pattern=("walking",)), clock=clock)
        (day,) = store.days()
        assert day.worn_s == 1200 and day.walking_s == 600 and day.sitting_s == 300


def test_migrates_an_old_store_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute(
        "INSERT INTO epochs VALUES (1767600000, '2026-01-05T09:00:00+01:00', '2026-01-05', 32400, 'sitting', "
        "-20.0, 0.0, 1)"
    )
    conn.execute(
        "INSERT INTO bouts VALUES (1767600000, 1767603600, '2026-01-05T09:00:00+01:00', '2026-01-05', 32400, "
        "3600, 3600, 0)"
    )
    conn.close()
    with HistoryStore(path) as store:
        assert store.version == SCHEMA_VERSION == len(MIGRATIONS)
        (day,) = store.days()
        assert day.sitting_s == 1 and day.longest_bout_s == 3600 and day.bouts == 1 and day.exercise_s == 0
        assert len(store.day_epochs(date(2026, 1, 5)).sod) == 1
    conn = sqlite3.connect(path)
    assert schema_version(conn) == SCHEMA_VERSION
    conn.close()


def test_a_store_from_a_newer_hipsense_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn)
    conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(HipsenseError, match="newer"):
        HistoryStore(path)


def test_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(HipsenseError, match="cannot open the history store"):
        HistoryStore(path)


def test_retention_deletes_old_epochs_and_keeps_summaries(tmp_path: Path) -> None:
    clock = LocalClock(datetime(2026, 1, 1, 8, 0, tzinfo=TZ))
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        for d in range(5):
            store.add_run(epochs=make_epochs(120, t0=d * 86400.0), clock=clock)
        deleted = store.prune(keep_days=2, today=date(2026, 1, 5))
        assert deleted == 3 * 120
        assert [len(store.day_epochs(date(2026, 1, d)).sod) for d in range(1, 6)] == [0, 0, 0, 120, 120]
        assert [d.worn_s for d in store.days()] == [120] * 5
        with pytest.raises(ConfigError):
            store.prune(keep_days=0, today=date(2026, 1, 5))


def test_csv_export(tmp_path: Path) -> None:
    clock = LocalClock(START)
    with HistoryStore(tmp_path / "h.sqlite3") as store:
        store.add_run(epochs=make_epochs(7200), clock=clock, alerts=[alert(5.0, clock)])
        fh = io.StringIO()
        n = store.export_csv(fh, "epochs", first=date(2026, 1, 6))
        rows = list(csv.DictReader(io.StringIO(fh.getvalue())))
        assert n == len(rows) == 3600
        assert rows[0]["local"] == "2026-01-06T00:00:00+01:00" and rows[0]["activity"] == "sitting"
        fh = io.StringIO()
        store.export_csv(fh, "epochs")
        first = next(csv.DictReader(io.StringIO(fh.getvalue())))
        assert first["tilt_deg"] == "" and first["calibrated"] == "0"
        fh = io.StringIO()
        assert store.export_csv(fh, "days") == 2
        assert fh.getvalue().splitlines()[0].startswith("day,unknown_s,sitting_s")
        fh = io.StringIO()
        assert store.export_csv(fh, "alerts") == 1 and '"{""bout_s"": 1800.0}"' in fh.getvalue()
        with pytest.raises(ConfigError):
            store.export_csv(io.StringIO(), "sqlite_master")
