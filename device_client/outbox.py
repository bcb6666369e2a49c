"""The durable outbox: every QoS 1 reading is committed to SQLite before it is sent and deleted only
when the broker has acknowledged it, so neither a lost connection nor a killed process loses one.

Bounded in count and in bytes, with a stated policy when full:

- `refuse`: the new reading is refused (`OutboxFullError`) and counted as dropped;
- `drop-oldest`: the oldest reading of the lowest priority class goes first (a reading of a class lower
  than everything stored is the one dropped), until the new one fits.

Every drop is counted per priority class in the same file, so the count survives a restart. Order per
topic is kept because readings leave in the order they were stored (`seq`), and after a reconnect the
unacknowledged ones are sent again from the oldest. Each reading carries an `id` (`<device>-<nonce>-<n>`,
the nonce new each time the outbox opens), so a backend that has seen an id drops the duplicate.

Several devices may share one file (a simulator's process does): rows carry their device.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .errors import DeviceConfigError, OutboxFullError

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    id TEXT NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    priority INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_device ON outbox (device, seq);
CREATE INDEX IF NOT EXISTS outbox_by_priority ON outbox (device, priority, seq);
CREATE TABLE IF NOT EXISTS dropped (
    device TEXT NOT NULL,
    priority INTEGER NOT NULL,
    readings INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (device, priority)
);
"""


Document = dict[str, Any] | Callable[[str], dict[str, Any]]


class FullPolicy(Enum):
    REFUSE = "refuse"
    DROP_OLDEST = "drop-oldest"


@dataclass(frozen=True)
class Record:
    seq: int
    id: str
    topic: str
    payload: bytes
    priority: int


@dataclass(frozen=True)
class OutboxStats:
    count: int
    bytes: int
    dropped: Mapping[int, int]  # priority class -> readings dropped, ever

    @property
    def dropped_total(self) -> int:
        return sum(self.dropped.values())


class OutboxFile:
    """One SQLite connection to an outbox file, shared by the outboxes of many devices in one process
    (a simulator's worker): one set of file descriptors instead of three per device."""

    def __init__(self, path: Path | str, synchronous: str = "FULL") -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise DeviceConfigError(f"outbox synchronous={synchronous!r}: use NORMAL or FULL")
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(f"PRAGMA synchronous={synchronous}")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        with self.lock:
            self.db.close()


