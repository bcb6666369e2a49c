"""The core's durable state in SQLite: the deployed set and the deployment history.

A restarted core reads the deployed set and comes back as it was. The set is
replaced in one transaction when a deployment succeeds (or rolls back), so a
crash mid-deployment leaves the previous set, never half of each.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeway_common.sqlite_files import open_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployed (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    is_root INTEGER NOT NULL,
    configuration TEXT NOT NULL,
    recipe_path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS broken (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    finished REAL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    request TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class DeployedComponent:
    name: str
    version: str
    is_root: bool
    configuration: dict[str, Any]
    recipe_path: str


@dataclass(frozen=True)
class DeploymentRecord:
    id: str
    created: float
    finished: float | None
    status: str
    reason: str
    request: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created": self.created,
            "finished": self.finished,
            "status": self.status,
            "reason": self.reason,
            "request": self.request,
        }


class StateStore:
    def __init__(self, path: Path) -> None:
        self._db = open_wal(path, SCHEMA, "FULL")
        path.chmod(0o600)

    def close(self) -> None:
        self._db.close()

    def deployed(self) -> list[DeployedComponent]:
        rows = self._db.execute(
            "SELECT name, version, is_root, configuration, recipe_path FROM deployed ORDER BY name"
        ).fetchall()
        return [DeployedComponent(n, v, bool(r), json.loads(c), p) for n, v, r, c, p in rows]

    def replace_deployed(self, components: list[DeployedComponent]) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM deployed")
            self._db.executemany(
                "INSERT INTO deployed (name, version, is_root, configuration, recipe_path)"
                " VALUES (?, ?, ?, ?, ?)",
                [
                    (c.name, c.version, int(c.is_root), json.dumps(c.configuration), c.recipe_path)
                    for c in components
                ],
            )

    def mark_broken(self, name: str, version: str, reason: str) -> None:
        """BROKEN lasts until the component is deployed again, across restarts of the core."""
        self._db.execute(
            "INSERT OR REPLACE INTO broken (name, version, reason) VALUES (?, ?, ?)", (name, version, reason)
        )

    def clear_broken(self, names: list[str]) -> None:
        self._db.executemany("DELETE FROM broken WHERE name = ?", [(n,) for n in names])

    def broken(self) -> dict[str, tuple[str, str]]:
        """name: (version, reason) of each component that was BROKEN when last seen."""
        rows = self._db.execute("SELECT name, version, reason FROM broken").fetchall()
        return {name: (version, reason) for name, version, reason in rows}

    def update_configuration(self, name: str, configuration: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE deployed SET configuration = ? WHERE name = ?", (json.dumps(configuration), name)
        )

    def record_deployment(
        self, deployment_id: str, request: dict[str, Any], status: str = "IN_PROGRESS"
    ) -> None:
        self._db.execute(
            "INSERT INTO deployments (id, created, status, request) VALUES (?, ?, ?, ?)",
            (deployment_id, time.time(), status, json.dumps(request)),
        )

    def finish_deployment(self, deployment_id: str, status: str, reason: str = "") -> None:
        self._db.execute(
            "UPDATE deployments SET status = ?, reason = ?, finished = ? WHERE id = ?",
            (status, reason, time.time(), deployment_id),
        )

    def fail_unfinished(self, reason: str) -> None:
        self._db.execute(
            "UPDATE deployments SET status = 'FAILED', reason = ?, finished = ? WHERE status = 'IN_PROGRESS'",
            (reason, time.time()),
        )

    def deployments(self) -> list[DeploymentRecord]:
        rows = self._db.execute(
            "SELECT id, created, finished, status, reason, request FROM deployments ORDER BY created"
        ).fetchall()
        return [DeploymentRecord(i, c, f, s, r, json.loads(q)) for i, c, f, s, r, q in rows]

    def deployment(self, deployment_id: str) -> DeploymentRecord | None:
        return next((d for d in self.deployments() if d.id == deployment_id), None)

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
