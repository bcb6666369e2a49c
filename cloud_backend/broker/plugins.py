"""amqtt plugins that hand every decision to the `Gate` given in their config."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BasePlugin, BaseTopicPlugin

from cloud_backend.broker.policy import PUBLISH, RECEIVE, SUBSCRIBE

_ACTIONS = {Action.PUBLISH: PUBLISH, Action.SUBSCRIBE: SUBSCRIBE, Action.RECEIVE: RECEIVE}


class TokenAuthPlugin(BaseAuthPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        gate: Any = None

    async def authenticate(self, *, session: Any) -> bool | None:
        return bool(await self.config.gate.authenticate(session))


class IotPolicyPlugin(BaseTopicPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        gate: Any = None

    async def topic_filtering(
        self, *, session: Any = None, topic: str | None = None, action: Action | None = None
    ) -> bool | None:
        if session is None or topic is None or action not in _ACTIONS:
            return False
        allowed = bool(self.config.gate.may(session, _ACTIONS[action], topic))
        if not allowed and action == Action.PUBLISH:
            self.config.gate.publish_refused(session, topic, "not allowed to publish")
        return allowed


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
