"""The embedded broker: amqtt on TCP and WebSocket (`/mqtt` only), with what IoT Core adds.

amqtt refuses every client publish to a `$` topic and closes the connection; IoT Core accepts the
device shadow API there. This subclass takes `$` publishes first: a shadow request the client's policy
allows goes to the shadow service, anything else is dropped (the client stays connected). It also
drops messages over IoT Core's 128 KB limit, and notes whether a disconnect was the client's own, for
the lifecycle event, and asks the gate directly whether a client may subscribe, publish or receive.
Besides amqtt's documented plugin hooks only these four methods are used; the amqtt version is pinned
in pyproject.toml for that reason.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import websockets
from amqtt.broker import Broker
from amqtt.contexts import Action, ListenerType
from amqtt.mqtt.disconnect import DisconnectPacket

from cloud_backend.broker.gate import MAX_MESSAGE_BYTES, Gate
from cloud_backend.broker.policy import PUBLISH, RECEIVE, SUBSCRIBE
from cloud_backend.broker.shadow_service import ShadowService, parse_topic

WS_PATH = "/mqtt"
_ACTIONS = {Action.PUBLISH: PUBLISH, Action.SUBSCRIBE: SUBSCRIBE, Action.RECEIVE: RECEIVE}


def broker_config(gate: Gate, mqtt_port: int, ws_port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    listeners: dict[str, Any] = {"default": {"type": "tcp", "bind": f"{host}:{mqtt_port}"}}
    if ws_port:
        listeners["ws"] = {"type": "ws", "bind": f"{host}:{ws_port}"}
    return {
        "listeners": listeners,
        "plugins": {
            "cloud_backend.broker.plugins.TokenAuthPlugin": {"gate": gate},
            "cloud_backend.broker.plugins.BackendEventsPlugin": {"gate": gate},
        },
    }


def _only_mqtt_path(connection: Any, request: Any) -> Any:
    if request.path.split("?", 1)[0] != WS_PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, f"MQTT over WebSocket is served at {WS_PATH}\n")
    return None


class IotBroker(Broker):  # type: ignore[misc]
    def __init__(self, config: dict[str, Any], gate: Gate, shadows: ShadowService, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.gate, self.shadows = gate, shadows

    async def _create_server_instance(
        self,
        listener_name: str,
        listener_type: Any,
        address: str | None,
        port: int,
        ssl_context: ssl.SSLContext | None,
    ) -> Any:
        if listener_type != ListenerType.WS:
            return await super()._create_server_instance(
                listener_name, listener_type, address, port, ssl_context
            )
        return await websockets.serve(
            lambda ws: self.ws_connected(ws, listener_name),
            address,
            port,
            ssl=ssl_context,
            subprotocols=[websockets.Subprotocol("mqtt")],
            process_request=_only_mqtt_path,
        )

    async def _topic_filtering(self, session: Any, topic: str, action: Action) -> bool:
        """Every subscribe, publish and delivery, straight to the gate. amqtt's own path gathers a task
        per plugin per delivery; with 50 subscribers that was most of a fan-out's cost."""
        allowed = self.gate.may(session, _ACTIONS[action], topic)
        if not allowed and action == Action.PUBLISH:
            self.gate.publish_refused(session, topic, "not allowed to publish")
        return allowed

    async def _handle_message_delivery(self, client_session: Any, handler: Any, wait_deliver: Any) -> bool:
        message = wait_deliver.result()
        if message is not None and message.topic and message.data is not None:
            if len(message.data) > MAX_MESSAGE_BYTES:
                self.gate.publish_refused(
                    client_session, message.topic, f"message over {MAX_MESSAGE_BYTES} bytes"
                )
                return True
            if message.topic.startswith("$"):
                self._reserved(client_session, message.topic, bytes(message.data))
                return True
        result: bool = await super()._handle_message_delivery(client_session, handler, wait_deliver)
        return result

    def _reserved(self, session: Any, topic: str, payload: bytes) -> None:
        request = parse_topic(topic)
        if request is None:
            self.gate.publish_refused(session, topic, "not a topic clients may publish to")
        elif not self.gate.may(session, PUBLISH, topic):
            self.gate.publish_refused(session, topic, "not allowed to publish")
        else:
            self.shadows.handle(request, payload)

    async def _handle_disconnect(self, client_session: Any, handler: Any, disconnect_waiter: Any) -> None:
        client_session.edgeway_clean = isinstance(disconnect_waiter.result(), DisconnectPacket)
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)


class LoopBus:
    """Publishing from the backend (any thread): to subscribers through the broker, and to the rules."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.broker: Broker | None = None  # both set once built: the rules publish through this bus
        self.rules: Callable[[str, bytes, str], Any] | None = None
        self._pending: set[asyncio.Task[None]] = set()  # the loop keeps only weak references to tasks

    def publish(self, topic: str, payload: bytes, client_id: str = "") -> None:
        self.loop.call_soon_threadsafe(self._publish_now, topic, payload, client_id)

    def _publish_now(self, topic: str, payload: bytes, client_id: str) -> None:
        if self.broker is not None:
            task = self.loop.create_task(self.broker.internal_message_broadcast(topic, payload))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        if self.rules is not None:
            self.rules(topic, payload, client_id)
