"""MQTT topic names, filters and matching: one rule set for the local core's pub/sub, its IoT Core
proxy, the bridge, the uplink and the stand-in's rules engine.

Matching follows MQTT 3.1.1 section 4.7: `+` is one whole level, `#` the whole last level and also
the level above it (`a/#` matches `a`), and a filter whose first level is a wildcard does not match a
topic that starts with `$` (`#` does not see `$aws/...`; `$aws/things/+/shadow/#` does). IoT Core and
Mosquitto apply that `$` rule; the nucleus's local pub/sub trie does not, which the README lists.
"""

from __future__ import annotations

from .errors import TopicError

MAX_TOPIC_BYTES = 256 * 1024


def validate_topic_name(topic: object, field: str = "topic") -> str:
    """A topic to publish to: non-empty, no wildcards, no NUL, at most 256 KiB."""
    if not isinstance(topic, str) or not topic:
        raise TopicError(f"{field} is required and must be a non-empty string")
    if "+" in topic or "#" in topic:
        raise TopicError(f"{field} {topic!r}: cannot publish to a topic with wildcards")
    if len(topic.encode()) > MAX_TOPIC_BYTES or "\x00" in topic:
        raise TopicError(f"{field}: too long or contains NUL")
    return topic


def validate_topic_filter(topic: object, field: str = "topic") -> str:
    """A topic filter to subscribe to: `+` only as a whole level, `#` only as the whole last level."""
    if not isinstance(topic, str) or not topic:
        raise TopicError(f"{field} is required and must be a non-empty string")
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "+" in level and level != "+":
            raise TopicError(f"{field} {topic!r}: '+' must occupy a whole level")
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise TopicError(f"{field} {topic!r}: '#' must be the whole last level")
    return topic


def topic_matches(topic_filter: str, topic: str) -> bool:
    """True when `topic` matches `topic_filter`."""
    if topic_filter == topic:
        return True
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels, parts = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(parts) or (level != "+" and level != parts[index]):
            return False
    return len(levels) == len(parts)
