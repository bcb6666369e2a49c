"""MQTT topic filters, as a rule's FROM uses them."""

from __future__ import annotations


def matches(topic_filter: str, topic: str) -> bool:
    """True when `topic` matches `topic_filter` (`+` one level, `#` the rest; `$` topics only by name)."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels, parts = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(parts) or (level != "+" and level != parts[index]):
            return False
    return len(levels) == len(parts)
