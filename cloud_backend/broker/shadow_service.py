"""The device shadow MQTT API, as IoT Core serves it, over the shadow store in SQLite.

Requests on `$aws/things/{thing}/shadow[/name/{name}]/{get,update,delete}`; answers on `.../accepted`
or `.../rejected` (`{code, message, timestamp, clientToken}`), and for an update also `.../update/delta`
(what desired holds that reported does not) and `.../update/documents` (previous and current).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeway_common.shadow_document import (
    Shadow,
    ShadowDocumentError,
    ShadowVersionConflict,
    apply_update,
    delete,
    delta,
    get_document,
    parse_update,
)
from edgeway_common.shadow_store import ShadowStore

_REQUEST = re.compile(
    r"^\$aws/things/(?P<thing>[A-Za-z0-9:_-]{1,128})/shadow(?:/name/(?P<name>[A-Za-z0-9:_-]{1,64}))?"
    r"/(?P<op>get|update|delete)$"
)
Publish = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class ShadowRequest:
    thing: str
    name: str
    op: str

    @property
    def prefix(self) -> str:
        named = f"/name/{self.name}" if self.name else ""
        return f"$aws/things/{self.thing}/shadow{named}"


def parse_topic(topic: str) -> ShadowRequest | None:
    match = _REQUEST.match(topic)
    if match is None:
        return None
    return ShadowRequest(match["thing"], match["name"] or "", match["op"])


def _document(shadow: Shadow) -> dict[str, Any]:
    return {"state": shadow.state, "metadata": shadow.metadata, "version": shadow.version}


class ShadowService:
    def __init__(self, store: ShadowStore, publish: Publish, now_ms: Callable[[], int]) -> None:
        self.store, self.publish, self.now_ms = store, publish, now_ms

    def handle(self, request: ShadowRequest, payload: bytes) -> tuple[bool, dict[str, Any]]:
        """Carries out a request from MQTT or from the HTTP API (UpdateThingShadow and friends): the
        answer is published on `/accepted` or `/rejected` either way, and returned."""
        now = self.now_ms() // 1000
        token = _client_token(payload)
        current = self.store.get(request.thing, request.name)
        try:
            if request.op == "update":
                return True, self._update(request, current, payload, now)
            if not current.exists:
                name = request.name or "Unnamed Shadow"
                return False, self._reject(request, 404, f"No shadow exists with name: '{name}'", now, token)
            if request.op == "get":
                return True, self._answer(request, get_document(current, now), token)
            updated, response = delete(current, now)
            self.store.put(request.thing, request.name, updated)
            return True, self._answer(request, response, token)
        except ShadowDocumentError as exc:
            return False, self._reject(request, 400, str(exc), now, token)
        except ShadowVersionConflict as exc:
            return False, self._reject(request, 409, str(exc), now, token)

    def _update(self, request: ShadowRequest, current: Shadow, payload: bytes, now: int) -> dict[str, Any]:
        document = parse_update(payload)
        updated, response = apply_update(current, document, now)
        self.store.put(request.thing, request.name, updated)
        answer = self._answer(request, response, document.get("clientToken"))
        difference = delta(updated.state.get("desired"), updated.state.get("reported", {}))
        if difference and "desired" in document["state"]:
            delta_doc: dict[str, Any] = {"state": difference, "version": updated.version, "timestamp": now}
            self.publish(f"{request.prefix}/update/delta", delta_doc)
        documents = {
            "previous": _document(current) if current.exists else None,
            "current": _document(updated),
            "timestamp": now,
        }
        if "clientToken" in document:
            documents["clientToken"] = document["clientToken"]
        self.publish(f"{request.prefix}/update/documents", documents)
        return answer

    def _answer(self, request: ShadowRequest, document: dict[str, Any], token: Any) -> dict[str, Any]:
        if token is not None:
            document["clientToken"] = token
        self.publish(f"{request.prefix}/{request.op}/accepted", document)
        return document

    def _reject(
        self, request: ShadowRequest, code: int, message: str, now: int, token: Any
    ) -> dict[str, Any]:
        document: dict[str, Any] = {"code": code, "message": message, "timestamp": now}
        if token is not None:
            document["clientToken"] = token
        self.publish(f"{request.prefix}/{request.op}/rejected", document)
        return document


def _client_token(payload: bytes) -> Any:
    try:
        document = json.loads(payload) if payload else {}
    except (UnicodeDecodeError, ValueError):
        return None
    return document.get("clientToken") if isinstance(document, dict) else None
