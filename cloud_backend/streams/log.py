"""A durable, Kinesis-like log in SQLite: one shard, records with partition keys and sequence numbers,
a checkpoint per consumer, and a table of records set aside as poison."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

from edgeway_common.sqlite_files import open_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    partition_key TEXT NOT NULL,
    data BLOB NOT NULL,
    arrived REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (consumer TEXT PRIMARY KEY, sequence INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS set_aside (
    consumer TEXT NOT NULL, sequence INTEGER NOT NULL, partition_key TEXT NOT NULL, data BLOB NOT NULL,
    reason TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (consumer, sequence)
);
"""
MAX_RECORD_BYTES = 1024 * 1024  # Kinesis's limit for one record


@dataclass(frozen=True)
class StreamRecord:
    sequence: int
    partition_key: str
    data: bytes
    arrived: float

    @property
    def sequence_number(self) -> str:
        return f"{self.sequence:021d}"


class StreamLog:
    def __init__(self, path: Path, name: str = "TelemetryStream") -> None:
        self.name = name
        self._db = open_wal(path, SCHEMA, "NORMAL")
        self._lock = threading.Lock()
        self.appended = threading.Condition(self._lock)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def append(self, partition_key: str, data: bytes) -> StreamRecord:
        if not 1 <= len(partition_key) <= 256:
            raise ValueError("a partition key is 1 to 256 characters")
        if len(data) > MAX_RECORD_BYTES:
            raise ValueError(f"a record is at most {MAX_RECORD_BYTES} bytes (got {len(data)})")
        arrived = time.time()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO records (partition_key, data, arrived) VALUES (?, ?, ?)",
                (partition_key, data, arrived),
            )
            self.appended.notify_all()
        return StreamRecord(int(cursor.lastrowid or 0), partition_key, data, arrived)

    def read_after(self, sequence: int, limit: int) -> list[StreamRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sequence, partition_key, data, arrived FROM records WHERE sequence > ? "
                "ORDER BY sequence LIMIT ?",
                (sequence, limit),
            ).fetchall()
        return [StreamRecord(int(s), str(k), bytes(d), float(a)) for s, k, d, a in rows]

    def checkpoint(self, consumer: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT sequence FROM checkpoints WHERE consumer = ?", (consumer,)
            ).fetchone()
        return int(row[0]) if row else 0

    def set_checkpoint(self, consumer: str, sequence: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO checkpoints (consumer, sequence) VALUES (?, ?) "
                "ON CONFLICT (consumer) DO UPDATE SET sequence = MAX(sequence, excluded.sequence)",
                (consumer, sequence),
            )

    def set_aside(self, consumer: str, record: StreamRecord, reason: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO set_aside VALUES (?, ?, ?, ?, ?, ?)",
                (consumer, record.sequence, record.partition_key, record.data, reason[:1000], time.time()),
            )

    def set_aside_records(self, consumer: str) -> list[tuple[int, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sequence, reason FROM set_aside WHERE consumer = ? ORDER BY sequence", (consumer,)
            ).fetchall()
        return [(int(s), str(r)) for s, r in rows]
