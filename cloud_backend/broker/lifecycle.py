"""IoT Core's lifecycle events, `$aws/events/presence/{connected,disconnected}/{clientId}`. Pure."""

from __future__ import annotations

from typing import Any


def connected(
    client_id: str, when: int, session_id: str, principal: str, address: str, version: int
) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "timestamp": when,
        "eventType": "connected",
        "sessionIdentifier": session_id,
        "principalIdentifier": principal,
        "ipAddress": address,
        "versionNumber": version,
    }


def disconnected(
    client_id: str, when: int, session_id: str, principal: str, version: int, clean: bool, reason: str
) -> dict[str, Any]:
    return {
        "clientId": client_id,
        "timestamp": when,
        "eventType": "disconnected",
        "sessionIdentifier": session_id,
        "principalIdentifier": principal,
        "clientInitiatedDisconnect": clean,
        "disconnectReason": reason,
        "versionNumber": version,
    }


def topic(kind: str, client_id: str) -> str:
    return f"$aws/events/presence/{kind}/{client_id}"
