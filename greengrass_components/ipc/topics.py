"""Topic checks for IPC requests: the shared MQTT rules, failing as the IPC error shape."""

from __future__ import annotations

from edgeway_common import topics
from edgeway_common.errors import TopicError

from .errors import InvalidArgumentsError


def validate_topic_name(topic: object, field: str = "topic") -> str:
    try:
        return topics.validate_topic_name(topic, field)
    except TopicError as exc:
        raise InvalidArgumentsError(str(exc)) from exc


def validate_topic_filter(topic: object, field: str = "topic") -> str:
    try:
        return topics.validate_topic_filter(topic, field)
    except TopicError as exc:
        raise InvalidArgumentsError(str(exc)) from exc
