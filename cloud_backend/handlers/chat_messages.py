"""What a client may send on `chat/out`, parsed and validated once. Pure.

The store and republish rules in template.yaml accept a message by the same limits, in IoT SQL;
tests/unit/test_chat_validation.py holds the two to agreement on generated payloads.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from cloud_backend.chat_contract import InputError

MAX_TEXT = 1000
MAX_ID = 64
MAX_USER = 32
MAX_COMMAND = 200
MAX_PAYLOAD = 16 * 1024
KINDS = ("message", "join", "command")
# A room is any name of this shape: a person creates one by joining it. The template's rules check the
# same shape in IoT SQL (a first character, then no character outside the set, at most 32).
ROOM = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
ROOM_RULE = "1 to 32 lowercase letters, digits, _ or -, starting with a letter or digit"


@dataclass(frozen=True)
class Message:
    room: str
    text: str
    id: str
    user: str


@dataclass(frozen=True)
class Join:
    room: str
    user: str
    id: str | None


@dataclass(frozen=True)
class Command:
    name: str
    argument: str
    room: str | None
    user: str | None
    id: str | None


ChatInput = Message | Join | Command


def _string(document: dict[str, Any], name: str, longest: int, *, required: bool = True) -> str | InputError:
    value = document.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        return InputError(f"{name} must be a string", name)
    if not 1 <= len(value) <= longest:
        return InputError(f"{name} must be 1 to {longest} characters (got {len(value)})", name)
    return value


def is_room(name: str) -> bool:
    return ROOM.fullmatch(name) is not None


def not_a_room(room: str, field: str) -> InputError:
    return InputError(f"{room!r} is not a room name: {ROOM_RULE}", field)


def _room(document: dict[str, Any]) -> str | InputError:
    room = _string(document, "room", 32)
    if isinstance(room, str) and not is_room(room):
        return not_a_room(room, "room")
    return room


def parse(payload: bytes) -> ChatInput | InputError:
    if len(payload) > MAX_PAYLOAD:
        return InputError(f"payload is {len(payload)} bytes; the limit is {MAX_PAYLOAD}")
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        return InputError(f"payload is not JSON: {exc}")
    if not isinstance(document, dict):
        return InputError("payload must be a JSON object")
    raw_id = document.get("id")
    client_id = raw_id if isinstance(raw_id, str) and len(raw_id) <= MAX_ID else None
    kind = document.get("type")
    if kind not in KINDS:
        return InputError(f"type must be one of {', '.join(KINDS)}", "type", client_id)
    parsed = _parse_kind(kind, document)
    if isinstance(parsed, InputError):
        return InputError(parsed.error, parsed.field, client_id)
    return parsed if isinstance(parsed, Message) else replace(parsed, id=client_id)


def _parse_kind(kind: str, document: dict[str, Any]) -> ChatInput | InputError:
    if kind == "message":
        fields = [
            _string(document, "text", MAX_TEXT),
            _string(document, "id", MAX_ID),
            _string(document, "user", MAX_USER),
            _room(document),
        ]
        for value in fields:
            if isinstance(value, InputError):
                return value
        text, message_id, user, room = (str(v) for v in fields)
        return Message(room, text, message_id, user)
    sender = _string(document, "user", MAX_USER, required=False)
    if isinstance(sender, InputError):
        return sender
    if kind == "join":
        joined = _room(document)
        return joined if isinstance(joined, InputError) else Join(joined, sender, None)
    command = _string(document, "text", MAX_COMMAND)
    if isinstance(command, InputError):
        return command
    if not command.startswith("/"):
        return InputError("a command starts with /", "text")
    name, _, argument = command[1:].partition(" ")
    named_room = document.get("room")
    return Command(
        name.lower(),
        argument.strip(),
        named_room if isinstance(named_room, str) else None,
        sender or None,
        None,
    )
