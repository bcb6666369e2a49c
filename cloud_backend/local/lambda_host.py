"""Runs the template's functions in this process, off the broker's event loop, as Lambda would call
them: `handler(event, context)` with a Lambda-like context, one worker pool shared by the functions."""

from __future__ import annotations

import importlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from cloud_backend.errors import FunctionError as FunctionError
from cloud_backend.rules.loader import FUNCTION_TYPES
from edgeway_common.cfn import LocalResolver, resources_of_type
from edgeway_common.lambda_context import LambdaContext, function_arn

log = logging.getLogger("edgeway.lambda")
Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class FunctionSpec:
    name: str  # logical id
    handler: str  # module.function
    timeout: float = 3.0
    memory: int = 128


def function_specs(template: Mapping[str, Any], resolver: LocalResolver) -> dict[str, FunctionSpec]:
    globals_ = template.get("Globals", {}).get("Function", {})
    specs: dict[str, FunctionSpec] = {}
    for kind in FUNCTION_TYPES:
        for name, resource in resources_of_type(template, kind):
            properties = resolver.resolve(resource.get("Properties", {}), name)
            specs[name] = FunctionSpec(
                name,
                str(properties["Handler"]),
                float(properties.get("Timeout", globals_.get("Timeout", 3))),
                int(properties.get("MemorySize", globals_.get("MemorySize", 128))),
            )
    return specs


class LambdaHost:
    def __init__(
        self,
        specs: Mapping[str, FunctionSpec],
        workers: int = 4,
        region: str = "us-east-1",
        account: str = "0" * 12,
    ) -> None:
        self.specs = dict(specs)
        self.region, self.account = region, account
        self._handlers: dict[str, Handler] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="lambda")

    def _handler(self, name: str) -> tuple[FunctionSpec, Handler]:
        spec = self.specs.get(name)
        if spec is None:
            raise FunctionError(f"function {name} is not in the template")
        if name not in self._handlers:
            module, _, attribute = spec.handler.rpartition(".")
            self._handlers[name] = getattr(importlib.import_module(module), attribute)
        return spec, self._handlers[name]

    def invoke(self, name: str, event: dict[str, Any]) -> Any:
        """Runs the function on the calling thread; raises FunctionError when it fails."""
        spec, handler = self._handler(name)
        started = time.monotonic()
        context = LambdaContext(
            spec.name,
            str(uuid.uuid4()),
            started + spec.timeout,
            invoked_function_arn=function_arn(self.region, self.account, spec.name),
            memory_limit_in_mb=str(spec.memory),
            log_group_name=f"/aws/lambda/{spec.name}",
            log_stream_name="local",
        )
        try:
            result = handler(event, context)
        except Exception as exc:
            log.exception("function failed", extra={"function": name, "request_id": context.aws_request_id})
            raise FunctionError(f"{name} failed: {type(exc).__name__}: {exc}") from exc
        elapsed = time.monotonic() - started
        if elapsed > spec.timeout:
            raise FunctionError(f"{name} ran {elapsed:.1f} s, past its {spec.timeout:g} s timeout")
        return result

    def submit(self, name: str, event: dict[str, Any]) -> Future[Any]:
        """Runs the function on the worker pool (asynchronous invocation, as IoT rules use)."""
        return self._pool.submit(self.invoke, name, event)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)
