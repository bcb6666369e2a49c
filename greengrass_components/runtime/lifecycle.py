"""One component's lifecycle, with the nucleus's states and transitions.

    NEW -> (Install) -> INSTALLED -> (HARD dependencies ready) -> STARTING
    STARTING -> (Startup exits 0) -> RUNNING          Startup keeps its process group alive
    STARTING -> (Run started)     -> RUNNING -> (Run exits 0) -> FINISHED
    any step failing or timing out -> ERRORED -> (Recover) -> STOPPING -> INSTALLED -> ...
    an Install failure             -> ERRORED -> (Recover) -> NEW -> (Install again)
    stop -> STOPPING -> (Shutdown, then the process groups) -> FINISHED

The transitions and the error count (the third error in a row from a state makes
the component BROKEN, where it stays until it is deployed again) are pure rules in
`lifecycle_rules`; this module is the shell that runs scripts and feeds them
events. What can happen to a running component from outside (stop, restart,
StopComponent, UpdateState(ERRORED), its Run process exiting, a HARD dependency
changing) arrives on one queue, in order. A HARD dependency leaving
RUNNING/FINISHED restarts this component (not an error). `Bootstrap` is reported,
never run. `Skipif` is decided by a checker passed in (files and PATH are the
shell's business).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, MutableSet
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from edgeway_common.json_logs import log

from .builtins import PROVIDED_BY_CORE
from .lifecycle_rules import DEFAULT_ERROR_RESET_SECONDS, ErrorCounter, Event, next_state
from .planner import ComponentPlan
from .process_runner import ScriptProcess, stop_group
from .recipe_model import Step
from .state_board import READY, State, StateBoard

__all__ = ["DEFAULT_ERROR_RESET_SECONDS", "ComponentRunner", "SkipifChecker", "skipif_holds"]

EnvFactory = Callable[[ComponentPlan], Mapping[str, str]]
SkipifChecker = Callable[[str, Path, Mapping[str, str]], bool]


def skipif_holds(skipif: str, work: Path, env: Mapping[str, str]) -> bool:
    """A step's `Skipif`: `onpath <exe>` (on the step's PATH) or `exists <file>` (in its work folder)."""
    check, _, target = skipif.partition(" ")
    target = target.strip()
    if check == "onpath":
        return shutil.which(target, path=env.get("PATH", os.environ.get("PATH", ""))) is not None
    return (work / target).exists()


class Request(Enum):
    STOP = "stop"
    RESTART = "restart requested"
    HALT = "stop requested over IPC"
    ERROR_REPORTED = "the component reported ERRORED"
    DEPENDENCY_CHANGED = "a HARD dependency changed state"


@dataclass(frozen=True)
class RunExited:
    process: ScriptProcess


class StepOutcome(Enum):
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    STOPPED = "stopped"


class ComponentRunner:
    def __init__(
        self,
        plan: ComponentPlan,
        board: StateBoard,
        env_factory: EnvFactory,
        logger: logging.Logger,
        core_logger: logging.Logger,
        *,
        groups: MutableSet[int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        error_reset_seconds: float = DEFAULT_ERROR_RESET_SECONDS,
        broken_reason: str | None = None,
        skipif: SkipifChecker = skipif_holds,
    ) -> None:
        self.plan = plan
        self._board = board
        self._env_factory = env_factory
        self._log = logger
        self._core_log = core_logger
        self._clock = clock
        self._errors = ErrorCounter(clock, error_reset_seconds)
        self._skipif = skipif
        self._errored_from: State = State.NEW
        self._stopping = asyncio.Event()
        self._requests: asyncio.Queue[Request | RunExited] = asyncio.Queue()
        self._unsubscribe: Callable[[], None] | None = None
        self._groups: MutableSet[int] = set() if groups is None else groups
        self._run: ScriptProcess | None = None
        self._exit_watch: asyncio.Task[None] | None = None
        self._run_deadline: float | None = None
        self._dependency_epochs: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self.state = State.NEW
        board.publish(plan.name, State.NEW, "deployed")
        if broken_reason is not None:  # it was BROKEN before the core restarted: it stays so
            self.state = State.BROKEN
            board.publish(plan.name, State.BROKEN, broken_reason)

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def pids(self) -> list[int]:
        return sorted(self._groups)

    def start(self) -> None:
        hard = set(self.plan.hard_dependencies)
        if hard:
            self._unsubscribe = self._board.subscribe(
                lambda change: (
                    self._requests.put_nowait(Request.DEPENDENCY_CHANGED) if change.name in hard else None
                )
            )
        self._task = asyncio.create_task(self._main(), name=f"component:{self.name}")

    def request_restart(self) -> None:
        self._requests.put_nowait(Request.RESTART)

    def request_halt(self) -> bool:
        """StopComponent: stop it, leave it FINISHED until it is restarted or redeployed."""
        if self.state not in READY:
            return False
        self._requests.put_nowait(Request.HALT)
        return True

    def report_errored(self) -> None:
        """UpdateState(ERRORED) from the component itself: handled as any error."""
        self._requests.put_nowait(Request.ERROR_REPORTED)

    async def stop(self, *, uninstall: bool = False) -> None:
        """Run Shutdown, stop every process group, end in FINISHED (or stay BROKEN).

        With `uninstall`, the component is leaving the core: its Uninstall step runs last.
        """
        self._stopping.set()
        self._requests.put_nowait(Request.STOP)
        self._board.poke()
        if self._task is not None:
            await self._task
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if uninstall:
            await self._run_step("Uninstall", self.plan.lifecycle.uninstall, ignore_stop=True)
            await self._stop_processes()

    # -- the loop -------------------------------------------------------------

    async def _main(self) -> None:
        try:
            if self.plan.lifecycle.bootstrap is not None:
                log(
                    self._log,
                    logging.WARNING,
                    "bootstrap-not-run",
                    reason="the local core reports Bootstrap steps and does not run them",
                )
            while not self._stopping.is_set():
                if self.state == State.NEW:
                    await self._install()
                elif self.state == State.INSTALLED:
                    if await self._wait_for_dependencies():
                        await self._start()
                elif self.state in READY:
                    await self._watch()
                elif self.state == State.ERRORED:
                    await self._recover()
                elif self.state == State.BROKEN:
                    await self._stop_processes()
                    await self._stopping.wait()
            await self._final_stop()
        except asyncio.CancelledError:
            await asyncio.shield(self._kill_everything())
            raise
        except Exception as exc:  # a bug here must not take the core down with it
            self._core_log.exception("component-loop-crashed", extra={"fields": {"component": self.name}})
            self._transition(Event.INTERNAL_ERROR, f"internal error: {exc}")
            await self._kill_everything()

    async def _install(self) -> None:
        outcome, detail = await self._run_step("Install", self.plan.lifecycle.install)
        if outcome in (StepOutcome.SUCCEEDED, StepOutcome.SKIPPED):
            self._transition(Event.INSTALLED, "install skipped" if outcome == StepOutcome.SKIPPED else "")
        elif outcome != StepOutcome.STOPPED:
            self._fail(detail)

    async def _wait_for_dependencies(self) -> bool:
        hard = self.plan.hard_dependencies

        def ready() -> bool:
            return self._stopping.is_set() or all(self._board.state(d) in READY for d in hard)

        await self._board.wait_until(ready)
        if self._stopping.is_set():
            return False
        self._dependency_epochs = {d: self._board.epoch(d) for d in hard}
        self._drop(Request.RESTART, Request.DEPENDENCY_CHANGED)  # the start about to happen answers them
        return True

    def _drop(self, *kinds: Request) -> None:
        kept = []
        while not self._requests.empty():
            request = self._requests.get_nowait()
            if request not in kinds:
                kept.append(request)
        for request in kept:
            self._requests.put_nowait(request)

    async def _start(self) -> None:
        lifecycle = self.plan.lifecycle
        self._transition(Event.START)
        if self.plan.component_type in PROVIDED_BY_CORE:
            self._transition(Event.STARTED, "provided by the local core")
            return
        if lifecycle.startup is not None:
            outcome, detail = await self._run_step("Startup", lifecycle.startup, keep_group=True)
            if outcome in (StepOutcome.SUCCEEDED, StepOutcome.SKIPPED):
                self._transition(Event.STARTED)
            elif outcome != StepOutcome.STOPPED:
                self._fail(detail)
            return
        step = lifecycle.run
        if step is None or self._skipped(step):
            self._transition(Event.NOTHING_TO_RUN, "nothing to run")
            return
        self._run = run = await self._spawn("Run", step)
        self._run_deadline = None if step.timeout is None else self._clock() + step.timeout
        self._exit_watch = asyncio.create_task(self._report_exit(run))
        self._transition(Event.STARTED)

    async def _watch(self) -> None:
        """Waits for the next thing that happens to a ready component and acts on it."""
        timeout = None if self._run_deadline is None else max(0.0, self._run_deadline - self._clock())
        try:
            request = await asyncio.wait_for(self._requests.get(), timeout)
        except TimeoutError:
            if self._run is not None:
                await self._run.stop(1.0)
                self._run = None
                self._fail("Run timed out")
            return
        if request == Request.STOP:
            return
        if isinstance(request, RunExited):
            if request.process is not self._run:
                return  # a Run already stopped on purpose
            code = await request.process.wait()
            self._run = None
            if code != 0:
                self._fail(f"Run exited with code {code}")
            elif self.state != State.FINISHED:
                self._transition(Event.RUN_EXITED, "Run exited 0")
            return
        if request == Request.ERROR_REPORTED:
            self._fail(request.value)
        elif request == Request.HALT:
            await self._shutdown(request.value)
            self._dependency_epochs = {}
            self._transition(Event.STOPPED, "stopped over IPC")
        elif request == Request.RESTART:
            await self._restart(request.value)
        elif request == Request.DEPENDENCY_CHANGED:
            dependency = self._dependency_restarted()
            if dependency is not None:
                await self._restart(f"HARD dependency {dependency} restarted")

    async def _restart(self, reason: str) -> None:
        await self._shutdown(reason)
        self._transition(Event.STOPPED_TO_RESTART, reason)

    async def _report_exit(self, process: ScriptProcess) -> None:
        await process.process.wait()
        self._requests.put_nowait(RunExited(process))

    def _dependency_restarted(self) -> str | None:
        for dependency, seen in self._dependency_epochs.items():
            if self._board.epoch(dependency) != seen or self._board.state(dependency) not in READY:
                return dependency
        return None

    async def _recover(self) -> None:
        came_from = self._errored_from
        await self._run_step("Recover", self.plan.lifecycle.recover)
        if came_from == State.NEW:
            await self._stop_processes()
            self._transition(Event.RETRY_INSTALL, "retrying install after error")
        else:
            await self._restart("restarting after error")

    async def _final_stop(self) -> None:
        if self.state == State.BROKEN:
            await self._stop_processes()
            return
        await self._shutdown("stop requested")
        self._transition(Event.STOPPED, "stopped")

    async def _shutdown(self, reason: str) -> None:
        if (
            self.state not in (State.STARTING, State.RUNNING, State.FINISHED, State.ERRORED)
            and not self._groups
        ):
            return
        self._transition(Event.SHUTDOWN, reason)
        await self._run_step("Shutdown", self.plan.lifecycle.shutdown, ignore_stop=True)
        await self._stop_processes()

    async def _stop_processes(self) -> None:
        shutdown = self.plan.lifecycle.shutdown
        grace = shutdown.timeout if shutdown and shutdown.timeout else 15.0
        self._forget_exit_watch()
        if self._run is not None:
            await self._run.stop(grace)
            self._run = None
        await asyncio.gather(*(stop_group(pgid, grace) for pgid in list(self._groups)))
        self._groups.clear()
        self._run_deadline = None

    def _forget_exit_watch(self) -> None:
        if self._exit_watch is not None:
            self._exit_watch.cancel()
            self._exit_watch = None

    async def _kill_everything(self) -> None:
        self._forget_exit_watch()
        with contextlib.suppress(Exception):
            if self._run is not None:
                await self._run.stop(0.5)
            await asyncio.gather(*(stop_group(pgid, 0.5) for pgid in list(self._groups)))
            self._groups.clear()

    # -- steps ----------------------------------------------------------------

    def _skipped(self, step: Step) -> bool:
        if step.skipif is None:
            return False
        return self._skipif(step.skipif, Path(self.plan.paths.work), self._env_factory(self.plan))

    async def _spawn(self, name: str, step: Step) -> ScriptProcess:
        if step.requires_privilege and os.geteuid() != 0:
            log(
                self._log,
                logging.WARNING,
                "privilege-not-available",
                script=name,
                reason="RequiresPrivilege is set but the core is not root; running as the core's user",
            )
        env = dict(self._env_factory(self.plan))
        env.update(self.plan.lifecycle.setenv)
        env.update(step.setenv)
        process = await ScriptProcess.start(step.script, name, env, Path(self.plan.paths.work), self._log)
        self._groups.add(process.pgid)
        return process

    async def _run_step(
        self, name: str, step: Step | None, *, keep_group: bool = False, ignore_stop: bool = False
    ) -> tuple[StepOutcome, str]:
        if step is None:
            return StepOutcome.SKIPPED, ""
        if self._skipped(step):
            log(self._log, logging.INFO, "script-skipped", script=name, skipif=step.skipif)
            return StepOutcome.SKIPPED, ""
        process = await self._spawn(name, step)
        wait = asyncio.create_task(process.wait())
        stop = None if ignore_stop else asyncio.create_task(self._stopping.wait())
        try:
            await asyncio.wait(
                [t for t in (wait, stop) if t is not None],
                timeout=step.timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            if stop is not None:
                stop.cancel()
        if not wait.done():
            wait.cancel()
            await process.stop(1.0)
            self._groups.discard(process.pgid)
            if self._stopping.is_set() and not ignore_stop:
                return StepOutcome.STOPPED, f"{name} stopped"
            return StepOutcome.TIMED_OUT, f"{name} timed out after {step.timeout:g}s"
        code = wait.result()
        if not keep_group:
            await stop_group(process.pgid, 1.0)
            self._groups.discard(process.pgid)
        if code == 0:
            return StepOutcome.SUCCEEDED, ""
        return StepOutcome.FAILED, f"{name} exited with code {code}"

    # -- state ----------------------------------------------------------------

    def _fail(self, reason: str) -> None:
        """An error from the current state: ERRORED, or BROKEN when it is one too many."""
        came_from = self.state
        event = self._errors.failed(came_from)
        self._errored_from = came_from
        if event == Event.FAILED_TOO_OFTEN:
            count = self._errors.count(came_from)
            reason = f"{reason}; errored {count} times in a row, giving up until redeployed"
        self._transition(event, reason)

    def _transition(self, event: Event, reason: str = "") -> None:
        current = self.state
        new = next_state(current, event)
        if event not in (Event.FAILED, Event.FAILED_TOO_OFTEN):
            self._errors.left(current)
        self.state = new
        level = logging.ERROR if new in (State.ERRORED, State.BROKEN) else logging.INFO
        log(self._log, level, "state-change", component=self.name, old=current, new=new, reason=reason)
        log(self._core_log, level, "state-change", component=self.name, old=current, new=new, reason=reason)
        self._board.publish(self.name, new, reason)
