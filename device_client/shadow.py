"""The device's side of its classic shadow: get, update, delete, desired-state deltas to a callback, and a
local copy in SQLite that survives a restart (what the device last knew, for when it starts offline).

Reported state after applying a delta goes through the outbox, so it reaches the shadow even when the
connection is down at that moment.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .client import DeviceClient
from .errors import ConnectError, ShadowRejectedError
from .requests import PendingAnswers

log = logging.getLogger("edgeway.device.shadow")
DeltaHandler = Callable[[dict[str, Any], int], None]


class LocalShadowCopy:
    def __init__(self, path: Path, thing: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.thing = thing
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS shadow"
            " (thing TEXT PRIMARY KEY, document TEXT NOT NULL, version INTEGER NOT NULL)"
        )

    def load(self) -> tuple[dict[str, Any], int]:
        with self._lock:
            row = self._db.execute(
                "SELECT document, version FROM shadow WHERE thing = ?", (self.thing,)
            ).fetchone()
        return (json.loads(row[0]), int(row[1])) if row else ({}, 0)

    def save(self, state: dict[str, Any], version: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO shadow VALUES (?, ?, ?) ON CONFLICT (thing)"
                " DO UPDATE SET document = excluded.document,"
                " version = excluded.version WHERE excluded.version >= shadow.version",
                (self.thing, json.dumps(state), version),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _merge(into: dict[str, Any], change: dict[str, Any]) -> dict[str, Any]:
    merged = dict(into)
    for key, value in change.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ShadowClient:
    def __init__(
        self, client: DeviceClient, thing: str, copy: LocalShadowCopy, on_delta: DeltaHandler | None = None
    ) -> None:
        self.client, self.thing, self.copy = client, thing, copy
        self.prefix = f"$aws/things/{thing}/shadow"
        self._answers = PendingAnswers()
        self._on_delta = on_delta
        client.subscribe(f"{self.prefix}/update/delta", self._delta)
        for op in ("get", "update", "delete"):
            client.subscribe(f"{self.prefix}/{op}/accepted", self._accepted)
            client.subscribe(f"{self.prefix}/{op}/rejected", self._rejected)
        client.subscribe(f"{self.prefix}/update/documents", self._documents)

    def _accepted(self, topic: str, payload: bytes) -> None:
        self._answers.answer(payload, True)

    def _rejected(self, topic: str, payload: bytes) -> None:
        self._answers.answer(payload, False)

    @property
    def state(self) -> dict[str, Any]:
        """The last state the device knew (from the cloud or its own reports), also after a restart."""
        return self.copy.load()[0]

    def _request(self, op: str, document: dict[str, Any], timeout: float) -> dict[str, Any]:
        token = self._answers.open()
        sent = self.client.publish_now(
            f"{self.prefix}/{op}", json.dumps({**document, "clientToken": token}).encode(), 1
        )
        if not sent:
            self._answers.answer(json.dumps({"clientToken": token}).encode(), False)
            raise ConnectError(f"shadow {op}: not connected")
        accepted, answer = self._answers.wait(token, timeout, f"shadow {op} for {self.thing}")
        if not accepted:
            raise ShadowRejectedError(int(answer.get("code", 0)), str(answer.get("message", "not connected")))
        return answer

    def get(self, timeout: float = 10.0) -> dict[str, Any]:
        answer = self._request("get", {}, timeout)
        self.copy.save(answer.get("state", {}), int(answer.get("version", 0)))
        return answer

    def update(
        self,
        *,
        desired: dict[str, Any] | None = None,
        reported: dict[str, Any] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        state: dict[str, Any] = {}
        if desired is not None:
            state["desired"] = desired
        if reported is not None:
            state["reported"] = reported
        return self._request("update", {"state": state}, timeout)

    def delete(self, timeout: float = 10.0) -> dict[str, Any]:
        answer = self._request("delete", {}, timeout)
        self.copy.save({}, int(answer.get("version", 0)))
        return answer

    def report(self, reported: dict[str, Any]) -> None:
        """Reported state, durably: kept in the outbox until the shadow service has it."""
        state, version = self.copy.load()
        self.copy.save(_merge(state, {"reported": reported}), version)
        self.client.publish(
            f"{self.prefix}/update", lambda rid: {"state": {"reported": reported}, "clientToken": rid}
        )

    def _documents(self, topic: str, payload: bytes) -> None:
        try:
            current = json.loads(payload).get("current") or {}
            self.copy.save(current.get("state", {}), int(current.get("version", 0)))
        except (ValueError, AttributeError, TypeError):
            log.warning("shadow documents message not understood", extra={"topic": topic})

    def _delta(self, topic: str, payload: bytes) -> None:
        try:
            document = json.loads(payload)
            change, version = document["state"], int(document["version"])
        except (ValueError, KeyError, TypeError):
            log.warning("shadow delta not understood", extra={"topic": topic})
            return
        state, _ = self.copy.load()
        self.copy.save(_merge(state, {"desired": change}), version)
        if self._on_delta is not None:
            self._on_delta(change, version)
