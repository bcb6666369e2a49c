"""Authorization from each recipe's `accessControl`, with the nucleus's resource matching.

A component's configuration holds, per service, named policies of operations
and resources:

    accessControl:
      aws.greengrass.ipc.pubsub:
        "com.example.Sensor:pubsub:1":
          operations: [aws.greengrass#PublishToTopic]
          resources: [sensors/+/temperature]

An operation of `*` means every operation; in resources `*` matches any run of
characters, `${*}`, `${+}`, `${#}` stand for those characters themselves, and
`${iot:thingName}` for the core's thing name. For topics (pubsub, mqttproxy)
the MQTT wildcards count too: `+` is one whole level, `#` the rest of the topic
from a whole level on. A denial is the nucleus's text, word for word.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from .errors import UnauthorizedError

PUBSUB = "aws.greengrass.ipc.pubsub"
MQTT_PROXY = "aws.greengrass.ipc.mqttproxy"
SHADOW_MANAGER = "aws.greengrass.ShadowManager"
CLI = "aws.greengrass.Cli"
MQTT_STYLE_SERVICES = frozenset({PUBSUB, MQTT_PROXY})

_TOKEN = re.compile(r"\$\{(iot:thingName|[*+#])\}|\*|\+|#|[^*+#$]+|\$")


@lru_cache(maxsize=4096)
def _pattern_regex(pattern: str, mqtt_style: bool, thing_name: str) -> re.Pattern[str]:
    parts: list[str] = []
    tokens = [m.group(0) for m in _TOKEN.finditer(pattern)]
    at = 0
    for index, token in enumerate(tokens):
        start_of_level = at == 0 or pattern[at - 1] == "/"
        end = at + len(token)
        end_of_level = end == len(pattern) or pattern[end] == "/"
        if token == "${iot:thingName}":
            parts.append(re.escape(thing_name))
        elif token.startswith("${"):
            parts.append(re.escape(token[2]))
        elif token == "*":
            parts.append(".*")
        elif token == "+" and mqtt_style and start_of_level and end_of_level:
            parts.append("[^/]*")
        elif token == "#" and mqtt_style and start_of_level and index == len(tokens) - 1:
            if parts and parts[-1].endswith("/"):
                parts[-1] = parts[-1][:-1]  # `a/#` matches `a` itself too
                parts.append("(/.*)?")
            else:
                parts.append(".*")
        else:
            parts.append(re.escape(token))
        at = end
    return re.compile("".join(parts), re.S)


def resource_matches(pattern: str, resource: str, *, mqtt_style: bool = False, thing_name: str = "") -> bool:
    if pattern == "*":
        return True
    return _pattern_regex(pattern, mqtt_style, thing_name).fullmatch(resource) is not None


class Authorizer:
    def __init__(self, configuration_of: Callable[[str], Mapping[str, Any] | None], thing_name: str) -> None:
        self._configuration_of = configuration_of
        self._thing = thing_name

    def check(self, component: str, service: str, operation: str, resource: str) -> None:
        if not self.allowed(component, service, operation, resource):
            raise UnauthorizedError(
                f"Principal {component} is not authorized to perform {service}:{operation} "
                f"on resource {resource}"
            )

    def allowed(self, component: str, service: str, operation: str, resource: str) -> bool:
        configuration = self._configuration_of(component) or {}
        access = configuration.get("accessControl") or {}
        policies = access.get(service) if isinstance(access, Mapping) else None
        if not isinstance(policies, Mapping):
            return False
        mqtt_style = service in MQTT_STYLE_SERVICES
        for policy in policies.values():
            if not isinstance(policy, Mapping):
                continue
            operations = policy.get("operations") or []
            resources = policy.get("resources") or []
            if not isinstance(operations, list) or not isinstance(resources, list):
                continue
            if "*" not in operations and operation not in operations:
                continue
            for pattern in resources:
                if isinstance(pattern, str) and resource_matches(
                    pattern, resource, mqtt_style=mqtt_style, thing_name=self._thing
                ):
                    return True
        return False
