"""The durable hand-off from the components that produce records to the uplink.

A producer appends its records to the `inbox` table of the uplink's spool file and commits before it
returns (durable on append, as Greengrass's Stream Manager is): whatever happens to the uplink after
that, the records are there when it runs again. The uplink moves inbox rows into its spool in the same
transaction that deletes them, so a record is neither lost nor taken twice. The producer still
publishes the records on its local topic for local listeners, marked `handedOff` so that the uplink
does not take them a second time.

Why not serve Stream Manager's protocol to its `stream-manager` SDK: that is a second server in the
core (its own framing on TCP 8088, its own authentication, message streams with export definitions to
Kinesis, IoT Analytics, S3 and SiteWise), a large surface to stand in for, to fix one promise. The
components here need one thing from it, a durable append, which one SQLite table gives; a user's own
component that publishes on the local topics is still taken by the uplink's subscriptions, as before,
but without that promise while the uplink is down.

The file lives in the uplink's work folder; producers find it in `EDGEWAY_HANDOFF` (their recipes set
it with `{kernel:rootPath}`). Without it a producer publishes on IPC only, as before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from edgeway_common.sqlite_files import open_wal

ENV = "EDGEWAY_HANDOFF"
INBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    body TEXT NOT NULL
);
"""
MAX_WAITING = 200_000  # appends (not records) the inbox holds while the uplink does not take them


class HandOffFull(Exception):
    """The inbox holds MAX_WAITING appends: the uplink has not run for a long time."""


class HandOff:
    """The producer's side: `append` returns once the records are committed."""

    def __init__(self, path: Path, max_waiting: int = MAX_WAITING) -> None:
        self.path = path
        self._max_waiting = max_waiting
        self._db = open_wal(path, INBOX_SCHEMA, "NORMAL", busy_seconds=60)

    @classmethod
    def from_env(cls) -> HandOff | None:
        path = os.environ.get(ENV)
        return cls(Path(path)) if path else None

    def append(self, topic: str, envelope: dict[str, Any]) -> None:
        """`envelope` as published on `topic`: `{"thing", "source", "records": [...]}`."""
        body = json.dumps(envelope, separators=(",", ":"))
        self._db.execute("BEGIN IMMEDIATE")
        try:
            first, last = self._db.execute("SELECT MIN(seq), MAX(seq) FROM inbox").fetchone()
            if first is not None and last - first + 1 >= self._max_waiting:
                raise HandOffFull(f"the hand-off {self.path} holds {self._max_waiting} appends")
            self._db.execute("INSERT INTO inbox (topic, body) VALUES (?, ?)", (topic, body))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self._db.close()
