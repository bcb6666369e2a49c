"""Runs Lambda@Edge handlers locally: loaded from their packaged files, called with a Lambda-like context,
within the trigger's time limit.

On the main thread (as `edgeway edge serve` and `edgeway up` run) a function is called inline and a
SIGALRM timer interrupts it at its limit, as Lambda stops a function that overruns: a timer shared by
the calls within a limit instead of a thread hand-off per call (about 125 us per invocation on a 2-core
machine); the handler is installed once and acts only while a function runs. Off the
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
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from cloudfront_edge.model.triggers import Trigger
from edgeway_common.lambda_context import LambdaContext, function_arn


class Invocation(NamedTuple):
    """A value made twice for every local CloudFront cache hit: a named tuple, built in C, where a frozen
    dataclass sets each field through `object.__setattr__`."""

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
    took the signal since (a cheap check, not an install and a restore per call). The timer is set only
    when no alarm is due before the call's deadline: calls that follow each other within a limit share
    one timer, not one `setitimer` each (a system call that costs microseconds on a virtual machine, two
    to a cache hit). An alarm that finds a call running with time left (set for an earlier call, or sent
    by anything else) sets the timer again for the time left; one that finds no call running sets
    nothing, and the next call sets its own."""

    armed = False
    deadline = 0.0  # time.monotonic() at which the running call's limit is reached
    due = 0.0  # time.monotonic() at which the timer set last goes off (0.0: none set since the last alarm)
    # `signal.getsignal` turns every answer into a `Handlers` enum member where it can, and for a
    # Python function that costs a raised ValueError (2 us, twice a cache hit); the C function it wraps
    # answers the same question in 40 ns.
    _current: Callable[[int], Any] = importlib.import_module("_signal").getsignal

    @classmethod
    def on_alarm(cls, signum: int, frame: Any) -> None:
        cls.due = 0.0
        if not cls.armed:
            return
        now = time.monotonic()
        if now >= cls.deadline - _ALARM_SLACK:
            cls.armed = False
            raise FunctionTimeout
        cls.set(now, cls.deadline)

    @classmethod
    def set(cls, now: float, deadline: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, deadline - now)
        cls.due = deadline

    @classmethod
    def install(cls) -> None:
        if cls._current(signal.SIGALRM) != cls.on_alarm:
            signal.signal(signal.SIGALRM, cls.on_alarm)
            cls.due = 0.0  # whatever had the signal may have set the timer too

    @classmethod
    def arm(cls, started: float, deadline: float) -> None:
        """A call runs from `started` until `deadline`: an alarm is due at the deadline or before it.
        Armed first, so that an alarm arriving from here on finds the call and sets the timer for it;
        one due before the call started, whose handler has not run, counts as none."""
        cls.install()
        cls.deadline = deadline
        cls.armed = True
        if not started <= cls.due <= deadline:
            cls.set(started, deadline)


_ALARM_SLACK = 0.001  # the timer and the monotonic clock are read at slightly different moments


def _call_with_alarm(
    name: str, handler: Any, event: dict[str, Any], context: LambdaContext, limit: float, started: float
) -> Invocation:
    _Alarm.arm(started, started + limit)
    try:
        kind, value = _call(handler, event, context)
    except FunctionTimeout:
        return _timed_out(name, limit)
    finally:
        _Alarm.armed = False
    return _finished(kind, value, started)
