"""The documents the chat backend sends, and where: a client's inbox and a room's fan-out topic."""

from __future__ import annotations

from typing import Any

from cloud_backend.chat_contract import inbox, room_topic
from cloud_backend.handlers.backend import Backend
from cloud_backend.store.records import ChatMessage

HISTORY_ON_JOIN = 50


def reply(backend: Backend, client_id: str, command: str, **fields: Any) -> None:
    backend.publisher.publish(inbox(client_id), {"type": "reply", "command": command, **fields})


def error(backend: Backend, client_id: str, document: dict[str, Any]) -> None:
    backend.publisher.publish(inbox(client_id), document)


def system(backend: Backend, room: str, text: str) -> None:
    backend.publisher.publish(
        room_topic(room), {"type": "system", "room": room, "text": text, "ts": backend.now_ms()}
    )


def history(backend: Backend, client_id: str, room: str, limit: int, before: str | None = None) -> None:
    """A page of the room's messages, oldest first; `cursor` asks for the page before it."""
    messages: list[ChatMessage] = backend.messages.recent(room, limit, before)
    page: dict[str, object] = {"type": "history", "room": room, "messages": [m.to_wire() for m in messages]}
    if len(messages) == limit:
        page["cursor"] = messages[0].sk  # there may be older ones
    backend.publisher.publish(inbox(client_id), page)
