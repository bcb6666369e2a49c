"""The chat handler, invoked by ChatCommandsRule for everything on `chat/out`.

The rules store and fan out well-formed messages by themselves; this handler answers joins and
commands, and tells the sender, on its own inbox, what was wrong with anything else.

Event (the rule's SELECT): {"payload": <base64 of what the client sent>, "clientId", "receivedAt"}.
"""

from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from cloud_backend.chat_contract import InputError
from cloud_backend.handlers import backend as backends
from cloud_backend.handlers import chat_commands
from cloud_backend.handlers import chat_replies as send
from cloud_backend.handlers.chat_messages import Join, Message, parse

log = logging.getLogger("edgeway.chat")


def handle(backend: backends.Backend, event: dict[str, Any]) -> dict[str, Any]:
    client_id = event.get("clientId")
    if not isinstance(client_id, str) or not client_id:
        log.warning("chat event without a client id; nobody to answer", extra={"event_keys": list(event)})
        return {"outcome": "ignored", "reason": "no clientId"}
    try:
        payload = base64.b64decode(str(event.get("payload", "")), validate=True)
    except (binascii.Error, ValueError):
        payload = b"\xff"  # the rule always base64-encodes; anything else is reported as not JSON
    parsed = parse(payload)
    problem: InputError | None
    if isinstance(parsed, InputError):
        problem = parsed
    elif isinstance(parsed, Message):
        return {"outcome": "message"}  # stored and fanned out by the rules
    elif isinstance(parsed, Join):
        problem = chat_commands.join(backend, client_id, parsed.room, parsed.user or None)
    else:
        problem = chat_commands.run(backend, client_id, parsed)
    if problem is not None and not isinstance(parsed, InputError):
        problem = InputError(problem.error, problem.field, parsed.id)
    if problem is None:
        return {"outcome": type(parsed).__name__.lower()}
    log.info("refused chat input", extra={"client_id": client_id, "error": problem.error})
    send.error(backend, client_id, problem.to_wire())
    return {"outcome": "refused", "error": problem.error}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(backends.current(), event)
