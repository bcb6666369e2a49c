"""amqtt plugins that hand authentication and lifecycle events to the `Gate` given in their config
(topic decisions go to the gate from `server.IotBroker._topic_filtering`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.plugins.base import BaseAuthPlugin, BasePlugin


class TokenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        gate: Any = None

    async def authenticate(self, *, session: Any) -> bool | None:
        return bool(await self.config.gate.authenticate(session))


class BackendEventsPlugin(BasePlugin[Any]):  # type: ignore[misc]
    @dataclass
    class Config:
        gate: Any = None

    async def on_broker_client_connected(self, *, client_id: str, client_session: Any) -> None:
        self.config.gate.connected(client_session)

    async def on_broker_client_disconnected(self, *, client_id: str, client_session: Any) -> None:
        self.config.gate.disconnected(client_session, bool(getattr(client_session, "edgeway_clean", False)))

    async def on_broker_message_broadcast(self, *, client_id: str, message: Any) -> None:
        self.config.gate.accepted(client_id, message.topic, bytes(message.data))
