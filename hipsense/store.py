"""The history store: 1 s epochs, sitting bouts, alerts and day summaries in SQLite (WAL).

One file, by default ``data_dir() / "history.sqlite3"``. Times are stored twice: ``ts`` is absolute (Unix
seconds, UTC) so that recordings of the same day merge and a re-analysis replaces its rows; ``local`` (ISO 8601
with offset), ``day`` (local date) and ``sod`` (seconds since local midnight, wall clock) are for days and plots.

Day summaries are recomputed from the stored epochs of a day whenever epochs of that day are written, so two
recordings of one day add up. :meth:`HistoryStore.prune` deletes old epochs but keeps the summaries, which is
what the week view and the goals read.

The schema is versioned: ``schema_version`` holds the version, :data:`MIGRATIONS` the steps; opening a store
brings it up to date in one transaction per step.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

import numpy as np

from hipsense.config import data_dir, load_config
from hipsense.private import private_dir, private_file, storage_error
from processing.activity import ACTIVITIES
from processing.alerts import Alert
from processing.bouts import Bout
from processing.clock import LocalClock
from processing.days import DayParams, summarize_day
from processing.errors import ConfigError, HipsenseError
from processing.exercise import ExerciseBout
from processing.pipeline import DayTotals, Epochs
from processing.samples import FloatArray

#: Schema steps; step i brings the schema from version i to i + 1.
MIGRATIONS: tuple[str, ...] = (
    # 1: epochs, bouts and alerts.
    """
    CREATE TABLE epochs (
        ts REAL PRIMARY KEY, local TEXT NOT NULL, day TEXT NOT NULL, sod REAL NOT NULL,
        activity TEXT NOT NULL, tilt_deg REAL, obliquity_deg REAL, calibrated INTEGER NOT NULL
    );
    CREATE TABLE bouts (
        start_ts REAL PRIMARY KEY, end_ts REAL NOT NULL, start_local TEXT NOT NULL, day TEXT NOT NULL,
        start_sod REAL NOT NULL, duration_s REAL NOT NULL, sitting_s REAL NOT NULL, breaks INTEGER NOT NULL
    );
    CREATE TABLE alerts (
        id TEXT PRIMARY KEY, event_type TEXT NOT NULL, ts REAL NOT NULL, time TEXT NOT NULL, day TEXT NOT NULL,
        message TEXT NOT NULL, fields TEXT NOT NULL
    );
    """,
    # 2: day summaries (kept when old epochs are pruned) and an index for reading a day.
    """
    CREATE INDEX epochs_day ON epochs(day);
    CREATE TABLE days (
        day TEXT PRIMARY KEY, unknown_s REAL NOT NULL, sitting_s REAL NOT NULL, standing_s REAL NOT NULL,
        walking_s REAL NOT NULL, lying_s REAL NOT NULL, anterior_tilt_standing_s REAL NOT NULL,
        longest_bout_s REAL NOT NULL, bouts INTEGER NOT NULL, alerts INTEGER NOT NULL
    );
    INSERT INTO days
        SELECT e.day,
            SUM(e.activity = 'unknown'), SUM(e.activity = 'sitting'), SUM(e.activity = 'standing'),
            SUM(e.activity = 'walking'), SUM(e.activity = 'lying'), 0,
            COALESCE((SELECT MAX(b.duration_s) FROM bouts b WHERE b.day = e.day), 0),
            (SELECT COUNT(*) FROM bouts b WHERE b.day = e.day),
            (SELECT COUNT(*) FROM alerts a WHERE a.day = e.day)
        FROM epochs e GROUP BY e.day;
    """,
    # 3: exercise minutes per day (the exercise log fills it; 0 until then).
    """
    ALTER TABLE days ADD COLUMN exercise_s REAL NOT NULL DEFAULT 0;
    """,
    # 4: the exercise log (detected bouts and entries by hand; days.exercise_s is their sum) and the check-ups
    # of ``hipsense assess``.
    """
    CREATE TABLE exercise (
        id INTEGER PRIMARY KEY, day TEXT NOT NULL, start_ts REAL, duration_s REAL NOT NULL, what TEXT NOT NULL,
        source TEXT NOT NULL, UNIQUE (source, start_ts)
    );
    CREATE INDEX exercise_day ON exercise(day);
    CREATE TABLE assessments (
        ts REAL PRIMARY KEY, local TEXT NOT NULL, day TEXT NOT NULL, source TEXT NOT NULL,
        neutral_deg REAL, anterior_max_deg REAL NOT NULL, posterior_max_deg REAL NOT NULL, range_deg REAL NOT NULL,
        sitting_deg REAL, sit_to_stand_s REAL
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

DAY_FIELDS = (
    "day",
    "unknown_s",
    "sitting_s",
    "standing_s",
    "walking_s",
    "lying_s",
    "anterior_tilt_standing_s",
    "longest_bout_s",
    "bouts",
    "alerts",
    "exercise_s",
)
EPOCH_FIELDS = ("ts", "local", "day", "sod", "activity", "tilt_deg", "obliquity_deg", "calibrated")


def default_path() -> Path:
    """``[store] path`` from the config, else history.sqlite3 in the data folder."""
    configured = load_config().store.path
    return Path(configured).expanduser() if configured else data_dir() / "history.sqlite3"


@dataclass(frozen=True)
class DaySummary:
    """One local day's totals, seconds. ``bouts``: sitting bouts that started that day."""

    day: date
    unknown_s: float
    sitting_s: float
    standing_s: float
    walking_s: float
    lying_s: float
    anterior_tilt_standing_s: float
    longest_bout_s: float
    bouts: int
    alerts: int
    exercise_s: float = 0.0

    @property
    def worn_s(self) -> float:
        return self.sitting_s + self.standing_s + self.walking_s + self.lying_s


@dataclass(frozen=True)
class DayEpochs:
    """A day's stored epochs. sod: (m,) seconds since local midnight; activity: (m,) int8 codes into
    ACTIVITIES; tilt_deg: (m,) degrees, anterior positive, NaN where undefined."""

    day: date
    sod: FloatArray
    activity: np.ndarray[tuple[int], np.dtype[np.int8]]
    tilt_deg: FloatArray


@dataclass(frozen=True)
class StoredBout:
    day: date
    start_sod: float
    duration_s: float
    sitting_s: float
    breaks: int


@dataclass(frozen=True)
class Assessment:
    """One posture check-up (``hipsense assess``). Angles in degrees, pelvic tilt, anterior positive.

    time: when it was done (aware). source: the recording, or ``live``. neutral_deg: the check-up's neutral
    standing relative to the wearer's stored calibration (None without one: the check-up calibrated itself).
    anterior_max_deg, posterior_max_deg: the furthest tilt forward and back from the check-up's own neutral
    (posterior negative); range_deg: their difference. sitting_deg: median tilt while sitting.
    sit_to_stand_s: s from the prompt to stand until standing still near neutral (None if not seen).
    """

    time: datetime
    source: str
    neutral_deg: float | None
    anterior_max_deg: float
    posterior_max_deg: float
    range_deg: float
    sitting_deg: float | None
    sit_to_stand_s: float | None


ASSESSMENT_FIELDS = (
    "neutral_deg",
    "anterior_max_deg",
    "posterior_max_deg",
    "range_deg",
    "sitting_deg",
    "sit_to_stand_s",
)


def schema_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing steps up to ``target``, each in its own transaction; returns the version reached."""
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise HipsenseError(
            f"history store schema version {version} is newer than this hipsense knows ({SCHEMA_VERSION})",
            hint="upgrade hipsense, or point the store at another file",
        )
    while version < target:
        script = MIGRATIONS[version]
        statements = [s.strip() for s in script.split(";\n") if s.strip()]
        with conn:  # one transaction: a failed step leaves the previous version intact
            conn.execute("BEGIN")
            for statement in statements:
                conn.execute(statement)
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
        version += 1
    return version


class HistoryStore:
    """The SQLite history, a context manager. ``path``: the file (default :func:`default_path`).

    >>> import tempfile, pathlib
    >>> with HistoryStore(pathlib.Path(tempfile.mkdtemp()) / "h.sqlite3") as store:
    ...     store.version
    4
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        try:
            # Health data: the file (and its -wal/-shm) 0600; hipsense's own data folder 0700.
            private_dir(self.path.parent, tighten=self.path.parent == data_dir())
            private_file(self.path)
            # isolation_level=None: transactions are explicit (``with self.conn``), DDL included.
            self.conn = sqlite3.connect(self.path, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.version = migrate(self.conn)
        except sqlite3.DatabaseError as exc:
            raise HipsenseError(
                f"{self.path}: cannot open the history store: {exc}",
                hint="check the file is a hipsense history (SQLite) and the folder is writable",
            ) from exc
        except OSError as exc:
            raise HipsenseError(
                f"{self.path}: cannot open the history store: {exc.strerror or exc}",
                hint="check [store] path: its folder must be a folder you can write",
            ) from exc

    @contextmanager
    def _writing(self, action: str) -> Iterator[None]:
        """One write transaction; a full disk or a read-only file becomes a one-line StorageError (the
        transaction is rolled back, everything written before stays)."""
        try:
            with self.conn:
                yield
        except (sqlite3.OperationalError, OSError) as exc:
            if self.conn.in_transaction:  # a failed COMMIT leaves it open
                with suppress(sqlite3.Error):
                    self.conn.rollback()
            raise storage_error(self.path, action, exc) from exc

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------------------

    def add_run(
        self,
        *,
        epochs: Epochs,
        clock: LocalClock,
        bouts: Sequence[Bout] = (),
        alerts: Sequence[Alert] = (),
        anterior_tilt_deg: float = 10.0,
        refresh: bool = True,
        states: Mapping[str, tuple[dict[str, Any], float]] | None = None,
    ) -> set[date]:
        """Store one run's epochs, bouts and alerts and refresh the summaries of the days they touch.

        Rows already there for the same times (a re-analysis) are replaced. Returns the days touched.
        ``anterior_tilt_deg``: the tilt from which standing counts as anterior (the alert threshold).
        ``refresh=False`` leaves the day summaries for a later :meth:`refresh_days` (a live run writes every
        second; recounting a whole day each time would cost far more than the write).
        ``states``: documents to keep as :meth:`save_state` does (key: (document, ts)), in the same transaction,
        so that e.g. the alert rules' state is never older or newer than the epochs and alerts stored with it.
        """
        if states:
            self._state_table()
        start = clock.start.timestamp()
        touched: set[date] = set()
        names = np.asarray(ACTIVITIES)[epochs.activity].tolist()
        rows = []
        for i, t in enumerate(epochs.t.tolist()):
            local = clock.local(t)
            day = local.date()
            touched.add(day)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            sod = (local.replace(tzinfo=None) - midnight.replace(tzinfo=None)).total_seconds()
            tilt = float(epochs.tilt_deg[i])
            obl = float(epochs.obliquity_deg[i])
            rows.append(
                (
                    round(start + t, 3),
                    local.isoformat(timespec="seconds"),
                    day.isoformat(),
                    sod,
                    names[i],
                    None if np.isnan(tilt) else tilt,
                    None if np.isnan(obl) else obl,
                    int(epochs.calibrated[i]),
                )
            )
        bout_rows = []
        for b in bouts:
            local = clock.local(b.start_s)
            day = local.date()
            touched.add(day)
            sod = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
            bout_rows.append(
                (
                    round(start + b.start_s, 3),
                    round(start + b.end_s, 3),
                    local.isoformat(timespec="seconds"),
                    day.isoformat(),
                    sod,
                    b.duration_s,
                    b.sitting_s,
                    b.breaks,
                )
            )
        alert_rows = []
        for a in alerts:
            day = a.time.date()
            touched.add(day)
            alert_rows.append(
                (
                    a.id,
                    a.event_type,
                    round(start + a.t, 3),
                    a.time.isoformat(timespec="seconds"),
                    day.isoformat(),
                    a.message,
                    json.dumps(a.fields, default=str, sort_keys=True),
                )
            )
        with self._writing("store the run's history"):
            self.conn.execute("BEGIN")
            self.conn.executemany(f"INSERT OR REPLACE INTO epochs VALUES ({','.join('?' * 8)})", rows)
            self.conn.executemany(f"INSERT OR REPLACE INTO bouts VALUES ({','.join('?' * 8)})", bout_rows)
            self.conn.executemany(f"INSERT OR REPLACE INTO alerts VALUES ({','.join('?' * 7)})", alert_rows)
            for key, (document, ts) in (states or {}).items():
                self.conn.execute(
                    "INSERT OR REPLACE INTO runtime_state VALUES (?, ?, ?)", (key, json.dumps(document), float(ts))
                )
            for day in touched if refresh else ():
                self._refresh_day(day, anterior_tilt_deg)
        return touched

    def refresh_days(self, days: Iterable[date], *, anterior_tilt_deg: float = 10.0) -> None:
        """Recompute the summaries of ``days`` from their stored epochs (after ``add_run(refresh=False)``)."""
        with self.conn:
            self.conn.execute("BEGIN")
            for day in sorted(set(days)):
                self._refresh_day(day, anterior_tilt_deg)

    def _refresh_day(self, day: date, anterior_tilt_deg: float) -> None:
        d = day.isoformat()
        # The day's figures come from processing.days, as in analyze --summary and batch.
        rows = self.conn.execute("SELECT activity, tilt_deg FROM epochs WHERE day = ?", (d,)).fetchall()
        names, tilts = (list(c) for c in zip(*rows, strict=True)) if rows else ([], [])
        code = {name: i for i, name in enumerate(ACTIVITIES)}
        bouts = [float(r[0]) for r in self.conn.execute("SELECT duration_s FROM bouts WHERE day = ?", (d,))]
        stats = summarize_day(
            day,
            length_s=86400.0,
            activity=np.array([code.get(n, 0) for n in names], dtype=np.int8),
            tilt_deg=np.array(tilts, dtype=float),
            bouts_s=bouts,
            params=DayParams(anterior_tilt_deg=anterior_tilt_deg),
        )
        (n_alerts,) = self.conn.execute("SELECT COUNT(*) FROM alerts WHERE day = ?", (d,)).fetchone()
        old = self.conn.execute("SELECT exercise_s FROM days WHERE day = ?", (d,)).fetchone()
        self.conn.execute(
            f"INSERT OR REPLACE INTO days ({','.join(DAY_FIELDS)}) VALUES ({','.join('?' * len(DAY_FIELDS))})",
            (
                d,
                *(getattr(stats, f"{name}_s") for name in ACTIVITIES),
                stats.anterior_tilt_standing_s,
                stats.longest_bout_s,
                stats.bouts,
                int(n_alerts),
                0.0 if old is None else float(old[0]),
            ),
        )

    def set_exercise(self, day: date, exercise_s: float) -> None:
        """Set a day's exercise seconds (detected drills or logged by hand)."""
        with self._writing("store exercise"):
            self.conn.execute("BEGIN")
            self.conn.execute(
                "INSERT OR IGNORE INTO days (day, unknown_s, sitting_s, standing_s, walking_s, lying_s, "
                "anterior_tilt_standing_s, longest_bout_s, bouts, alerts) VALUES (?, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
                (day.isoformat(),),
            )
            self.conn.execute("UPDATE days SET exercise_s = ? WHERE day = ?", (exercise_s, day.isoformat()))

    def add_exercise(
        self, day: date, duration_s: float, *, what: str, source: str = "manual", start_ts: float | None = None
    ) -> float:
        """Log exercise on ``day``: ``duration_s`` s of ``what``. ``source``: ``manual`` (by hand) or
        ``detected``; a detected bout has its ``start_ts`` (Unix s), and logging it again replaces it.
        Sets the day's ``exercise_s`` to the sum of its log (overriding a value from :meth:`set_exercise`) and
        returns it."""
        if not (duration_s > 0 and duration_s < 86400):
            raise ConfigError(f"exercise of {duration_s:g} s: give a duration between 0 and 24 h")
        d = day.isoformat()
        with self._writing("store exercise"):
            self.conn.execute("BEGIN")
            self.conn.execute(
                "INSERT OR REPLACE INTO exercise (day, start_ts, duration_s, what, source) VALUES (?, ?, ?, ?, ?)",
                (d, start_ts, float(duration_s), what, source),
            )
            (total,) = self.conn.execute("SELECT SUM(duration_s) FROM exercise WHERE day = ?", (d,)).fetchone()
            self.conn.execute(
                "INSERT OR IGNORE INTO days (day, unknown_s, sitting_s, standing_s, walking_s, lying_s, "
                "anterior_tilt_standing_s, longest_bout_s, bouts, alerts) VALUES (?, 0, 0, 0, 0, 0, 0, 0, 0, 0)",
                (d,),
            )
            self.conn.execute("UPDATE days SET exercise_s = ? WHERE day = ?", (float(total), d))
        return float(total)

    def add_detected_exercise(self, bouts: Iterable[ExerciseBout], clock: LocalClock) -> set[date]:
        """Log the pipeline's detected exercise bouts (pelvic-tilt drills, glute bridges) on the local day each
        starts; a re-analysis replaces them. Returns the days touched."""
        touched = set()
        for b in bouts:
            day = clock.day(b.start_s)
            touched.add(day)
            start_ts = round(clock.start.timestamp() + b.start_s, 3)
            self.add_exercise(day, b.duration_s, what="pelvic-tilt drill", source="detected", start_ts=start_ts)
        return touched

    def exercise_log(self, day: date) -> list[tuple[float, str, str]]:
        """(duration_s, what, source) of a day's logged exercise, in the order logged."""
        rows = self.conn.execute(
            "SELECT duration_s, what, source FROM exercise WHERE day = ? ORDER BY id", (day.isoformat(),)
        )
        return [(float(r[0]), str(r[1]), str(r[2])) for r in rows]

    def add_assessment(self, a: Assessment) -> None:
        """Store a check-up (one at the same instant replaces it)."""
        if a.time.tzinfo is None:
            raise ValueError("Assessment.time must be aware")
        with self._writing("store the check-up"):
            self.conn.execute("BEGIN")
            self.conn.execute(
                f"INSERT OR REPLACE INTO assessments VALUES ({','.join('?' * (4 + len(ASSESSMENT_FIELDS)))})",
                (
                    round(a.time.timestamp(), 3),
                    a.time.isoformat(timespec="seconds"),
                    a.time.date().isoformat(),
                    a.source,
                    *(getattr(a, name) for name in ASSESSMENT_FIELDS),
                ),
            )

    def assessments(self) -> list[Assessment]:
        """Every stored check-up, oldest first."""
        rows = self.conn.execute(
            f"SELECT local, source, {','.join(ASSESSMENT_FIELDS)} FROM assessments ORDER BY ts"
        ).fetchall()
        return [Assessment(datetime.fromisoformat(r[0]), r[1], *r[2:]) for r in rows]

    def prune(self, *, keep_days: int, today: date) -> int:
        """Delete epochs of days before ``today - keep_days + 1`` (keep ``keep_days`` days, today included).

        Day summaries, bouts and alerts stay. Returns the number of epochs deleted.
        """
        if keep_days < 1:
            raise ConfigError(f"retention of {keep_days} days: keep at least 1 day")
        first_kept = (today - timedelta(days=keep_days - 1)).isoformat()
        with self._writing("prune old epochs"):
            self.conn.execute("BEGIN")
            cur = self.conn.execute("DELETE FROM epochs WHERE day < ?", (first_kept,))
        return cur.rowcount

    def prune_out_of_range(self, *, today: date) -> int:
        """Delete rows of every table dated outside :func:`sane_days` (a wrong clock, or a message from before
        days were checked). Returns the number of rows deleted."""
        first, last = sane_days(today)
        deleted = 0
        with self._writing("delete rows out of range"):
            self.conn.execute("BEGIN")
            for table in ("epochs", "bouts", "alerts", "days", "exercise", "assessments"):
                cur = self.conn.execute(
                    f"DELETE FROM {table} WHERE day < ? OR day > ?", (first.isoformat(), last.isoformat())
                )
                deleted += cur.rowcount
        return deleted

    # -- reading ---------------------------------------------------------------------------------------------

    def days(self, first: date | None = None, last: date | None = None) -> list[DaySummary]:
        """Day summaries from ``first`` to ``last`` (inclusive; None: open), oldest first."""
        rows = self.conn.execute(
            f"SELECT {','.join(DAY_FIELDS)} FROM days WHERE day >= ? AND day <= ? ORDER BY day",
            ((first or date.min).isoformat(), (last or date.max).isoformat()),
        ).fetchall()
        return [DaySummary(date.fromisoformat(r[0]), *r[1:]) for r in rows]

    def day_epochs(self, day: date) -> DayEpochs:
        rows = self.conn.execute(
            "SELECT sod, activity, tilt_deg FROM epochs WHERE day = ? ORDER BY ts", (day.isoformat(),)
        ).fetchall()
        code = {name: i for i, name in enumerate(ACTIVITIES)}
        sod = np.array([r[0] for r in rows], dtype=float)
        activity = np.array([code.get(r[1], 0) for r in rows], dtype=np.int8)
        tilt = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=float)
        return DayEpochs(day, sod, activity, tilt)

    def day_bouts(self, day: date) -> list[StoredBout]:
        rows = self.conn.execute(
            "SELECT start_sod, duration_s, sitting_s, breaks FROM bouts WHERE day = ? ORDER BY start_ts",
            (day.isoformat(),),
        ).fetchall()
        return [StoredBout(day, *r) for r in rows]

    def day_alerts(self, day: date) -> list[tuple[str, str, str]]:
        """(time ISO, event_type, message) of a day's alerts, in order."""
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute(
                "SELECT time, event_type, message FROM alerts WHERE day = ? ORDER BY ts", (day.isoformat(),)
            )
        ]

    # -- restoring a day after a restart (live, replay --store) ---------------------------------------------

    def day_totals_before(self, day: date, before_ts: float, *, anterior_tilt_deg: float = 10.0) -> DayTotals:
        """The local ``day``'s totals from the epochs stored before ``before_ts`` (Unix s): seconds per
        activity, anterior tilt while standing (tilt >= ``anterior_tilt_deg``), and exercise (logged by hand,
        or detected in a bout that started before ``before_ts``). Only earlier epochs count, so replaying a
        stored recording again does not count it twice."""
        d = day.isoformat()
        totals = DayTotals()
        for name, n in self.conn.execute(
            "SELECT activity, COUNT(*) FROM epochs WHERE day = ? AND ts < ? GROUP BY 1", (d, before_ts)
        ):
            if name in totals.seconds:
                totals.seconds[name] = float(n)
        (anterior,) = self.conn.execute(
            "SELECT COUNT(*) FROM epochs WHERE day = ? AND ts < ? AND activity = 'standing' AND tilt_deg >= ?",
            (d, before_ts, anterior_tilt_deg),
        ).fetchone()
        totals.anterior_tilt_standing_s = float(anterior)
        (exercise,) = self.conn.execute(
            "SELECT COALESCE(SUM(duration_s), 0) FROM exercise WHERE day = ? AND (start_ts IS NULL OR start_ts < ?)",
            (d, before_ts),
        ).fetchone()
        totals.exercise_s = float(exercise)
        return totals

    def epoch_activity(
        self, first_ts: float, before_ts: float
    ) -> tuple[FloatArray, np.ndarray[tuple[int], np.dtype[np.int8]]]:
        """(ts, activity) of the stored epochs with ``first_ts <= ts < before_ts`` (Unix s; activity codes into
        ACTIVITIES), in time order; for rebuilding the sitting bout in progress."""
        rows = self.conn.execute(
            "SELECT ts, activity FROM epochs WHERE ts >= ? AND ts < ? ORDER BY ts", (first_ts, before_ts)
        ).fetchall()
        code = {name: i for i, name in enumerate(ACTIVITIES)}
        ts = np.array([r[0] for r in rows], dtype=float)
        activity = np.array([code.get(r[1], 0) for r in rows], dtype=np.int8)
        return ts, activity

    def last_epoch_ts(self) -> float | None:
        """The start (Unix s) of the latest stored epoch, or None."""
        (last,) = self.conn.execute("SELECT MAX(ts) FROM epochs").fetchone()
        return None if last is None else float(last)

    def _state_table(self) -> None:
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS runtime_state (key TEXT PRIMARY KEY, value TEXT NOT NULL, ts REAL NOT NULL)"
        )

    def save_state(self, key: str, document: dict[str, Any], *, ts: float) -> None:
        """Keep a small JSON document (e.g. the alert rules' state of a wearer) under ``key``, as of ``ts``."""
        self._state_table()
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute(
                "INSERT OR REPLACE INTO runtime_state VALUES (?, ?, ?)", (key, json.dumps(document), float(ts))
            )

    def load_state(self, key: str) -> tuple[dict[str, Any], float] | None:
        """The document kept under ``key`` and its ``ts``, or None. A document that is not a JSON object
        raises HipsenseError."""
        self._state_table()
        row = self.conn.execute("SELECT value, ts FROM runtime_state WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            doc = json.loads(row[0])
        except ValueError as exc:
            raise HipsenseError(f"{self.path}: runtime state {key!r} is not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise HipsenseError(f"{self.path}: runtime state {key!r} is not a JSON object")
        return doc, float(row[1])

    def delete_state(self, key: str) -> None:
        self._state_table()
        with self.conn:
            self.conn.execute("BEGIN")
            self.conn.execute("DELETE FROM runtime_state WHERE key = ?", (key,))

    def export_csv(self, fh: TextIO, table: str, *, first: date | None = None, last: date | None = None) -> int:
        """Write ``epochs``, ``bouts``, ``alerts``, ``days``, ``exercise`` or ``assessments`` rows (between two
        days, inclusive) as CSV with a header. Returns the number of rows written."""
        if table not in ("epochs", "bouts", "alerts", "days", "exercise", "assessments"):
            raise ConfigError(
                f"unknown table {table!r}", hint="one of epochs, bouts, alerts, days, exercise, assessments"
            )
        order = {"epochs": "ts", "bouts": "start_ts", "alerts": "ts", "days": "day", "exercise": "id"}.get(table, "ts")
        cur = self.conn.execute(
            f"SELECT * FROM {table} WHERE day >= ? AND day <= ? ORDER BY {order}",
            ((first or date.min).isoformat(), (last or date.max).isoformat()),
        )
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([c[0] for c in cur.description])
        n = 0
        for row in cur:
            writer.writerow([csv_cell(v) for v in row])
            n += 1
        return n


#: First characters that make a spreadsheet read a cell as a formula (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A value for a CSV cell that spreadsheets open: None empty; text that a spreadsheet would run as a
    formula gets a leading ``'`` (numbers stay numbers).

    >>> csv_cell("=HYPERLINK(1)"), csv_cell(-3.5), csv_cell(None)
    ("'=HYPERLINK(1)", -3.5, '')
    """
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


#: The first day hipsense accepts anywhere.
FIRST_DAY = date(1970, 1, 1)


def sane_days(today: date, *, future_days: int = 1) -> tuple[date, date]:
    """The window of days a stored row may have: from :data:`FIRST_DAY` to ``future_days`` after ``today``."""
    return FIRST_DAY, today + timedelta(days=future_days)


def save_run(
    path: Path | None,
    *,
    epochs: Epochs,
    clock: LocalClock,
    bouts: Sequence[Bout] = (),
    alerts: Sequence[Alert] = (),
    anterior_tilt_deg: float = 10.0,
    exercise: Sequence[ExerciseBout] = (),
) -> set[date]:
    """Open the store at ``path`` (None: the default), add one run (:meth:`HistoryStore.add_run`) and its detected
    exercise, close it."""
    with HistoryStore(path) as store:
        days = store.add_run(
            epochs=epochs, clock=clock, bouts=bouts, alerts=alerts, anterior_tilt_deg=anterior_tilt_deg
        )
        return days | store.add_detected_exercise(exercise, clock)


def iter_days(first: date, last: date) -> Iterable[date]:
    d = first
    while d <= last:
        yield d
        if d == date.max:
            return
        d += timedelta(days=1)
