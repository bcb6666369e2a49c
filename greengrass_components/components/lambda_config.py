"""The Lambda host's configuration, in the terms of a Greengrass Lambda component's
(`lambdaExecutionParameters`, event sources of type PUB_SUB or IOT_CORE, pinned or on demand, timeout,
queue size, instances, idle time). Checked once; an error names the key.

Overflow policy: when `MaxQueueSize` events wait, a new event is refused: it is not queued, an error
record of type `QueueFull` is published, and the refusal is counted (the events already queued keep
their place, as Greengrass keeps them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .component_main import ComponentConfigError
from .settings import flag, items, number, section, text


@dataclass(frozen=True)
class EventSource:
    topic: str
    type: str  # PUB_SUB or IOT_CORE


@dataclass(frozen=True)
class LambdaConfig:
    function_name: str
    handler: str
    code_path: str
    event_sources: tuple[EventSource, ...]
    pinned: bool
    timeout_seconds: float
    max_queue_size: int
    max_instances: int
    max_idle_seconds: float
    encoding: str
    environment: dict[str, str]
    result_topic: str
    errors_topic: str

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> LambdaConfig:
        handler = text(raw, "Handler", None)
        module, _, function = handler.partition(":")
        if not module or not function:
            raise ComponentConfigError(f"configuration.Handler must be module:function, got {handler!r}")
        sources = []
        for i, source in enumerate(items(raw, "EventSources")):
            where = f"configuration.EventSources[{i}]"
            if not isinstance(source, dict):
                raise ComponentConfigError(f"{where} must be an object with topic and type")
            kind = str(source.get("type", "PUB_SUB"))
            if kind not in ("PUB_SUB", "IOT_CORE"):
                raise ComponentConfigError(f"{where}.type must be PUB_SUB or IOT_CORE, got {kind!r}")
            sources.append(EventSource(text(source, "topic", None, where), kind))
        if not sources:
            raise ComponentConfigError("configuration.EventSources must list at least one topic")
        encoding = text(raw, "InputPayloadEncodingType", "json").lower()
        if encoding not in ("json", "binary"):
            raise ComponentConfigError(
                f"configuration.InputPayloadEncodingType must be json or binary, got {encoding!r}"
            )
        environment = section(raw, "EnvironmentVariables")
        return cls(
            function_name=text(raw, "FunctionName", module.rsplit(".", 1)[-1]),
            handler=handler,
            code_path=str(raw.get("CodePath") or ""),
            event_sources=tuple(sources),
            pinned=flag(raw, "Pinned", True),
            timeout_seconds=number(raw, "TimeoutInSeconds", 3, minimum=0.01),
            max_queue_size=int(number(raw, "MaxQueueSize", 1000, minimum=1)),
            max_instances=int(number(raw, "MaxInstancesCount", 1, minimum=1)),
            max_idle_seconds=number(raw, "MaxIdleTimeInSeconds", 60, minimum=0.01),
            encoding=encoding,
            environment={str(k): str(v) for k, v in environment.items()},
            result_topic=str(raw.get("ResultTopic") or ""),
            errors_topic=text(raw, "ErrorsTopic", "edgeway/errors"),
        )
