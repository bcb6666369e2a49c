"""The uplink's durable spool of records, in SQLite (WAL): every record accepted is kept until it has
been delivered, or is dropped by the stated policy and counted.

Policy. The spool is bounded by `max_bytes` (of record bodies) and `max_age_seconds`:
- a record older than `max_age_seconds` is dropped (`expired`), oldest first;
- when a new batch does not fit, the oldest telemetry and vision records are dropped to make room
  (`dropped_telemetry`); only when none are left are the oldest alerts dropped (`dropped_alerts`);
- a single record over `max_record_bytes` (64 KB: it must fit a 128 KB message) is refused (`refused`).
Every count is kept in the spool file, so it survives restarts, and is reported.

Writes are batched: `add_many` commits a whole batch in one transaction (synchronous=NORMAL: a commit
survives the process being killed).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeway_common.sqlite_files import open_wal

from .handoff import INBOX_SCHEMA

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS records_kind ON records (kind, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
    + INBOX_SCHEMA
)

ALERT = "alert"
COUNTERS = ("accepted", "sent", "expired", "dropped_telemetry", "dropped_alerts", "refused")


@dataclass(frozen=True)
class SpooledRecord:
    seq: int
    id: str
    kind: str
    source: str
    body: dict[str, Any]
    size: int


class RecordSpool:
    def __init__(
        self,
        path: Path,
        max_bytes: int = 50 * 1024 * 1024,
        max_age_seconds: float = 7 * 24 * 3600,
        clock: Callable[[], float] = time.time,
        max_record_bytes: int = 64 * 1024,
    ) -> None:
        self.max_bytes, self.max_age_seconds, self._clock = max_bytes, max_age_seconds, clock
        self.max_record_bytes = min(max_record_bytes, max_bytes)
        self._db = open_wal(path, SCHEMA, "NORMAL", busy_seconds=60)
        self._lock = threading.Lock()
        self.size_bytes = int(self._db.execute("SELECT COALESCE(SUM(size), 0) FROM records").fetchone()[0])
        self.counts = dict.fromkeys(COUNTERS, 0)
        self.counts.update(dict(self._db.execute("SELECT name, value FROM counters").fetchall()))

    def inbox(self, limit: int) -> list[tuple[int, str, Any]]:
        """(seq, topic, envelope) of what producers handed over (`handoff.HandOff`), oldest first."""
        rows = self._db.execute(
            "SELECT seq, topic, body FROM inbox ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [(seq, topic, json.loads(body)) for seq, topic, body in rows]

    def add_many(
        self, records: Sequence[tuple[str, str, str, dict[str, Any]]], *, inbox_upto: int | None = None
    ) -> int:
        """(id, kind, source, body) each; returns how many were kept. With `inbox_upto`, the inbox rows
        up to that seq, which these records came from, leave in the same transaction."""
        rows = []
        for record_id, kind, source, body in records:
            text = json.dumps(body, separators=(",", ":"))
            size = len(text.encode())
            if size > self.max_record_bytes:  # it could never be sent (or never fit)
                self.counts["refused"] += 1
                continue
            rows.append((record_id, kind, source, text, size, self._clock()))
        incoming = sum(row[4] for row in rows)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if inbox_upto is not None:
                    self._db.execute("DELETE FROM inbox WHERE seq <= ?", (inbox_upto,))
                self._expire()
                self._make_room(incoming)
                self._db.executemany(
                    "INSERT INTO records (id, kind, source, body, size, added) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self.size_bytes += incoming
                self.counts["accepted"] += len(rows)
                self._write_counts()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self.size_bytes = int(
                    self._db.execute("SELECT COALESCE(SUM(size), 0) FROM records").fetchone()[0]
                )
                raise
        return len(rows)

    def _expire(self) -> None:
        cutoff = self._clock() - self.max_age_seconds
        row = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM records WHERE added < ?", (cutoff,)
        ).fetchone()
        if row[0]:
            self._db.execute("DELETE FROM records WHERE added < ?", (cutoff,))
            self.counts["expired"] += row[0]
            self.size_bytes -= row[1]

    def _make_room(self, incoming: int) -> None:
        for kinds, counter in (("kind != ?", "dropped_telemetry"), ("kind = ?", "dropped_alerts")):
            while self.size_bytes + incoming > self.max_bytes:
                victims = self._db.execute(
                    f"SELECT seq, size FROM records WHERE {kinds} ORDER BY seq LIMIT 256", (ALERT,)
                ).fetchall()
                if not victims:
                    break
                needed = self.size_bytes + incoming - self.max_bytes
                chosen, freed = [], 0
                for seq, size in victims:
                    chosen.append(seq)
                    freed += size
                    if freed >= needed:
                        break
                self._db.executemany("DELETE FROM records WHERE seq = ?", [(s,) for s in chosen])
                self.size_bytes -= freed
                self.counts[counter] += len(chosen)

    def oldest(self, limit: int) -> list[SpooledRecord]:
        rows = self._db.execute(
            "SELECT seq, id, kind, source, body, size FROM records ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        return [SpooledRecord(s, i, k, src, json.loads(b), n) for s, i, k, src, b, n in rows]

    def remove(self, records: Sequence[SpooledRecord]) -> None:
        """Delivered: gone from the spool, counted as sent."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            deleted = 0
            for record in records:
                if self._db.execute("DELETE FROM records WHERE seq = ?", (record.seq,)).rowcount:
                    deleted += 1
                    self.size_bytes -= record.size
            self.counts["sent"] += deleted
            self._write_counts()
            self._db.execute("COMMIT")

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def _write_counts(self) -> None:
        self._db.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            list(self.counts.items()),
        )

    def refuse(self, count: int) -> None:
        """Records turned away before they reached the spool (not JSON objects), counted with its own."""
        self.counts["refused"] += count
        self._save_counts()

    def _save_counts(self) -> None:
        with self._lock:
            self._write_counts()

    def status(self) -> dict[str, Any]:
        return {"spooled": self.count(), "bytes": self.size_bytes, **self.counts}

    def close(self) -> None:
        self._db.close()
