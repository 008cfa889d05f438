"""A durable outbox for MQTT alerts: a small SQLite table that survives broker outages and restarts.

Every alert is written here *before* it is handed to the MQTT client and leaves only once the broker has
acknowledged it (PUBACK). Entries are kept in the order they were put (``seq``), so a publisher that reads
them back with :meth:`Outbox.pending` sends them in that order, after an outage or a restart alike.

Delivery is *at least once*: a process killed after the broker received an alert but before the PUBACK was
recorded here re-sends that alert on the next start. Each entry keeps the alert's ``id`` for ever, so a
subscriber can drop the duplicate by ``id``.

The database uses WAL journaling and ``synchronous=FULL``: an alert whose :meth:`Outbox.put` returned is on
disk even if the machine loses power right after. Alerts are rare (a few per hour), so the cost of an fsync per
alert does not matter.

The outbox is not bounded: losing an alert is worse than a large file. Once it holds more than
``warn_above`` entries a warning is logged (once per crossing) so that someone looks at the broker.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d, Outbox(pathlib.Path(d) / "outbox.sqlite3") as box:
...     first = box.put("hipsense/me/alert", {"id": "a1", "event_type": "recalibrate"})
...     _ = box.put("hipsense/me/alert", {"id": "a2", "event_type": "battery_low"})
...     [e.alert_id for e in box.pending()], box.ack(first.seq), len(box)
(['a1', 'a2'], True, 1)
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from hipsense.private import private_dir, private_file, storage_error
from processing.errors import ConfigError

__all__ = ["Outbox", "OutboxEntry"]

log = logging.getLogger(__name__)

#: Above this many waiting alerts a warning is logged (the outbox keeps everything anyway).
DEFAULT_WARN_ABOVE = 100_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id  TEXT    NOT NULL UNIQUE,
    topic     TEXT    NOT NULL,
    payload   TEXT    NOT NULL,
    created_s REAL    NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One waiting alert.

    seq: position in the outbox (strictly increasing, never reused).
    alert_id: the alert's ``id``; the same on every re-send.
    topic: the MQTT topic it goes to.
    payload: the JSON text to publish (UTF-8).
    created_s: when it was put, Unix time in seconds.
    """

    seq: int
    alert_id: str
    topic: str
    payload: str
    created_s: float


class Outbox:
    """Alerts waiting for a broker acknowledgement, in a SQLite file at ``path``.

    Thread-safe: the MQTT network thread acknowledges entries while the application thread puts new ones.
    """

    def __init__(self, path: Path | str, *, warn_above: int = DEFAULT_WARN_ABOVE) -> None:
        if warn_above < 1:
            raise ValueError(f"warn_above must be >= 1, got {warn_above}")
        self.path = Path(path)
        self.warn_above = warn_above
        self._lock = threading.Lock()
        try:
            private_dir(self.path.parent, tighten=False)  # alerts are health data: 0700 folder, 0600 files
            private_file(self.path)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(_SCHEMA)
            (count,) = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(
                f"{self.path}: cannot open the alert outbox ({exc})",
                hint="check that the data folder is writable and the file is a hipsense outbox",
            ) from exc
        self._count: int = int(count)
        self._warned = False
        self._closed = False
        if self._count:
            log.info("%s: %d alert(s) from an earlier run wait for delivery", self.path, self._count)
        self._check_size()

    # -- writing ---------------------------------------------------------------------------------------

    def put(self, topic: str, alert: Mapping[str, Any]) -> OutboxEntry:
        """Store ``alert`` for ``topic`` durably and return its entry.

        The alert gets an ``id`` (a random UUID) if it has none. Putting an alert whose ``id`` is already
        waiting does nothing and returns the existing entry, so a caller may retry a put safely.
        """
        body = dict(alert)
        alert_id = str(body.get("id") or uuid.uuid4().hex)
        body["id"] = alert_id
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        now = time.time()
        with self._lock:
            self._check_open()
            try:
                cur = self._db.execute(
                    "INSERT OR IGNORE INTO outbox (alert_id, topic, payload, created_s) VALUES (?, ?, ?, ?)",
                    (alert_id, topic, payload, now),
                )
            except sqlite3.OperationalError as exc:  # disk full, read-only: the alert is NOT in the outbox
                raise storage_error(
                    self.path, "queue an alert", exc, lost=f"alert {alert_id} is NOT in the outbox"
                ) from exc
            if cur.rowcount == 1:
                self._count += 1
                self._check_size()
                seq = cur.lastrowid
                assert seq is not None
                return OutboxEntry(seq, alert_id, topic, payload, now)
            row = self._db.execute(
                "SELECT seq, alert_id, topic, payload, created_s FROM outbox WHERE alert_id = ?", (alert_id,)
            ).fetchone()
        return OutboxEntry(*row)

    def ack(self, seq: int) -> bool:
        """Remove the entry ``seq`` (its PUBACK arrived). Returns False if it was not there."""
        with self._lock:
            if self._closed:
                # The network thread may deliver a late PUBACK during shutdown; the entry is re-sent on the
                # next start and the subscriber drops the duplicate by id.
                return False
            try:
                cur = self._db.execute("DELETE FROM outbox WHERE seq = ?", (seq,))
            except sqlite3.OperationalError as exc:
                # Disk full: the alert reached the broker but stays here; it is sent again on the next run and
                # the subscriber drops the duplicate by id. Nothing is lost.
                log.warning("%s: cannot record the delivery of alert #%d (%s)", self.path, seq, exc)
                return False
            if cur.rowcount:
                self._count -= 1
                if self._count <= self.warn_above:
                    self._warned = False
                return True
            return False

    # -- reading ---------------------------------------------------------------------------------------

    def pending(self, *, after_seq: int = 0, limit: int | None = None) -> list[OutboxEntry]:
        """Waiting entries with ``seq > after_seq``, oldest first, at most ``limit`` of them."""
        sql = "SELECT seq, alert_id, topic, payload, created_s FROM outbox WHERE seq > ? ORDER BY seq"
        params: tuple[int, ...] = (after_seq,)
        if limit is not None:
            sql += " LIMIT ?"
            params = (after_seq, limit)
        with self._lock:
            self._check_open()
            rows = self._db.execute(sql, params).fetchall()
        return [OutboxEntry(*row) for row in rows]

    def __len__(self) -> int:
        return self._count

    # -- lifetime --------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Outbox({str(self.path)!r}, waiting={self._count})"

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"{self.path}: the outbox is closed")

    def _check_size(self) -> None:
        if self._count > self.warn_above and not self._warned:
            self._warned = True
            log.warning(
                "%s: %d alerts wait for the MQTT broker (more than %d); all are kept, check the broker",
                self.path,
                self._count,
                self.warn_above,
            )
