"""Shadows kept in SQLite (WAL), one row per thing and shadow name ('' is the classic shadow)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from .shadow_document import Shadow
from .sqlite_files import open_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS shadows (
    thing TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (thing, name)
);
"""


class ShadowStore:
    def __init__(self, path: Path) -> None:
        self._db = open_wal(path, SCHEMA, "FULL")  # SQLite's default, which this store always used
        self._lock = threading.Lock()

    def close(self) -> None:
        self._db.close()

    def get(self, thing: str, name: str) -> Shadow:
        row = self._db.execute(
            "SELECT document FROM shadows WHERE thing = ? AND name = ?", (thing, name)
        ).fetchone()
        return Shadow.from_json(json.loads(row[0])) if row else Shadow()

    def put(self, thing: str, name: str, shadow: Shadow) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO shadows (thing, name, document) VALUES (?, ?, ?) "
                "ON CONFLICT (thing, name) DO UPDATE SET document = excluded.document",
                (thing, name, json.dumps(shadow.to_json())),
            )

    def named(self, thing: str) -> list[str]:
        rows = self._db.execute(
            "SELECT name, document FROM shadows WHERE thing = ? AND name != '' ORDER BY name", (thing,)
        ).fetchall()
        return [name for name, document in rows if json.loads(document)["exists"]]
