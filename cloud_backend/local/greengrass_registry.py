"""What the stand-in knows of Greengrass core devices for discovery: each core's connectivity (the
addresses of its local broker, as `UpdateConnectivityInfo` sets them), its group CA (the CA that
signed the local broker's certificate, which a real core uploads with PutCertificateAuthorities), and
which client devices are associated with it. Kept in SQLite."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeway_common.sqlite_files import open_wal

SCHEMA = """
CREATE TABLE IF NOT EXISTS cores (
    thing TEXT PRIMARY KEY,
    connectivity TEXT NOT NULL DEFAULT '[]',
    ca_pem TEXT NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS associations (
    core TEXT NOT NULL,
    client TEXT NOT NULL,
    associated_at REAL NOT NULL,
    PRIMARY KEY (core, client)
);
"""


@dataclass(frozen=True)
class Endpoint:
    id: str
    host: str
    port: int
    metadata: str = ""


@dataclass(frozen=True)
class Core:
    thing: str
    connectivity: tuple[Endpoint, ...]
    ca_pem: str


class GreengrassRegistry:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self._db = open_wal(path, SCHEMA, synchronous="NORMAL")
        self._lock = threading.Lock()
        self._clock = clock

    def close(self) -> None:
        self._db.close()

    def set_connectivity(self, thing: str, endpoints: list[Endpoint]) -> int:
        document = json.dumps([e.__dict__ for e in endpoints])
        with self._lock:
            self._db.execute(
                "INSERT INTO cores (thing, connectivity, version) VALUES (?, ?, 1) ON CONFLICT (thing)"
                " DO UPDATE SET connectivity = excluded.connectivity, version = cores.version + 1",
                (thing, document),
            )
            return int(self._db.execute("SELECT version FROM cores WHERE thing = ?", (thing,)).fetchone()[0])

    def set_ca(self, thing: str, ca_pem: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO cores (thing, ca_pem) VALUES (?, ?)"
                " ON CONFLICT (thing) DO UPDATE SET ca_pem = excluded.ca_pem",
                (thing, ca_pem),
            )

    def core(self, thing: str) -> Core | None:
        row = self._db.execute(
            "SELECT thing, connectivity, ca_pem FROM cores WHERE thing = ?", (thing,)
        ).fetchone()
        if row is None:
            return None
        endpoints = tuple(Endpoint(**e) for e in json.loads(row[1]))
        return Core(row[0], endpoints, row[2])

    def associate(self, core: str, clients: list[str]) -> None:
        now = self._clock()
        with self._lock:
            self._db.executemany(
                "INSERT OR IGNORE INTO associations VALUES (?, ?, ?)",
                [(core, client, now) for client in clients],
            )

    def disassociate(self, core: str, clients: list[str]) -> None:
        with self._lock:
            self._db.executemany(
                "DELETE FROM associations WHERE core = ? AND client = ?", [(core, c) for c in clients]
            )

    def associated_with(self, core: str) -> list[tuple[str, float]]:
        return [
            (r[0], r[1])
            for r in self._db.execute(
                "SELECT client, associated_at FROM associations WHERE core = ? ORDER BY client", (core,)
            )
        ]

    def cores_of(self, client: str) -> list[Core]:
        names = [
            r[0]
            for r in self._db.execute(
                "SELECT core FROM associations WHERE client = ? ORDER BY core", (client,)
            )
        ]
        return [core for name in names if (core := self.core(name)) is not None]


def discover_response(
    cores: list[Core], region: str = "us-east-1", account: str = "000000000000"
) -> dict[str, Any]:
    """The discovery API's answer: one group per core, as the official SDKs parse it."""
    return {
        "GGGroups": [
            {
                "GGGroupId": f"greengrassV2-coreDevice-{core.thing}",
                "Cores": [
                    {
                        "thingArn": f"arn:aws:iot:{region}:{account}:thing/{core.thing}",
                        "Connectivity": [
                            {"Id": e.id, "HostAddress": e.host, "PortNumber": e.port, "Metadata": e.metadata}
                            for e in core.connectivity
                        ],
                    }
                ],
                "CAs": [core.ca_pem] if core.ca_pem else [],
            }
            for core in cores
        ]
    }
