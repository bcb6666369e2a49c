"""The durable spool for messages to IoT Core, in SQLite (WAL).

Policy, as the nucleus's spooler states it: messages leave in the order they
came; QoS 1 messages always go through the spool and are deleted only after
the broker's PUBACK; QoS 0 messages are spooled only while offline and only
when `keep_qos0_when_offline` is set, otherwise they are dropped (and counted).
The spool is bounded by `max_bytes` of payload and topic: a message that does
not fit is refused (the publisher gets an error), and nothing already accepted
is dropped to make room.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from edgeway_common.sqlite_files import open_wal

DEFAULT_MAX_BYTES = 2_621_440  # the nucleus's spooler.maxSizeInBytes default

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL
);
"""


class SpoolFullError(Exception):
    pass


@dataclass(frozen=True)
class SpooledMessage:
    id: int
    topic: str
    payload: bytes
    qos: int
    retain: bool

    @property
    def size(self) -> int:
        return len(self.payload) + len(self.topic.encode())


class Spool:
    def __init__(self, path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._db = open_wal(path, SCHEMA, "NORMAL")
        self._lock = threading.Lock()
        self.max_bytes = max_bytes
        row = self._db.execute(
            "SELECT COALESCE(SUM(LENGTH(payload) + LENGTH(CAST(topic AS BLOB))), 0) FROM spool"
        )
        self.size_bytes = int(row.fetchone()[0])
        self.dropped_qos0 = 0
        self.refused = 0

    def close(self) -> None:
        self._db.close()

    def add(self, topic: str, payload: bytes, qos: int, retain: bool) -> int:
        size = len(payload) + len(topic.encode())
        with self._lock:
            if self.size_bytes + size > self.max_bytes:
                self.refused += 1
                raise SpoolFullError(
                    f"the spool is full ({self.size_bytes} of {self.max_bytes} bytes); "
                    f"a message of {size} bytes to {topic} was refused"
                )
            cursor = self._db.execute(
                "INSERT INTO spool (topic, payload, qos, retain) VALUES (?, ?, ?, ?)",
                (topic, payload, qos, int(retain)),
            )
            self.size_bytes += size
            return int(cursor.lastrowid or 0)

    def oldest(self, limit: int, after: int = 0) -> list[SpooledMessage]:
        rows = self._db.execute(
            "SELECT id, topic, payload, qos, retain FROM spool WHERE id > ? ORDER BY id LIMIT ?",
            (after, limit),
        ).fetchall()
        return [SpooledMessage(i, t, bytes(p), q, bool(r)) for i, t, p, q, r in rows]

    def remove(self, message: SpooledMessage) -> None:
        with self._lock:
            deleted = self._db.execute("DELETE FROM spool WHERE id = ?", (message.id,)).rowcount
            if deleted:
                self.size_bytes -= message.size

    @property
    def empty(self) -> bool:
        """Whether anything waits, from the byte count kept in memory (every message has a topic)."""
        return self.size_bytes == 0

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM spool").fetchone()[0])
