"""What the broker asks about each client, in one place: who it is (the custom authorizer), what it may
do (its IoT policy), and what the backend hears about it (lifecycle events, rules, refusals).

The amqtt plugins in `plugins` and the broker subclass in `server` only call into this.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Protocol

from cloud_backend.broker import lifecycle
from cloud_backend.broker.monitor import Monitor
from cloud_backend.broker.policy import CONNECT, PUBLISH, ClientAuthority, PolicyError, parse_policies
from cloud_backend.chat_contract import InputError, encode, inbox

log = logging.getLogger("edgeway.broker")
MAX_MESSAGE_BYTES = 128 * 1024  # IoT Core's limit for one message

Authorize = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
Rules = Callable[[str, bytes, str, list[Future[Any]]], Any]  # (topic, payload, client id, durable writes)


class Bus(Protocol):
    def publish(self, topic: str, payload: bytes, client_id: str = "", qos: int = 0) -> None:
        """Deliver to subscribers and to the rules, as a message from the backend; thread-safe."""

    def after_delivery(self, job: Callable[[], None]) -> None:
        """Run `job` once what is being delivered now is written to the subscribers (for work handed
        to another thread, which would otherwise compete with those writes); thread-safe."""


class SessionLike(Protocol):
    client_id: str | None
    username: str | None
    password: str | None
    remote_address: str | None
    will_flag: bool
    will_topic: str | None


class _TaskHandle:
    """A task where a timer handle is expected, so `cancel_timers` cancels a refresh in flight too."""

    def __init__(self, task: asyncio.Task[None]) -> None:
        self._task = task

    def cancel(self) -> None:
        self._task.cancel()


@dataclass
class Connection:
    """One authenticated connection of a client id: its authority, and what its lifecycle events say.

    IoT Core allows one connection per client id: a newer one that authenticates replaces it. A
    persistent session (clean session false) keeps its authority while it is away, so that what it
    may receive still waits for it."""

    client_id: str
    authority: ClientAuthority
    principal: str
    session_id: str
    version: int
    event: dict[str, Any]  # the authorizer's event, to ask again at refreshAfterInSeconds
    disconnect_after: float | None = None
    refresh_after: float | None = None
    handler: Any = None  # the protocol handler of the live connection
    online: bool = False
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""  # why the broker ended it, for the disconnected event
    timers: list[asyncio.TimerHandle | _TaskHandle] = field(default_factory=list)

    def cancel_timers(self) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _seconds(response: dict[str, Any], key: str) -> float | None:
    value = response.get(key)
    return (
        float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value > 0 else None
    )


class Gate:
    def __init__(
        self,
        authorize: Authorize,
        bus: Bus,
        rules: Rules,
        region: str = "us-east-1",
        account: str = "000000000000",
        now_ms: Callable[[], int] = _now_ms,
        monitor: Monitor | None = None,
    ) -> None:
        self._authorize, self.bus, self.rules = authorize, bus, rules
        self.monitor = monitor
        self.region, self.account, self.now_ms = region, account, now_ms
        self._active: dict[str, Connection] = {}  # by client id: the one connection (or kept session)
        self._versions: dict[str, int] = {}
        self.generation = 0  # moves whenever what `may` answers can change, for the broker's routes

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

    async def _decide(
        self, client_id: str, event: dict[str, Any]
    ) -> tuple[ClientAuthority, dict[str, Any]] | None:
        try:
            response = await self._authorize(event)
        except Exception:  # the authorizer failing refuses this client, never the broker
            log.exception("authorizer failed", extra={"client_id": client_id})
            return None
        if response.get("isAuthenticated") is not True:
            log.info("connection refused: not authenticated", extra={"client_id": client_id})
            return None
        try:
            policy = parse_policies(response.get("policyDocuments", []), self.region, self.account)
        except PolicyError as exc:
            log.error(
                "authorizer returned an unreadable policy", extra={"client_id": client_id, "error": str(exc)}
            )
            return None
        return ClientAuthority(policy, client_id), response

    async def authenticate(self, session: SessionLike) -> Connection | None:
        """Asks the authorizer about a CONNECT; changes nothing for anyone until `activate`."""
        client_id = session.client_id or ""
        event = self._event(session)
        decided = await self._decide(client_id, event)
        if decided is None:
            self._watch(client_id, CONNECT, client_id, False, "the authorizer did not authenticate it")
            return None
        authority, response = decided
        if not authority.may(CONNECT, client_id):
            log.info("connection refused: iot:Connect denied", extra={"client_id": client_id})
            self._watch(client_id, CONNECT, client_id, False, authority.explain(CONNECT, client_id))
            return None
        if session.will_flag and not authority.may(PUBLISH, session.will_topic or ""):
            log.info("connection refused: will topic denied", extra={"client_id": client_id})
            will = session.will_topic or ""
            self._watch(
                client_id, CONNECT, client_id, False, f"will topic: {authority.explain(PUBLISH, will)}"
            )
            return None
        self._watch(client_id, CONNECT, client_id, True, "allowed")
        return Connection(
            client_id,
            authority,
            str(response.get("principalId", "")),
            str(uuid.uuid4()),
            0,
            event,
            _seconds(response, "disconnectAfterInSeconds"),
            _seconds(response, "refreshAfterInSeconds"),
        )

    def current(self, client_id: str) -> Connection | None:
        return self._active.get(client_id)

    def activate(
        self, connection: Connection, handler: Any, close: Callable[[Connection, str], None]
    ) -> None:
        """The connection is the client id's now; `close(connection, reason)` ends it when its
        authorization lapses (disconnectAfterInSeconds, or a refresh the authorizer refuses)."""
        previous = self._active.get(connection.client_id)
        if previous is not None:
            previous.cancel_timers()
        self._versions[connection.client_id] = self._versions.get(connection.client_id, 0) + 1
        connection.version = self._versions[connection.client_id]
        connection.handler, connection.online = handler, True
        self._active[connection.client_id] = connection
        self.generation += 1
        loop = asyncio.get_running_loop()
        if connection.disconnect_after is not None:
            connection.timers.append(
                loop.call_later(connection.disconnect_after, close, connection, "CUSTOMAUTH_TTL_EXPIRATION")
            )
        if connection.refresh_after is not None:
            connection.timers.append(
                loop.call_later(connection.refresh_after, self._refresh_soon, connection, close)
            )

    def _refresh_soon(self, connection: Connection, close: Callable[[Connection, str], None]) -> None:
        task = asyncio.get_running_loop().create_task(self._refresh(connection, close))
        connection.timers.append(_TaskHandle(task))

    async def _refresh(self, connection: Connection, close: Callable[[Connection, str], None]) -> None:
        """IoT Core asks the authorizer again at refreshAfterInSeconds; a refusal ends the connection."""
        if self._active.get(connection.client_id) is not connection or not connection.online:
            return
        decided = await self._decide(connection.client_id, connection.event)
        if decided is None:
            close(connection, "AUTH_ERROR")
            return
        connection.authority, response = decided
        self.generation += 1
        refresh = _seconds(response, "refreshAfterInSeconds")
        if refresh is not None:
            loop = asyncio.get_running_loop()
            connection.timers.append(loop.call_later(refresh, self._refresh_soon, connection, close))

    def may(self, session: Any, action: str, topic: str) -> bool:
        connection = self._active.get(getattr(session, "client_id", None) or "")
        return connection is not None and connection.authority.may(action, topic)

    def decide(self, session: Any, action: str, topic: str) -> bool:
        """`may`, and what was decided (and why, when denied) to the monitor, if there is one."""
        allowed = self.may(session, action, topic)
        if self.monitor is not None:
            client_id = getattr(session, "client_id", None) or ""
            connection = self._active.get(client_id)
            reason = "allowed" if allowed else "not connected"
            if not allowed and connection is not None:
                reason = connection.authority.explain(action, topic)
            self._watch(client_id, action, topic, allowed, reason)
        return allowed

    def _watch(self, client_id: str, action: str, name: str, allowed: bool, reason: str) -> None:
        if self.monitor is not None:
            self.monitor.record(client_id, action, name, allowed, reason)

    def publish_refused(self, session: Any, topic: str, reason: str) -> None:
        client_id = getattr(session, "client_id", "") or ""
        log.info("publish dropped", extra={"client_id": client_id, "topic": topic[:256], "reason": reason})
        error = InputError(f"{reason}: {topic[:256]}", "topic")
        self.bus.publish(inbox(client_id), encode(error.to_wire()))

    def connected(self, session: Any) -> None:
        connection = self._active.get(session.client_id)
        if connection is None:
            return
        event = lifecycle.connected(
            connection.client_id,
            self.now_ms(),
            connection.session_id,
            connection.principal,
            str(session.remote_address or ""),
            connection.version,
        )
        self.bus.publish(lifecycle.topic("connected", connection.client_id), json.dumps(event).encode())

    def disconnected(self, session: Any, handler: Any, clean: bool, persistent: bool) -> None:
        """The connection of `handler` has ended; a newer connection of the same client id is not
        touched. A persistent session keeps its authority, offline, for what it may still receive."""
        connection = self._active.get(session.client_id)
        if connection is None or connection.handler is not handler or not connection.online:
            return
        connection.online = False
        connection.closed.set()
        connection.cancel_timers()
        if not persistent:
            del self._active[connection.client_id]
            self.generation += 1
        reason = connection.reason or ("CLIENT_INITIATED_DISCONNECT" if clean else "CONNECTION_LOST")
        event = lifecycle.disconnected(
            connection.client_id,
            self.now_ms(),
            connection.session_id,
            connection.principal,
            connection.version,
            clean and not connection.reason,
            reason,
        )
        self.bus.publish(lifecycle.topic("disconnected", connection.client_id), json.dumps(event).encode())

    def forget(self, client_id: str) -> None:
        """The client's kept session is gone (a clean session replaced it, or it expired)."""
        connection = self._active.get(client_id)
        if connection is not None and not connection.online:
            del self._active[client_id]
            self.generation += 1

    def accepted(self, client_id: str, topic: str, payload: bytes) -> list[Future[Any]]:
        """A client's publish the policy allowed: the rules see it. Returns the writes that make it
        durable (the store and stream actions), which a QoS 1 PUBACK waits for."""
        durable: list[Future[Any]] = []
        self.rules(topic, payload, client_id, durable)
        return durable
