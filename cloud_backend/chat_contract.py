"""The chat contract every side keeps: where a client's private inbox and a room's fan-out live, the
error document a client gets about what it sent, and how documents are written on the wire.

The handlers (in AWS and locally) and the stand-in's broker both depend on this module, and it on
nothing, so the broker can refuse a publish in the handlers' words without importing them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

CHAT_OUT = "chat/out"


def inbox(client_id: str) -> str:
    """The client's own inbox: history, command replies, errors about what it sent."""
    return f"chat/in/{client_id}"


def room_topic(room: str) -> str:
    return f"chat/pub/{room}"


@dataclass(frozen=True)
class InputError:
    """Why a payload was refused; `field` names the part that was wrong ("" for the whole payload)."""

    error: str
    field: str = ""
    id: str | None = None

    def to_wire(self) -> dict[str, Any]:
        return {"type": "error", "error": self.error, "field": self.field, "id": self.id}


def encode(document: dict[str, Any]) -> bytes:
    """Compact JSON, UTF-8 kept as is: what handlers publish and browsers read."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
