"""PublishToIoTCore and SubscribeToIoTCore (aws.greengrass.ipc.mqttproxy), over the core's MQTT session."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from greengrass_components.cloud.mqtt_session import InboundMessage, IotCoreSession
from greengrass_components.cloud.spool import SpoolFullError

from ..authorization import MQTT_PROXY, Authorizer
from ..errors import InvalidArgumentsError, ServiceError
from ..server import CallContext, Operation
from ..topics import validate_topic_filter, validate_topic_name

PUBLISH = "aws.greengrass#PublishToIoTCore"
SUBSCRIBE = "aws.greengrass#SubscribeToIoTCore"
MAX_PAYLOAD = 128 * 1024  # IoT Core's message size limit


def _qos(request: dict[str, Any]) -> int:
    qos = str(request.get("qos", "0"))
    if qos not in ("0", "1"):
        raise InvalidArgumentsError(f"qos must be 0 or 1, got {request.get('qos')!r}")
    return int(qos)


def operations(session: IotCoreSession | None, authorizer: Authorizer) -> list[Operation]:
    def require_session() -> IotCoreSession:
        if session is None:
            raise ServiceError("this core has no IoT Core connection: start it with --iot-endpoint")
        return session

    async def publish_to_iot_core(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        topic = validate_topic_name(request.get("topicName"), "topicName")
        qos = _qos(request)
        try:
            payload = base64.b64decode(request.get("payload") or "", validate=True)
        except binascii.Error as exc:
            raise InvalidArgumentsError(f"payload is not base64: {exc}") from exc
        if len(payload) > MAX_PAYLOAD:
            raise InvalidArgumentsError(f"payload of {len(payload)} bytes is over IoT Core's {MAX_PAYLOAD}")
        authorizer.check(ctx.component, MQTT_PROXY, PUBLISH, topic)
        try:
            await require_session().publish(topic, payload, qos, bool(request.get("retain", False)))
        except SpoolFullError as exc:
            raise ServiceError(str(exc)) from exc
        return {}

    def subscribe_to_iot_core(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        topic = validate_topic_filter(request.get("topicName"), "topicName")
        qos = _qos(request)
        authorizer.check(ctx.component, MQTT_PROXY, SUBSCRIBE, topic)

        def deliver(message: InboundMessage) -> None:
            ctx.stream.send_event(
                {
                    "message": {
                        "topicName": message.topic,
                        "payload": base64.b64encode(message.payload).decode(),
                        "retain": message.retain,
                    }
                }
            )

        ctx.stream.on_close(require_session().subscribe(topic, qos, deliver))
        return {}

    return [
        Operation(PUBLISH, publish_to_iot_core),
        Operation(SUBSCRIBE, subscribe_to_iot_core, event_shape="aws.greengrass#IoTCoreMessage"),
    ]
