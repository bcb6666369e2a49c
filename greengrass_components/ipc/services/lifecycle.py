"""Component lifecycle over IPC: UpdateState, SubscribeToComponentUpdates, DeferComponentUpdate.

Before a deployment stops or changes components, every component subscribed to
component updates hears a PreComponentUpdateEvent and may answer with
DeferComponentUpdate: a `recheckAfterMs` above zero asks to be asked again that
much later. Components that do not answer within the timeout are taken to agree,
as in the nucleus. After the deployment, subscribers hear a PostComponentUpdateEvent.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from edgeway_common.json_logs import log

from ..errors import InvalidArgumentsError
from ..server import CallContext, ComponentStreams, Operation, Stream

UPDATE_STATE = "aws.greengrass#UpdateState"
SUBSCRIBE_UPDATES = "aws.greengrass#SubscribeToComponentUpdates"
DEFER = "aws.greengrass#DeferComponentUpdate"
MAX_ROUNDS = 20


class ComponentControl(Protocol):
    def details(self, name: str) -> dict[str, Any] | None: ...
    def names(self) -> list[str]: ...
    def restart(self, name: str) -> bool: ...
    def stop(self, name: str) -> bool: ...
    def report_state(self, name: str, state: str) -> None: ...


class ComponentUpdateNotifier:
    def __init__(self, logger: logging.Logger, timeout: float = 60.0) -> None:
        self._log = logger
        self._streams = ComponentStreams()
        self._answers: dict[str, dict[str, int]] = {}
        self._answered = asyncio.Event()
        self.timeout = timeout

    def add(self, component: str, stream: Stream) -> None:
        self._streams.add(component, stream)

    async def before_update(self, deployment_id: str) -> None:
        for _ in range(MAX_ROUNDS):
            waiting = self._streams.components()
            if not waiting:
                return
            self._answers[deployment_id] = {}
            for component in waiting:
                self._streams.send(
                    component, {"preUpdateEvent": {"deploymentId": deployment_id, "isGgcRestarting": False}}
                )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.timeout
            while set(self._answers[deployment_id]) < set(waiting) and loop.time() < deadline:
                self._answered.clear()
                try:
                    await asyncio.wait_for(self._answered.wait(), deadline - loop.time())
                except TimeoutError:
                    break
            recheck = max(self._answers.pop(deployment_id, {}).values(), default=0)
            if recheck <= 0:
                return
            log(self._log, logging.INFO, "deployment-deferred", deployment=deployment_id, recheck_ms=recheck)
            await asyncio.sleep(recheck / 1000)

    def after_update(self, deployment_id: str) -> None:
        for component in self._streams.components():
            self._streams.send(component, {"postUpdateEvent": {"deploymentId": deployment_id}})

    def defer(self, component: str, deployment_id: str, recheck_ms: int) -> None:
        answers = self._answers.get(deployment_id)
        if answers is None:
            raise InvalidArgumentsError(f"no component update is waiting for deployment {deployment_id}")
        answers[component] = recheck_ms
        self._answered.set()


def operations(control: ComponentControl, notifier: ComponentUpdateNotifier) -> list[Operation]:
    def update_state(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        state = request.get("state")
        if state not in ("RUNNING", "ERRORED"):
            raise InvalidArgumentsError(f"state must be RUNNING or ERRORED, got {state!r}")
        control.report_state(ctx.component, state)
        return {}

    def subscribe_to_component_updates(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        notifier.add(ctx.component, ctx.stream)
        return {}

    def defer_component_update(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        deployment_id = request.get("deploymentId")
        recheck = request.get("recheckAfterMs", 0) or 0
        if not isinstance(deployment_id, str) or not deployment_id:
            raise InvalidArgumentsError("deploymentId is required")
        if not isinstance(recheck, int) or recheck < 0:
            raise InvalidArgumentsError("recheckAfterMs must be a whole number of milliseconds, 0 or more")
        notifier.defer(ctx.component, deployment_id, recheck)
        return {}

    return [
        Operation(UPDATE_STATE, update_state),
        Operation(
            SUBSCRIBE_UPDATES,
            subscribe_to_component_updates,
            event_shape="aws.greengrass#ComponentUpdatePolicyEvents",
        ),
        Operation(DEFER, defer_component_update),
    ]
