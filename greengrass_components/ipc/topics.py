"""MQTT topic rules shared by local pub/sub and the IoT Core proxy."""

from __future__ import annotations

from .errors import InvalidArgumentsError

MAX_TOPIC_BYTES = 256 * 1024


def validate_topic_name(topic: object, field: str = "topic") -> str:
    """A topic to publish to: non-empty, no wildcards."""
    if not isinstance(topic, str) or not topic:
        raise InvalidArgumentsError(f"{field} is required and must be a non-empty string")
    if "+" in topic or "#" in topic:
        raise InvalidArgumentsError(f"{field} {topic!r}: cannot publish to a topic with wildcards")
    if len(topic.encode()) > MAX_TOPIC_BYTES or "\x00" in topic:
        raise InvalidArgumentsError(f"{field}: too long or contains NUL")
    return topic


def validate_topic_filter(topic: object, field: str = "topic") -> str:
    """A topic filter to subscribe to: `+` only as a whole level, `#` only as the whole last level."""
    if not isinstance(topic, str) or not topic:
        raise InvalidArgumentsError(f"{field} is required and must be a non-empty string")
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "+" in level and level != "+":
            raise InvalidArgumentsError(f"{field} {topic!r}: '+' must occupy a whole level")
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise InvalidArgumentsError(f"{field} {topic!r}: '#' must be the whole last level")
    return topic


def topic_matches(topic_filter: str, topic: str) -> bool:
    if topic_filter == topic:
        return True
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)
