"""One component's lifecycle, with the nucleus's states and transitions.

    NEW -> (Install) -> INSTALLED -> (HARD dependencies ready) -> STARTING
    STARTING -> (Startup exits 0) -> RUNNING          Startup keeps its process group alive
    STARTING -> (Run started)     -> RUNNING -> (Run exits 0) -> FINISHED
    any step failing or timing out -> ERRORED -> (Recover) -> STOPPING -> INSTALLED -> ...
    an Install failure             -> ERRORED -> (Recover) -> NEW -> (Install again)
    stop -> STOPPING -> (Shutdown, then the process groups) -> FINISHED

Errors are counted per state they came from (NEW, STARTING, RUNNING), as the
nucleus does; the count for a state resets when that state is left any other
way, or when the last error is older than `error_reset_seconds`. The third error
makes the component BROKEN, where it stays until it is deployed again. A HARD
dependency leaving RUNNING/FINISHED restarts this component (not an error).
`Bootstrap` is reported, never run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, MutableSet
from enum import Enum
from pathlib import Path

from .builtins import PROVIDED_BY_CORE
from .logs import log
from .planner import ComponentPlan
from .process_runner import ScriptProcess, stop_group
from .recipe_model import Step
from .state_board import READY, State, StateBoard

MAXIMUM_CONTINUAL_ERRORS = 3
DEFAULT_ERROR_RESET_SECONDS = 3600.0
COUNTED_STATES = frozenset({State.NEW, State.STARTING, State.RUNNING})

EnvFactory = Callable[[ComponentPlan], Mapping[str, str]]


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
    ) -> None:
        self.plan = plan
        self._board = board
        self._env_factory = env_factory
        self._log = logger
        self._core_log = core_logger
        self._clock = clock
        self._error_reset = error_reset_seconds
        self._errors: dict[State, list[float]] = {}
        self._errored_from: State = State.NEW
        self._stop_requested = False
        self._restart_requested = False
        self._halt_requested = False
        self._error_reported = False
        self._groups: MutableSet[int] = set() if groups is None else groups
        self._run: ScriptProcess | None = None
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
        self._task = asyncio.create_task(self._main(), name=f"component:{self.name}")

    def request_restart(self) -> None:
        self._restart_requested = True
        self._board.poke()

    def request_halt(self) -> bool:
        """StopComponent: stop it, leave it FINISHED until it is restarted or redeployed."""
        if self.state not in READY:
            return False
        self._halt_requested = True
        self._board.poke()
        return True

    def report_errored(self) -> None:
        """UpdateState(ERRORED) from the component itself: handled as any error."""
        self._error_reported = True
        self._board.poke()

    async def stop(self, *, uninstall: bool = False) -> None:
        """Run Shutdown, stop every process group, end in FINISHED (or stay BROKEN).

        With `uninstall`, the component is leaving the core: its Uninstall step runs last.
        """
        self._stop_requested = True
        self._board.poke()
        if self._task is not None:
            await self._task
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
            while not self._stop_requested:
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
                    await self._board.wait_until(lambda: self._stop_requested)
            await self._final_stop()
        except asyncio.CancelledError:
            await asyncio.shield(self._kill_everything())
            raise
        except Exception as exc:  # a bug here must not take the core down with it
            self._core_log.exception("component-loop-crashed", extra={"fields": {"component": self.name}})
            self._report(State.BROKEN, f"internal error: {exc}")
            await self._kill_everything()

    async def _install(self) -> None:
        outcome, detail = await self._run_step("Install", self.plan.lifecycle.install)
        if outcome in (StepOutcome.SUCCEEDED, StepOutcome.SKIPPED):
            self._report(State.INSTALLED, "install skipped" if outcome == StepOutcome.SKIPPED else "")
        elif outcome != StepOutcome.STOPPED:
            self._report(State.ERRORED, detail)

    async def _wait_for_dependencies(self) -> bool:
        hard = self.plan.hard_dependencies

        def ready() -> bool:
            return self._stop_requested or all(self._board.state(d) in READY for d in hard)

        await self._board.wait_until(ready)
        if self._stop_requested:
            return False
        self._dependency_epochs = {d: self._board.epoch(d) for d in hard}
        self._restart_requested = False
        return True

    async def _start(self) -> None:
        lifecycle = self.plan.lifecycle
        self._report(State.STARTING)
        if self.plan.component_type in PROVIDED_BY_CORE:
            self._report(State.RUNNING, "provided by the local core")
            return
        if lifecycle.startup is not None:
            outcome, detail = await self._run_step("Startup", lifecycle.startup, keep_group=True)
            if outcome in (StepOutcome.SUCCEEDED, StepOutcome.SKIPPED):
                self._report(State.RUNNING)
            elif outcome != StepOutcome.STOPPED:
                self._report(State.ERRORED, detail)
            return
        step = lifecycle.run
        if step is None or self._skipped(step):
            self._report(State.FINISHED, "nothing to run")
            return
        self._run = await self._spawn("Run", step)
        self._run_deadline = None if step.timeout is None else self._clock() + step.timeout
        self._report(State.RUNNING)

    async def _watch(self) -> None:
        run = self._run

        def woken() -> bool:
            return (
                self._stop_requested
                or self._restart_requested
                or self._halt_requested
                or self._error_reported
                or (run is not None and run.exited)
                or self._dependency_restarted() is not None
            )

        timeout = None if self._run_deadline is None else max(0.0, self._run_deadline - self._clock())
        waiter = None if run is None else asyncio.create_task(self._poke_when_exited(run))
        try:
            on_time = await self._board.wait_until(woken, timeout)
        finally:
            if waiter is not None:
                waiter.cancel()
        if self._stop_requested:
            return
        if self._error_reported:
            self._error_reported = False
            self._report(State.ERRORED, "the component reported ERRORED")
            return
        if self._halt_requested:
            self._halt_requested = False
            await self._shutdown("stop requested over IPC")
            self._dependency_epochs = {}
            self._report(State.FINISHED, "stopped over IPC")
            return
        if run is not None and not on_time:
            await run.stop(1.0)
            self._run = None
            self._report(State.ERRORED, "Run timed out")
            return
        if run is not None and run.exited:
            code = await run.wait()
            self._run = None
            if code == 0:
                if self.state != State.FINISHED:
                    self._report(State.FINISHED, "Run exited 0")
            else:
                self._report(State.ERRORED, f"Run exited with code {code}")
            return
        dependency = self._dependency_restarted()
        reason = f"HARD dependency {dependency} restarted" if dependency else "restart requested"
        await self._shutdown(reason)
        self._report(State.INSTALLED, reason)

    async def _poke_when_exited(self, process: ScriptProcess) -> None:
        await process.process.wait()
        self._board.poke()

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
            self._report(State.NEW, "retrying install after error")
        else:
            await self._shutdown("restarting after error")
            self._report(State.INSTALLED, "restarting after error")

    async def _final_stop(self) -> None:
        if self.state == State.BROKEN:
            await self._stop_processes()
            return
        await self._shutdown("stop requested")
        self._report(State.FINISHED, "stopped")

    async def _shutdown(self, reason: str) -> None:
        if (
            self.state not in (State.STARTING, State.RUNNING, State.FINISHED, State.ERRORED)
            and not self._groups
        ):
            return
        self._report(State.STOPPING, reason)
        await self._run_step("Shutdown", self.plan.lifecycle.shutdown, ignore_stop=True)
        await self._stop_processes()

    async def _stop_processes(self) -> None:
        shutdown = self.plan.lifecycle.shutdown
        grace = shutdown.timeout if shutdown and shutdown.timeout else 15.0
        if self._run is not None:
            await self._run.stop(grace)
            self._run = None
        await asyncio.gather(*(stop_group(pgid, grace) for pgid in list(self._groups)))
        self._groups.clear()
        self._run_deadline = None

    async def _kill_everything(self) -> None:
        with contextlib.suppress(Exception):
            if self._run is not None:
                await self._run.stop(0.5)
            await asyncio.gather(*(stop_group(pgid, 0.5) for pgid in list(self._groups)))
            self._groups.clear()

    # -- steps ----------------------------------------------------------------

    def _skipped(self, step: Step) -> bool:
        if step.skipif is None:
            return False
        check, _, target = step.skipif.partition(" ")
        target = target.strip()
        if check == "onpath":
            path = self._env_factory(self.plan).get("PATH", os.environ.get("PATH", ""))
            return shutil.which(target, path=path) is not None
        return (Path(self.plan.paths.work) / target).exists()

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
        stop = (
            None if ignore_stop else asyncio.create_task(self._board.wait_until(lambda: self._stop_requested))
        )
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
            if self._stop_requested and not ignore_stop:
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

    def _report(self, new: State, reason: str = "") -> None:
        current = self.state
        if new == State.ERRORED and current in COUNTED_STATES:
            errors = self._errors.setdefault(current, [])
            now = self._clock()
            if errors and now - errors[-1] >= self._error_reset:
                errors.clear()
            errors.append(now)
            self._errored_from = current
            if len(errors) >= MAXIMUM_CONTINUAL_ERRORS:
                new = State.BROKEN
                reason = f"{reason}; errored {len(errors)} times in a row, giving up until redeployed"
        elif new != State.ERRORED:
            self._errors.pop(current, None)
        self.state = new
        level = logging.ERROR if new in (State.ERRORED, State.BROKEN) else logging.INFO
        log(self._log, level, "state-change", component=self.name, old=current, new=new, reason=reason)
        log(self._core_log, level, "state-change", component=self.name, old=current, new=new, reason=reason)
        self._board.publish(self.name, new, reason)
