"""The Greengrass CLI's IPC operations (aws.greengrass.Cli): component details, list, restart, stop."""

from __future__ import annotations

from typing import Any

from ..authorization import CLI, Authorizer
from ..errors import ComponentNotFoundError, InvalidArgumentsError
from ..server import CallContext, Operation
from .lifecycle import ComponentControl

GET_DETAILS = "aws.greengrass#GetComponentDetails"
LIST = "aws.greengrass#ListComponents"
RESTART = "aws.greengrass#RestartComponent"
STOP = "aws.greengrass#StopComponent"


def _component_name(request: dict[str, Any]) -> str:
    name = request.get("componentName")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentsError("componentName is required")
    return name


def operations(control: ComponentControl, authorizer: Authorizer) -> list[Operation]:
    def details_of(name: str) -> dict[str, Any]:
        details = control.details(name)
        if details is None:
            raise ComponentNotFoundError(f"Component with name {name} not found")
        return details

    def get_component_details(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        name = _component_name(request)
        authorizer.check(ctx.component, CLI, GET_DETAILS, name)
        return {"componentDetails": details_of(name)}

    def list_components(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        authorizer.check(ctx.component, CLI, LIST, "*")
        return {"components": [details_of(name) for name in control.names()]}

    def restart_component(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        name = _component_name(request)
        authorizer.check(ctx.component, CLI, RESTART, name)
        details_of(name)
        ok = control.restart(name)
        return {
            "restartStatus": "SUCCEEDED" if ok else "FAILED",
            "message": "" if ok else f"{name} cannot restart",
        }

    def stop_component(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        name = _component_name(request)
        authorizer.check(ctx.component, CLI, STOP, name)
        details_of(name)
        ok = control.stop(name)
        return {"stopStatus": "SUCCEEDED" if ok else "FAILED", "message": "" if ok else f"{name} cannot stop"}

    return [
        Operation(GET_DETAILS, get_component_details),
        Operation(LIST, list_components),
        Operation(RESTART, restart_component),
        Operation(STOP, stop_component),
    ]
