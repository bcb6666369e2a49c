"""Runs Lambda@Edge handlers locally: loaded from their packaged files, called with a Lambda-like context,
within the trigger's time limit.

On the main thread (as `edgeway edge serve` and `edgeway up` run) a function is called inline and a
SIGALRM timer interrupts it at its limit, as Lambda stops a function that overruns: this costs one
`setitimer` call instead of a thread hand-off (about 125 us per invocation on a 2-core machine); the
handler is installed once and acts only while a function runs. Off the
main thread, where signals cannot reach, it runs in a worker pool and an overrunning function is
abandoned to finish in its thread while the request gets its 503.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import signal
import threading
import time
import traceback
from collections.abc import Callable
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
        self._callables: dict[str, tuple[Callable[..., Any], str, str]] = {}
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

    def _callable(self, name: str) -> tuple[Callable[..., Any], str, str]:
        """The handler and what its context names, worked out on the first call of each function."""
        found = self._callables.get(name)
        if found is None:
            handler = getattr(self.load(name), self.handler_name(name))
            arn = function_arn("us-east-1", "000000000000", name, "1")
            found = self._callables[name] = (handler, arn, f"/aws/lambda/us-east-1.{name}")
        return found

    def handler_name(self, name: str) -> str:
        return self._handlers.get(name, "handler")

    def timeout_for(self, trigger: Trigger) -> float:
        return self._timeouts.get(trigger, trigger.timeout_s)

    async def invoke(self, name: str, trigger: Trigger, event: dict[str, Any], request_id: str) -> Invocation:
        handler, arn, log_group = self._callable(name)
        limit = self.timeout_for(trigger)
        started = time.monotonic()
        context = LambdaContext(
            name,
            request_id,
            started + limit,
            function_version="1",
            invoked_function_arn=arn,
            log_group_name=log_group,
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
    took the signal since (a cheap check, not an install and a restore per call). Each call sets the
    timer to its limit, which replaces whatever an earlier call left: the timer is not cleared after a
    call, which saves a system call per invocation. An alarm interrupts only a call that is running
    (`armed`) and has reached its own deadline; one left over from an earlier call finds nothing armed,
    or a later deadline, and is ignored."""

    armed = False
    deadline = 0.0  # time.monotonic() at which the running call's limit is reached
    # `signal.getsignal` turns every answer into a `Handlers` enum member where it can, and for a
    # Python function that costs a raised ValueError (2 us, twice a cache hit); the C function it wraps
    # answers the same question in 40 ns.
    _current: Callable[[int], Any] = importlib.import_module("_signal").getsignal

    @classmethod
    def on_alarm(cls, signum: int, frame: Any) -> None:
        if cls.armed and time.monotonic() >= cls.deadline - _ALARM_SLACK:
            cls.armed = False
            raise FunctionTimeout

    @classmethod
    def install(cls) -> None:
        if cls._current(signal.SIGALRM) != cls.on_alarm:
            signal.signal(signal.SIGALRM, cls.on_alarm)


_ALARM_SLACK = 0.001  # the timer and the monotonic clock are read at slightly different moments


def _call_with_alarm(
    name: str, handler: Any, event: dict[str, Any], context: LambdaContext, limit: float, started: float
) -> Invocation:
    _Alarm.install()
    signal.setitimer(signal.ITIMER_REAL, limit)
    _Alarm.deadline = started + limit
    _Alarm.armed = True
    try:
        kind, value = _call(handler, event, context)
    except FunctionTimeout:
        return _timed_out(name, limit)
    finally:
        _Alarm.armed = False
    return _finished(kind, value, started)
