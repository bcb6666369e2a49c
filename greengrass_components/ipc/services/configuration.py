"""Component configuration over IPC: get, update, subscribe, and validation during deployments."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ..errors import InvalidArgumentsError, ResourceNotFoundError
from ..server import CallContext, ComponentStreams, Operation, Stream

GET = "aws.greengrass#GetConfiguration"
UPDATE = "aws.greengrass#UpdateConfiguration"
SUBSCRIBE = "aws.greengrass#SubscribeToConfigurationUpdate"
SUBSCRIBE_VALIDATE = "aws.greengrass#SubscribeToValidateConfigurationUpdates"
SEND_REPORT = "aws.greengrass#SendConfigurationValidityReport"


def _key_path(request: Mapping[str, Any]) -> list[str]:
    path = request.get("keyPath") or []
    if not isinstance(path, list) or not all(isinstance(k, str) for k in path):
        raise InvalidArgumentsError("keyPath must be a list of strings")
    return path


class ConfigurationValidator:
    """Sends a proposed configuration to the components that validate theirs; waits for the verdict."""

    def __init__(self, timeout: float = 30.0) -> None:
        self._streams = ComponentStreams()
        self._pending: dict[tuple[str, str], asyncio.Future[tuple[str, str]]] = {}
        self.timeout = timeout

    def add(self, component: str, stream: Stream) -> None:
        self._streams.add(component, stream)

    async def validate(
        self, component: str, configuration: Mapping[str, Any], deployment_id: str
    ) -> str | None:
        """None when accepted (or nobody validates); otherwise why it was rejected."""
        if component not in self._streams.components():
            return None
        future: asyncio.Future[tuple[str, str]] = asyncio.get_running_loop().create_future()
        self._pending[(component, deployment_id)] = future
        event = {
            "validateConfigurationUpdateEvent": {
                "configuration": dict(configuration),
                "deploymentId": deployment_id,
            }
        }
        self._streams.send(component, event)
        try:
            status, message = await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            return f"{component} did not report on the configuration within {self.timeout:g}s"
        finally:
            self._pending.pop((component, deployment_id), None)
        return None if status == "ACCEPTED" else f"{component} rejected the configuration: {message}"

    def report(self, component: str, deployment_id: str, status: str, message: str) -> bool:
        future = self._pending.get((component, deployment_id))
        if future is None or future.done():
            return False
        future.set_result((status, message))
        return True


class ConfigStore(Protocol):
    """What the configuration service needs of the core's configuration (the runtime's store)."""

    def get(self, component: str) -> dict[str, Any] | None: ...

    def merge(self, component: str, key_path: Sequence[str], value: Mapping[str, Any]) -> None: ...

    def subscribe(self, listener: Callable[[str, tuple[str, ...]], None]) -> Callable[[], None]: ...


def operations(configs: ConfigStore, validator: ConfigurationValidator) -> list[Operation]:
    def get_configuration(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        component = request.get("componentName") or ctx.component
        path = _key_path(request)
        node: Any = configs.get(component)
        if node is None:
            raise ResourceNotFoundError(
                f"Component {component} not found", resourceType="Component", resourceName=component
            )
        for key in path:
            if not isinstance(node, Mapping) or key not in node:
                raise ResourceNotFoundError(
                    f"Key not found: {'/'.join(path)} in the configuration of {component}",
                    resourceType="Configuration",
                    resourceName="/".join(path),
                )
            node = node[key]
        value = node if isinstance(node, Mapping) else {path[-1]: node}
        return {"componentName": component, "value": dict(value)}

    def update_configuration(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        path = _key_path(request)
        value = request.get("valueToMerge")
        if not isinstance(value, Mapping):
            raise InvalidArgumentsError("valueToMerge is required and must be an object")
        timestamp = request.get("timestamp", time.time())
        if not isinstance(timestamp, int | float):
            raise InvalidArgumentsError("timestamp must be a number of seconds")
        configs.merge(ctx.component, path, value)
        return {}

    def subscribe_to_configuration_update(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        component = request.get("componentName") or ctx.component
        prefix = tuple(_key_path(request))

        def on_change(changed: str, path: tuple[str, ...]) -> None:
            if changed == component and path[: len(prefix)] == prefix:
                ctx.stream.send_event(
                    {"configurationUpdateEvent": {"componentName": changed, "keyPath": list(path)}}
                )

        ctx.stream.on_close(configs.subscribe(on_change))
        return {}

    def subscribe_to_validate(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        validator.add(ctx.component, ctx.stream)
        return {}

    def send_report(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        report = request.get("configurationValidityReport")
        if not isinstance(report, Mapping) or report.get("status") not in ("ACCEPTED", "REJECTED"):
            raise InvalidArgumentsError("configurationValidityReport needs a status of ACCEPTED or REJECTED")
        deployment_id = report.get("deploymentId")
        if not isinstance(deployment_id, str):
            raise InvalidArgumentsError("configurationValidityReport.deploymentId is required")
        if not validator.report(
            ctx.component, deployment_id, report["status"], str(report.get("message", ""))
        ):
            raise InvalidArgumentsError(
                f"no configuration validation is waiting for deployment {deployment_id}"
            )
        return {}

    return [
        Operation(GET, get_configuration),
        Operation(UPDATE, update_configuration),
        Operation(
            SUBSCRIBE,
            subscribe_to_configuration_update,
            event_shape="aws.greengrass#ConfigurationUpdateEvents",
        ),
        Operation(
            SUBSCRIBE_VALIDATE,
            subscribe_to_validate,
            event_shape="aws.greengrass#ValidateConfigurationUpdateEvents",
        ),
        Operation(SEND_REPORT, send_report),
    ]
