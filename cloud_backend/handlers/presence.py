"""The presence handler: the broker's lifecycle events become who is online, per room and per device.

Event (PresenceRule's SELECT of IoT Core's lifecycle JSON): {"clientId", "eventType": "connected" |
"disconnected", "timestamp", "sessionIdentifier", "principalIdentifier"?, "disconnectReason"?}.
Lifecycle events can arrive out of order; one older than what is stored for the client is ignored.
A client whose principal the authorizer named `device...` is a device: its state goes to the
dashboard on `dash/devices/{clientId}`. A person who leaves is announced in the room they were in.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from cloud_backend.handlers import backend as backends
from cloud_backend.handlers import chat_replies as send
from cloud_backend.store.records import Presence

log = logging.getLogger("edgeway.presence")
EVENTS = ("connected", "disconnected")


def handle(backend: backends.Backend, event: dict[str, Any]) -> dict[str, Any]:
    client_id, kind, when = event.get("clientId"), event.get("eventType"), event.get("timestamp")
    if not isinstance(client_id, str) or kind not in EVENTS or not isinstance(when, int):
        log.warning("not a lifecycle event", extra={"event": {k: str(v)[:64] for k, v in event.items()}})
        return {"outcome": "ignored", "reason": "not a lifecycle event"}
    principal = str(event.get("principalIdentifier", ""))
    known = backend.presence.get(client_id)
    if known is not None and known.since > when:
        return {"outcome": "ignored", "reason": "older than the stored state"}
    online = kind == "connected"
    device = principal.startswith("device") or (known is not None and known.kind == "device")
    current = known or Presence(client_id, client_id, online, when, kind="device" if device else "user")
    updated = replace(current, online=online, since=when, room=current.room if online else "")
    backend.presence.put(updated)
    if device:
        backend.publisher.publish(
            f"dash/devices/{client_id}", {"thing": client_id, "online": online, "since": when}
        )
    elif not online and current.room:
        send.system(backend, current.room, f"{current.nick} went offline")
    return {"outcome": kind}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(backends.current(), event)
