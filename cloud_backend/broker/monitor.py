"""What the broker decided, for a person watching: each connect, subscribe and publish with its IoT
policy decision (and, when denied, the statement or the absence of one that decided it). A bounded ring
of the latest events, read after a sequence number; nothing is kept when nobody asked for a monitor."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any

CAPACITY = 2000


class Monitor:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self._events: deque[dict[str, Any]] = deque(maxlen=capacity)
        self._seq = 0
        self._lock = threading.Lock()

    def record(self, client_id: str, action: str, name: str, allowed: bool, reason: str) -> None:
        with self._lock:
            self._seq += 1
            self._events.append(
                {
                    "seq": self._seq,
                    "ts": int(time.time() * 1000),
                    "clientId": client_id,
                    "action": action,
                    "name": name[:256],
                    "allowed": allowed,
                    "reason": reason,
                }
            )

    def since(self, seq: int, limit: int = 500) -> list[dict[str, Any]]:
        with self._lock:
            return [event for event in self._events if event["seq"] > seq][:limit]
