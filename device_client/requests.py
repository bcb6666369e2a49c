"""Request and answer over MQTT, as the shadow and jobs APIs work: publish with a client token, wait for
`/accepted` or `/rejected` carrying the same token."""

from __future__ import annotations

import json
import threading
import uuid
from typing import Any

from .errors import RequestTimeoutError


class PendingAnswers:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[tuple[bool, dict[str, Any]]]]] = {}

    def open(self) -> str:
        token = uuid.uuid4().hex
        with self._lock:
            self._waiting[token] = (threading.Event(), [])
        return token

    def answer(self, payload: bytes, accepted: bool) -> bool:
        """Hands an answer to whoever waits for its token; False when nobody does."""
        try:
            document = json.loads(payload)
        except (UnicodeDecodeError, ValueError):
            return False
        token = document.get("clientToken") if isinstance(document, dict) else None
        with self._lock:
            waiting = self._waiting.get(token) if isinstance(token, str) else None
        if waiting is None:
            return False
        waiting[1].append((accepted, document))
        waiting[0].set()
        return True

    def wait(self, token: str, timeout: float, what: str) -> tuple[bool, dict[str, Any]]:
        with self._lock:
            event, box = self._waiting[token]
        try:
            if not event.wait(timeout):
                raise RequestTimeoutError(f"{what}: no answer in {timeout:g} s")
            return box[0]
        finally:
            with self._lock:
                self._waiting.pop(token, None)
