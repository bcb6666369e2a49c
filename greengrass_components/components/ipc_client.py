"""What every component does with its core, through the official `awsiotsdk` IPC client only.

`CoreLink` wraps `GreengrassCoreIPCClientV2` for the few calls components make: read the configuration,
publish and subscribe JSON on local topics, publish to IoT Core, report a state. Stream callbacks run
on the SDK's connection thread (no executor), so messages arrive in the order the core sent them; a
callback must hand the message on and return.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from awsiot.greengrasscoreipc import model
from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

from .handoff import HandOff, HandOffFull

RECEIVE_FROM_OTHERS = "RECEIVE_MESSAGES_FROM_OTHERS"


def message_body(event: model.SubscriptionResponseMessage) -> tuple[str, Any]:
    """(topic, body): a JSON message's document, or a binary message's bytes."""
    if event.json_message is not None:
        context = event.json_message.context
        return (context.topic if context else ""), event.json_message.message
    binary = event.binary_message
    if binary is not None:
        return (binary.context.topic if binary.context else ""), bytes(binary.message or b"")
    return "", None


class CoreLink:
    def __init__(
        self, client: GreengrassCoreIPCClientV2 | None = None, handoff: HandOff | None = None
    ) -> None:
        self.client = client or GreengrassCoreIPCClientV2(executor=None)
        self.handoff = handoff
        self._operations: list[Any] = []

    def configuration(self) -> dict[str, Any]:
        value = self.client.get_configuration(key_path=[]).value
        return dict(value or {})

    def publish_json(self, topic: str, document: Any) -> None:
        self.client.publish_to_topic(
            topic=topic,
            publish_message=model.PublishMessage(json_message=model.JsonMessage(message=document)),
        )

    def publish_records(self, topic: str, thing: str, source: str, records: list[dict[str, Any]]) -> None:
        """The envelope every component's records travel in, and the uplink reads:
        `{"thing", "source", "records": [...]}`. With a hand-off, the records are committed to it first
        (durable whether or not the uplink runs), and the local copy says so (`handedOff`)."""
        envelope: dict[str, Any] = {"thing": thing, "source": source, "records": records}
        if self.handoff is not None:
            with contextlib.suppress(HandOffFull):  # the uplink has long been away: IPC only, as before
                self.handoff.append(topic, envelope)
                envelope = envelope | {"handedOff": True}
        self.publish_json(topic, envelope)

    def publish_bytes(self, topic: str, payload: bytes) -> None:
        self.client.publish_to_topic(
            topic=topic,
            publish_message=model.PublishMessage(binary_message=model.BinaryMessage(message=payload)),
        )

    def subscribe(
        self, topic: str, deliver: Callable[[str, Any], None], *, from_others: bool = False
    ) -> None:
        def on_event(event: model.SubscriptionResponseMessage) -> None:
            deliver(*message_body(event))

        _, operation = self.client.subscribe_to_topic(
            topic=topic, receive_mode=RECEIVE_FROM_OTHERS if from_others else None, on_stream_event=on_event
        )
        self._operations.append(operation)

    def subscribe_iot_core(self, topic: str, deliver: Callable[[str, bytes], None]) -> None:
        def on_event(event: model.IoTCoreMessage) -> None:
            message = event.message
            if message is not None:
                deliver(message.topic_name or "", bytes(message.payload or b""))

        _, operation = self.client.subscribe_to_iot_core(
            topic_name=topic, qos=model.QOS.AT_LEAST_ONCE, on_stream_event=on_event
        )
        self._operations.append(operation)

    def publish_iot_core_async(self, topic: str, payload: bytes, qos: int = 1) -> Future[Any]:
        future: Future[Any] = self.client.publish_to_iot_core_async(
            topic_name=topic, qos=model.QOS.AT_LEAST_ONCE if qos else model.QOS.AT_MOST_ONCE, payload=payload
        )
        return future

    def report(self, state: str) -> None:
        self.client.update_state(state=state)

    def close(self) -> None:
        for operation in self._operations:
            with contextlib.suppress(Exception):  # the connection may already be gone
                operation.close()
        self.client.close()


def thing_name() -> str:
    """The core's thing name, as the nucleus gives it to every component."""
    return os.environ.get("AWS_IOT_THING_NAME", "")
