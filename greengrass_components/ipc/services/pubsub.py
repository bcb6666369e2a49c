"""Local publish/subscribe between components (aws.greengrass.ipc.pubsub)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edgeway_common.topics import topic_matches

from ..authorization import PUBSUB, Authorizer
from ..errors import InvalidArgumentsError
from ..server import CallContext, Operation
from ..topics import validate_topic_filter, validate_topic_name

PUBLISH = "aws.greengrass#PublishToTopic"
SUBSCRIBE = "aws.greengrass#SubscribeToTopic"
RECEIVE_ALL = "RECEIVE_ALL_MESSAGES"
RECEIVE_FROM_OTHERS = "RECEIVE_MESSAGES_FROM_OTHERS"


@dataclass(eq=False)
class Subscription:
    component: str
    topic_filter: str
    receive_mode: str
    deliver: Callable[[dict[str, Any]], None]


class LocalPubSub:
    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    def subscribe(self, subscription: Subscription) -> Callable[[], None]:
        self._subscriptions.append(subscription)
        return lambda: (
            self._subscriptions.remove(subscription) if subscription in self._subscriptions else None
        )

    @property
    def subscription_count(self) -> int:
        return len(self._subscriptions)

    def publish(self, publisher: str, topic: str, body: dict[str, Any]) -> int:
        """Deliver to every matching subscription; returns how many got it."""
        delivered = 0
        for subscription in list(self._subscriptions):
            if subscription.receive_mode == RECEIVE_FROM_OTHERS and subscription.component == publisher:
                continue
            if topic_matches(subscription.topic_filter, topic):
                subscription.deliver(body)
                delivered += 1
        return delivered


def _message_body(request: dict[str, Any], topic: str) -> dict[str, Any]:
    message = request.get("publishMessage")
    if not isinstance(message, dict):
        raise InvalidArgumentsError("publishMessage is required: give jsonMessage or binaryMessage")
    kinds = [k for k in ("jsonMessage", "binaryMessage") if isinstance(message.get(k), dict)]
    if len(kinds) != 1:
        raise InvalidArgumentsError("publishMessage must have exactly one of jsonMessage or binaryMessage")
    kind = kinds[0]
    payload = message[kind].get("message")
    if kind == "binaryMessage" and not isinstance(payload, str):
        raise InvalidArgumentsError("binaryMessage.message must be base64 text")
    return {kind: {"message": payload, "context": {"topic": topic}}}


def operations(pubsub: LocalPubSub, authorizer: Authorizer) -> list[Operation]:
    def publish_to_topic(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        topic = validate_topic_name(request.get("topic"))
        body = _message_body(request, topic)
        authorizer.check(ctx.component, PUBSUB, PUBLISH, topic)
        pubsub.publish(ctx.component, topic, body)
        return {}

    def subscribe_to_topic(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        topic = validate_topic_filter(request.get("topic"))
        mode = request.get("receiveMode") or RECEIVE_ALL
        if mode not in (RECEIVE_ALL, RECEIVE_FROM_OTHERS):
            raise InvalidArgumentsError(
                f"receiveMode must be {RECEIVE_ALL} or {RECEIVE_FROM_OTHERS}, got {mode!r}"
            )
        authorizer.check(ctx.component, PUBSUB, SUBSCRIBE, topic)
        ctx.stream.on_close(pubsub.subscribe(Subscription(ctx.component, topic, mode, ctx.stream.send_event)))
        return {}

    return [
        Operation(PUBLISH, publish_to_topic),
        Operation(SUBSCRIBE, subscribe_to_topic, event_shape="aws.greengrass#SubscriptionResponseMessage"),
    ]