class Outbox:
    def __init__(
        self,
        path: Path | str | OutboxFile,
        device: str,
        *,
        max_count: int = 1_000_000,
        max_bytes: int = 512 * 1024 * 1024,
        policy: FullPolicy = FullPolicy.DROP_OLDEST,
        synchronous: str = "FULL",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_count < 1 or max_bytes < 1:
            raise DeviceConfigError("outbox bounds must be at least 1 reading and 1 byte")
        self.device, self.max_count, self.max_bytes, self.policy = device, max_count, max_bytes, policy
        self._clock = clock
        self._owned = not isinstance(path, OutboxFile)
        self._file = path if isinstance(path, OutboxFile) else OutboxFile(path, synchronous)
        self._lock, self._db = self._file.lock, self._file.db
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox WHERE device = ?", (device,)
        ).fetchone()
        self._count, self._bytes = int(count), int(size)
        self._nonce = secrets.token_hex(4)
        self._next = 0

    # -- writing -----------------------------------------------------------------------------

    def append(self, topic: str, document: Document, priority: int = 0) -> Record:
        """Stores `document` for `topic`, committed on return. A dict gets an `id` unless it has one; a
        function is called with the new id and returns the document (to put the id where it belongs)."""
        with self._lock:
            if callable(document):
                record_id = self._new_id()
                document = document(record_id)
            else:
                given = document.get("id")
                record_id = given if isinstance(given, str) and given else self._new_id()
                if given != record_id:
                    document = {**document, "id": record_id}
            payload = json.dumps(document, separators=(",", ":")).encode()
            if len(payload) > self.max_bytes:
                raise OutboxFullError(
                    f"a reading of {len(payload)} bytes is over the outbox's {self.max_bytes}"
                )
            self._db.execute("BEGIN IMMEDIATE")
            try:
                refusal = self._make_room(len(payload), priority)
                if refusal is not None:  # the drop is counted and kept; the reading is not
                    self._db.execute("COMMIT")
                    raise refusal
                cursor = self._db.execute(
                    "INSERT INTO outbox (device, id, topic, payload, priority, created)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (self.device, record_id, topic, payload, priority, self._clock()),
                )
                self._db.execute("COMMIT")
            except OutboxFullError:
                raise
            except BaseException:
                self._db.execute("ROLLBACK")
                self._recount()
                raise
            self._count += 1
            self._bytes += len(payload)
            return Record(int(cursor.lastrowid or 0), record_id, topic, payload, priority)

    def _new_id(self) -> str:
        self._next += 1
        return f"{self.device}-{self._nonce}-{self._next - 1}"

    def _fits(self, size: int) -> bool:
        return self._count + 1 <= self.max_count and self._bytes + size <= self.max_bytes

    def _make_room(self, size: int, priority: int) -> OutboxFullError | None:
        """Drops what the policy says until a reading of `size` fits; the refusal if it cannot."""
        while not self._fits(size):
            if self.policy == FullPolicy.REFUSE:
                self._count_drop(priority, size)
                return OutboxFullError(
                    f"the outbox holds {self._count} readings, {self._bytes} bytes (bounds {self.max_count},"
                    f" {self.max_bytes}); policy refuse"
                )
            oldest = self._db.execute(
                "SELECT seq, priority, LENGTH(payload) FROM outbox WHERE device = ?"
                " ORDER BY priority, seq LIMIT 1",
                (self.device,),
            ).fetchone()
            if oldest is None or oldest[1] > priority:  # everything stored matters more than this one
                self._count_drop(priority, size)
                return OutboxFullError(
                    f"the outbox is full of readings of higher priority than {priority}; this one is dropped"
                )
            self._db.execute("DELETE FROM outbox WHERE seq = ?", (oldest[0],))
            self._count_drop(int(oldest[1]), int(oldest[2]))
            self._count -= 1
            self._bytes -= int(oldest[2])
        return None

    def _count_drop(self, priority: int, size: int) -> None:
        self._db.execute(
            "INSERT INTO dropped (device, priority, readings, bytes) VALUES (?, ?, 1, ?)"
            " ON CONFLICT (device, priority) DO UPDATE SET readings = readings + 1, bytes = bytes + ?",
            (self.device, priority, size, size),
        )

    def _recount(self) -> None:
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox WHERE device = ?", (self.device,)
        ).fetchone()
        self._count, self._bytes = int(count), int(size)

    def remove(self, seqs: list[int]) -> int:
        """Deletes acknowledged readings; returns how many were still there."""
        if not seqs:
            return 0
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            removed = 0
            freed = 0
            for seq in seqs:
                row = self._db.execute(
                    "DELETE FROM outbox WHERE seq = ? AND device = ? RETURNING LENGTH(payload)",
                    (seq, self.device),
                ).fetchone()
                if row is not None:
                    removed += 1
                    freed += int(row[0])
            self._db.execute("COMMIT")
            self._count -= removed
            self._bytes -= freed
            return removed

    # -- reading -----------------------------------------------------------------------------

    def pending(self, after: int = 0, limit: int = 100) -> list[Record]:
        """The oldest stored readings with `seq` above `after`, in the order they were stored."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, id, topic, payload, priority FROM outbox WHERE device = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                (self.device, after, limit),
            ).fetchall()
        return [Record(int(r[0]), str(r[1]), str(r[2]), bytes(r[3]), int(r[4])) for r in rows]

    def stats(self) -> OutboxStats:
        with self._lock:
            dropped = dict(
                self._db.execute(
                    "SELECT priority, readings FROM dropped WHERE device = ? ORDER BY priority",
                    (self.device,),
                ).fetchall()
            )
            return OutboxStats(self._count, self._bytes, dropped)

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        if self._owned:
            self._file.close()
