"""What the broker asks about each client, in one place: who it is (the custom authorizer), what it may
do (its IoT policy), and what the backend hears about it (lifecycle events, rules, refusals).

The amqtt plugins in `plugins` and the broker subclass in `server` only call into this.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cloud_backend.broker import lifecycle
from cloud_backend.broker.policy import CONNECT, PUBLISH, ClientAuthority, PolicyError, parse_policies
from cloud_backend.handlers.chat_messages import InputError
from cloud_backend.handlers.chat_replies import inbox
from cloud_backend.handlers.publisher import encode

log = logging.getLogger("edgeway.broker")
MAX_MESSAGE_BYTES = 128 * 1024  # IoT Core's limit for one message

Authorize = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class Bus(Protocol):
    def publish(self, topic: str, payload: bytes, client_id: str = "") -> None:
        """Deliver to subscribers and to the rules, as a message from the backend; thread-safe."""


class SessionLike(Protocol):
    client_id: str | None
    username: str | None
    password: str | None
    remote_address: str | None
    will_flag: bool
    will_topic: str | None


@dataclass
class _Connection:
    authority: ClientAuthority
    principal: str
    session_id: str
    version: int


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Gate:
    def __init__(
        self,
        authorize: Authorize,
        bus: Bus,
        rules: Callable[[str, bytes, str], Any],
        region: str = "us-east-1",
        account: str = "000000000000",
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._authorize, self.bus, self.rules = authorize, bus, rules
        self.region, self.account, self.now_ms = region, account, now_ms
        self._connections: dict[int, _Connection] = {}  # by id(session): amqtt sessions are not hashable
        self._versions: dict[str, int] = {}

    def _event(self, session: SessionLike) -> dict[str, Any]:
        password = session.password or ""
        raw = password.encode() if isinstance(password, str) else bytes(password)
        return {
            "protocols": ["mqtt"],
            "protocolData": {
                "mqtt": {
                    "username": session.username or "",
                    "password": base64.b64encode(raw).decode("ascii"),
                    "clientId": session.client_id or "",
                }
            },
            "connectionMetadata": {"id": str(uuid.uuid4())},
        }

    async def authenticate(self, session: SessionLike) -> bool:
        client_id = session.client_id or ""
        try:
            response = await self._authorize(self._event(session))
        except Exception:  # the authorizer failing refuses this client, never the broker
            log.exception("authorizer failed", extra={"client_id": client_id})
            return False
        if response.get("isAuthenticated") is not True:
            log.info("connection refused: not authenticated", extra={"client_id": client_id})
            return False
        try:
            policy = parse_policies(response.get("policyDocuments", []), self.region, self.account)
        except PolicyError as exc:
            log.error(
                "authorizer returned an unreadable policy", extra={"client_id": client_id, "error": str(exc)}
            )
            return False
        authority = ClientAuthority(policy, client_id)
        if not authority.may(CONNECT, client_id):
            log.info("connection refused: iot:Connect denied", extra={"client_id": client_id})
            return False
        if session.will_flag and not authority.may(PUBLISH, session.will_topic or ""):
            log.info("connection refused: will topic denied", extra={"client_id": client_id})
            return False
        self._versions[client_id] = self._versions.get(client_id, 0) + 1
        principal = str(response.get("principalId", ""))
        self._connections[id(session)] = _Connection(
            authority, principal, str(uuid.uuid4()), self._versions[client_id]
        )
        return True

    def may(self, session: Any, action: str, topic: str) -> bool:
        connection = self._connections.get(id(session))
        return connection is not None and connection.authority.may(action, topic)

    def publish_refused(self, session: Any, topic: str, reason: str) -> None:
        client_id = getattr(session, "client_id", "") or ""
        log.info("publish dropped", extra={"client_id": client_id, "topic": topic[:256], "reason": reason})
        error = InputError(f"{reason}: {topic[:256]}", "topic")
        self.bus.publish(inbox(client_id), encode(error.to_wire()))

    def connected(self, session: Any) -> None:
        connection = self._connections.get(id(session))
        if connection is None:
            return
        client_id = session.client_id
        event = lifecycle.connected(
            client_id,
            self.now_ms(),
            connection.session_id,
            connection.principal,
            str(session.remote_address or ""),
            connection.version,
        )
        self.bus.publish(lifecycle.topic("connected", client_id), json.dumps(event).encode())

    def disconnected(self, session: Any, clean: bool) -> None:
        connection = self._connections.pop(id(session), None)
        if connection is None:
            return
        client_id = session.client_id
        event = lifecycle.disconnected(
            client_id, self.now_ms(), connection.session_id, connection.principal, connection.version, clean
        )
        self.bus.publish(lifecycle.topic("disconnected", client_id), json.dumps(event).encode())

    def accepted(self, client_id: str, topic: str, payload: bytes) -> None:
        """A client's publish the policy allowed: the rules see it."""
        self.rules(topic, payload, client_id)
