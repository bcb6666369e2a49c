"""Opening the project's SQLite files one way: parent folder made, WAL journal, autocommit, usable from
several threads (each store serialises its own writes), the schema applied."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal


def open_wal(
    path: Path, schema: str, synchronous: Literal["NORMAL", "FULL"] = "FULL", busy_seconds: float = 5.0
) -> sqlite3.Connection:
    """NORMAL: a commit survives the process being killed, not necessarily an OS crash; FULL: both.
    `busy_seconds`: how long a write waits for another process's write to the same file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=busy_seconds, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.executescript(schema)
    return db
