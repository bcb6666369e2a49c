"""The MQTT bridge's `mqttTopicMapping`, in the format of Greengrass's MQTT bridge component. Pure.

    {"name": {"topic": "clients/+/hello", "source": "LocalMqtt", "target": "IotCore",
              "targetTopicPrefix": "edge/"}}

Brokers are `LocalMqtt` (the core's local broker), `Pubsub` (IPC publish/subscribe) and `IotCore`.
A message on a topic matching `topic` at `source` is sent to `target` on `targetTopicPrefix + topic`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgeway_common.topics import topic_matches

from .component_main import ComponentConfigError

BROKERS = ("LocalMqtt", "Pubsub", "IotCore")


@dataclass(frozen=True)
class Mapping:
    name: str
    topic: str
    source: str
    target: str
    prefix: str = ""


def parse_mappings(raw: Any) -> list[Mapping]:
    if not isinstance(raw, dict):
        raise ComponentConfigError("configuration.mqttTopicMapping must be an object of named mappings")
    mappings = []
    for name, spec in raw.items():
        where = f"configuration.mqttTopicMapping.{name}"
        if not isinstance(spec, dict):
            raise ComponentConfigError(f"{where} must be an object")
        topic, source, target = spec.get("topic"), spec.get("source"), spec.get("target")
        if not isinstance(topic, str) or not topic:
            raise ComponentConfigError(f"{where}.topic must be a topic filter")
        for key, value in (("source", source), ("target", target)):
            if value not in BROKERS:
                raise ComponentConfigError(
                    f"{where}.{key} must be one of {', '.join(BROKERS)}, got {value!r}"
                )
        if source == target:
            raise ComponentConfigError(f"{where}: source and target are both {source}")
        prefix = spec.get("targetTopicPrefix", "") or ""
        if not isinstance(prefix, str) or "+" in prefix or "#" in prefix:
            raise ComponentConfigError(f"{where}.targetTopicPrefix must be a topic prefix without wildcards")
        mappings.append(Mapping(str(name), topic, str(source), str(target), prefix))
    return mappings


def routes(mappings: list[Mapping], source: str, topic: str) -> list[tuple[str, str]]:
    """(target broker, target topic) for a message from `source` on `topic`."""
    return [
        (m.target, m.prefix + topic) for m in mappings if m.source == source and topic_matches(m.topic, topic)
    ]
