"""The repositories in one SQLite file (WAL). The local default: nothing lives only in memory.

`synchronous=NORMAL` in WAL mode: a commit survives the process being killed; an operating-system
crash may lose the last few commits. Items are stored as their DynamoDB-shaped JSON next to the key
columns, so both implementations read and write the same records.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloud_backend.store.ports import SEEN_FOR_MS, MessageStore, PresenceStore, StoreError, TelemetryStore
from cloud_backend.store.records import ChatMessage, Presence, Window, message_key
from edgeway_common import json_codec
from edgeway_common.sqlite_files import open_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    room TEXT NOT NULL, sk TEXT NOT NULL, item TEXT NOT NULL, PRIMARY KEY (room, sk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS presence (
    client_id TEXT PRIMARY KEY, online INTEGER NOT NULL, item TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS telemetry (
    series TEXT NOT NULL, window_start INTEGER NOT NULL, item TEXT NOT NULL,
    PRIMARY KEY (series, window_start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_records (
    record TEXT PRIMARY KEY, seen_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_records_age ON seen_records (seen_at);
"""


class SqliteDatabase:
    """One connection shared by the stores, serialised by a lock (handlers run on several threads).
    Each statement commits on its own, except inside `transaction`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._db = open_wal(path, SCHEMA, "NORMAL")
        except sqlite3.Error as exc:
            raise StoreError(f"{path}: cannot open the database: {exc}") from exc
        self._lock = threading.RLock()  # a store's call inside `transaction` takes it again

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """What the stores write in the block is committed together, at its end; other threads wait.
        A statement that fails inside it fails alone (SQLite undoes only that statement), unless
        SQLite had to roll the whole transaction back: then the end raises, as nothing was kept. An
        exception out of the block rolls it back."""
        with self._lock:
            try:
                self._db.execute("BEGIN")
            except sqlite3.Error as exc:
                raise StoreError(f"{self.path}: begin a transaction: {exc}") from exc
            try:
                yield
            except BaseException:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._end_transaction()

    def _end_transaction(self) -> None:
        if not self._db.in_transaction:
            raise StoreError(f"{self.path}: the transaction was rolled back: nothing in it was kept")
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            raise StoreError(f"{self.path}: commit: {exc}") from exc

    def cursor(self, what: str) -> _Cursor:
        """The connection, for the block, to this thread alone; an SQLite error in the block becomes
        a StoreError that names the file and `what` was being done."""
        return _Cursor(self, what)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Cursor:
    """`SqliteDatabase.cursor`'s block. A class, not a `@contextmanager` generator: every store call
    takes one (the stand-in's writer one per batch of chat messages, the handlers one per read or
    write), and a generator costs three times as much to enter and leave."""

    __slots__ = ("_database", "_what")

    def __init__(self, database: SqliteDatabase, what: str) -> None:
        self._database, self._what = database, what

    def __enter__(self) -> sqlite3.Connection:
        self._database._lock.acquire()
        return self._database._db

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: Any) -> None:
        self._database._lock.release()
        if isinstance(error, sqlite3.Error):
            raise StoreError(f"{self._database.path}: {self._what}: {error}") from error


_ROWS = 1024  # rows in one INSERT at most (3 values a row: far below SQLite's 32,766)


@functools.cache
def _insert_messages(rows: int) -> str:
    return "INSERT OR REPLACE INTO messages (room, sk, item) VALUES " + ", ".join(["(?, ?, ?)"] * rows)


def _load(row: tuple[Any, ...] | None) -> dict[str, Any] | None:
    return json.loads(row[0]) if row else None


class SqliteMessageStore(MessageStore):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def put_item(self, item: Mapping[str, Any]) -> None:
        self.put_items((item,))

    def put_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        """None of them if one has no key; in a transaction only if the caller opened one (the
        stand-in's writer does, for more than one). A multi-row INSERT for each run of a power of two
        items (at most `_ROWS`): SQLite takes all its rows in one step, so the writer's thread lets go
        of the GIL once for them, where `executemany` steps (and lets go) once a row and the broker's
        loop, taking the GIL back at each, passed it to and fro once a message. At most eleven
        statement texts, each prepared once (the connection's statement cache)."""
        values: list[Any] = []
        for item in items:
            values += (*message_key(item), json_codec.dumps(item))
        with self._db.cursor("put messages") as db:
            at, count = 0, len(items)
            while at < count:
                rows = min(_ROWS, 1 << ((count - at).bit_length() - 1))
                db.execute(_insert_messages(rows), values[3 * at : 3 * (at + rows)])
                at += rows

    def recent(self, room: str, limit: int, before: str | None = None) -> list[ChatMessage]:
        with self._db.cursor("read messages") as db:
            rows = db.execute(
                "SELECT item FROM messages WHERE room = ? AND sk < ? ORDER BY sk DESC LIMIT ?",
                (room, before if before is not None else "\uffff", limit),
            ).fetchall()
        return [ChatMessage.from_item(json.loads(row[0])) for row in reversed(rows)]


class SqlitePresenceStore(PresenceStore):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def get(self, client_id: str) -> Presence | None:
        with self._db.cursor("read presence") as db:
            item = _load(db.execute("SELECT item FROM presence WHERE client_id = ?", (client_id,)).fetchone())
        return Presence.from_item(item) if item else None

    def put(self, presence: Presence) -> None:
        with self._db.cursor("put presence") as db:
            db.execute(
                "INSERT OR REPLACE INTO presence (client_id, online, item) VALUES (?, ?, ?)",
                (presence.client_id, int(presence.online), json.dumps(presence.to_item())),
            )

    def online(self) -> list[Presence]:
        with self._db.cursor("read presence") as db:
            rows = db.execute("SELECT item FROM presence WHERE online = 1 ORDER BY client_id").fetchall()
        return [Presence.from_item(json.loads(row[0])) for row in rows]


class SqliteTelemetryStore(TelemetryStore):
    def __init__(self, db: SqliteDatabase) -> None:
        self._db = db

    def get(self, thing: str, sensor: str, window_start: int) -> Window | None:
        with self._db.cursor("read telemetry") as db:
            item = _load(
                db.execute(
                    "SELECT item FROM telemetry WHERE series = ? AND window_start = ?",
                    (f"{thing}#{sensor}", window_start),
                ).fetchone()
            )
        return Window.from_item(item) if item else None

    def put(self, window: Window) -> None:
        with self._db.cursor("put telemetry") as db:
            db.execute(
                "INSERT OR REPLACE INTO telemetry (series, window_start, item) VALUES (?, ?, ?)",
                (window.series, window.window_start, json.dumps(window.to_item())),
            )

    def first_seen(self, thing: str, record_ids: list[str], now_ms: int) -> set[str]:
        new: set[str] = set()
        with self._db.cursor("remember record ids") as db:
            db.execute("DELETE FROM seen_records WHERE seen_at < ?", (now_ms - SEEN_FOR_MS,))
            for record_id in record_ids:
                inserted = db.execute(
                    "INSERT OR IGNORE INTO seen_records (record, seen_at) VALUES (?, ?)",
                    (f"{thing}#{record_id}", now_ms),
                ).rowcount
                if inserted:
                    new.add(record_id)
        return new

    def latest(self, thing: str, sensor: str) -> Window | None:
        with self._db.cursor("read telemetry") as db:
            item = _load(
                db.execute(
                    "SELECT item FROM telemetry WHERE series = ? ORDER BY window_start DESC LIMIT 1",
                    (f"{thing}#{sensor}",),
                ).fetchone()
            )
        return Window.from_item(item) if item else None
