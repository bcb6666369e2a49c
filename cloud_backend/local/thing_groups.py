"""Thing groups, as IoT keeps them for the stand-in: a name, an ARN, its things. Kept in SQLite.
A thing added to a group gets the executions of the jobs that target the group (Greengrass's
thing-group deployments are continuous jobs), through the `joined` callback."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from cloud_backend.broker.jobs_store import JobError
from edgeway_common.sqlite_files import open_wal

REGION, ACCOUNT = "us-east-1", "000000000000"
SCHEMA = """
CREATE TABLE IF NOT EXISTS thing_groups (name TEXT PRIMARY KEY, id TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS group_members (
    group_name TEXT NOT NULL, thing TEXT NOT NULL, PRIMARY KEY (group_name, thing)
);
"""


def group_arn(name: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/{name}"


class ThingGroups:
    def __init__(self, path: Path, joined: Callable[[str, str], None] | None = None) -> None:
        self._db = open_wal(path, SCHEMA, synchronous="NORMAL")
        self._lock = threading.Lock()
        self.joined = joined

    def close(self) -> None:
        self._db.close()

    def create(self, name: str) -> tuple[str, str]:
        """(ARN, id); creating a group that exists answers with the one there, as IoT does."""
        with self._lock:
            row = self._db.execute("SELECT id FROM thing_groups WHERE name = ?", (name,)).fetchone()
            if row is None:
                row = (str(uuid.uuid4()),)
                self._db.execute("INSERT INTO thing_groups VALUES (?, ?, ?)", (name, row[0], time.time()))
        return group_arn(name), str(row[0])

    def describe(self, name: str) -> tuple[str, str, float]:
        row = self._db.execute("SELECT id, created FROM thing_groups WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise JobError("ResourceNotFoundException", f"thing group {name} does not exist")
        return group_arn(name), str(row[0]), float(row[1])

    def add(self, name: str, thing: str) -> None:
        self.describe(name)
        with self._lock:
            added = self._db.execute(
                "INSERT OR IGNORE INTO group_members VALUES (?, ?)", (name, thing)
            ).rowcount
        if added and self.joined is not None:
            self.joined(name, thing)

    def members(self, name: str) -> list[str]:
        self.describe(name)
        return [
            r[0]
            for r in self._db.execute(
                "SELECT thing FROM group_members WHERE group_name = ? ORDER BY thing", (name,)
            )
        ]

    def groups_of(self, thing: str) -> list[str]:
        return [
            r[0] for r in self._db.execute("SELECT group_name FROM group_members WHERE thing = ?", (thing,))
        ]
