"""Runs Lambda@Edge handlers locally: loaded from their packaged files, called with a Lambda-like context,
within the trigger's time limit.

On the main thread (as `edgeway edge serve` and `edgeway up` run) a function is called inline and a
SIGALRM timer interrupts it at its limit, as Lambda stops a function that overruns: this costs two
`setitimer` calls instead of a thread hand-off (about 125 us per invocation on a 2-core machine); the
handler is installed once and acts only while a function runs. Off the
main thread, where signals cannot reach, it runs in a worker pool and an overrunning function is
abandoned to finish in its thread while the request gets its 503.
"""

from __future__ import annotations

import asyncio
import importlib.util
import signal
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from cloudfront_edge.model.triggers import Trigger
from edgeway_common.lambda_context import LambdaContext, function_arn


@dataclass(frozen=True)
class Invocation:
    kind: str  # "ok", "exception" or "timeout"
    result: Any = None
    error: str = ""
    elapsed_ms: float = 0.0


class FunctionHost:
    def __init__(
        self,
        directory: Path,
        workers: int = 8,
        timeouts: dict[Trigger, float] | None = None,
        handlers: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self._handlers = handlers or {}  # module -> the function its Handler names; default `handler`
        self._modules: dict[str, ModuleType] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="edge-fn")
        self._timeouts = timeouts or {}

    def load(self, name: str) -> ModuleType:
        module = self._modules.get(name)
        if module is None:
            path = self.directory / f"{name}.py"
            spec = importlib.util.spec_from_file_location(f"edgeway_edge_fn_{name}", path)
            if spec is None or spec.loader is None or not path.exists():
                raise FileNotFoundError(f"no packaged function {name!r} at {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            handler = self.handler_name(name)
            if not callable(getattr(module, handler, None)):
                raise AttributeError(f"{path.name} has no {handler}(event, context)")
            self._modules[name] = module
        return module

    def handler_name(self, name: str) -> str:
        return self._handlers.get(name, "handler")

    def timeout_for(self, trigger: Trigger) -> float:
        return self._timeouts.get(trigger, trigger.timeout_s)

    async def invoke(self, name: str, trigger: Trigger, event: dict[str, Any], request_id: str) -> Invocation:
        handler = getattr(self.load(name), self.handler_name(name))
        limit = self.timeout_for(trigger)
        started = time.monotonic()
        context = LambdaContext(
            name,
            request_id,
            started + limit,
            function_version="1",
            invoked_function_arn=function_arn("us-east-1", "000000000000", name, "1"),
            log_group_name=f"/aws/lambda/us-east-1.{name}",
        )
        if threading.current_thread() is threading.main_thread():
            return _call_with_alarm(name, handler, event, context, limit, started)
        future = asyncio.get_running_loop().run_in_executor(self._pool, _call, handler, event, context)
        try:
            kind, value = await asyncio.wait_for(future, limit)
        except TimeoutError:
            return _timed_out(name, limit)
        return _finished(kind, value, started)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _timed_out(name: str, limit: float) -> Invocation:
    return Invocation("timeout", error=f"{name} ran longer than {limit:g} s", elapsed_ms=limit * 1000)


def _finished(kind: str, value: Any, started: float) -> Invocation:
    elapsed = (time.monotonic() - started) * 1000
    if kind == "exception":
        return Invocation("exception", error=value, elapsed_ms=elapsed)
    return Invocation("ok", result=value, elapsed_ms=elapsed)


def _call(handler: Any, event: dict[str, Any], context: LambdaContext) -> tuple[str, Any]:
    try:
        return "ok", handler(event, context)
    except Exception as exc:  # the function's own failure, reported as Lambda reports it
        lines = traceback.format_exception_only(type(exc), exc)
        return "exception", "".join(lines).strip()


class FunctionTimeout(BaseException):
    """Raised inside an overrunning function by the alarm; a BaseException so `except Exception` in the
    function cannot swallow it."""


class _Alarm:
    """The SIGALRM handler, installed on the main thread's first call and again only if something else
    took the signal since (a cheap check, not an install and a restore per call): it interrupts only
    while a function runs (`armed`); an alarm at any other moment is ignored."""

    armed = False

    @classmethod
    def on_alarm(cls, signum: int, frame: Any) -> None:
        if cls.armed:
            cls.armed = False
            raise FunctionTimeout

    @classmethod
    def install(cls) -> None:
        if signal.getsignal(signal.SIGALRM) != cls.on_alarm:
            signal.signal(signal.SIGALRM, cls.on_alarm)


def _call_with_alarm(
    name: str, handler: Any, event: dict[str, Any], context: LambdaContext, limit: float, started: float
) -> Invocation:
    _Alarm.install()
    _Alarm.armed = True
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        kind, value = _call(handler, event, context)
    except FunctionTimeout:
        return _timed_out(name, limit)
    finally:
        _Alarm.armed = False
        signal.setitimer(signal.ITIMER_REAL, 0)
    return _finished(kind, value, started)
