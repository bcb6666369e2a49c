"""Runs a set of components: starts their runners, stops them dependents-first."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .core_paths import CorePaths
from .lifecycle import DEFAULT_ERROR_RESET_SECONDS, ComponentRunner
from .logs import close_component_logger, component_logger
from .planner import ComponentPlan
from .process_registry import ProcessRegistry
from .state_board import State, StateBoard

BaseEnv = Callable[[ComponentPlan, str], Mapping[str, str]]


class Supervisor:
    def __init__(
        self,
        paths: CorePaths,
        board: StateBoard,
        base_env: BaseEnv,
        core_logger: logging.Logger,
        *,
        registry: ProcessRegistry,
        error_reset_seconds: float = DEFAULT_ERROR_RESET_SECONDS,
    ) -> None:
        self._registry = registry
        self._paths = paths
        self._board = board
        self._base_env = base_env
        self._core_log = core_logger
        self._error_reset = error_reset_seconds
        self.runners: dict[str, ComponentRunner] = {}
        self.tokens: dict[str, str] = {}

    @property
    def plans(self) -> dict[str, ComponentPlan]:
        return {name: runner.plan for name, runner in self.runners.items()}

    def component_for_token(self, token: str) -> str | None:
        for name, known in self.tokens.items():
            # bytes: compare_digest refuses a str with characters beyond ASCII
            if secrets.compare_digest(known.encode(), token.encode("utf-8", "surrogatepass")):
                return name
        return None

    def start(self, plans: Iterable[ComponentPlan], *, broken: Mapping[str, str] | None = None) -> None:
        """Starts a runner for each plan; one named in `broken` (with its reason) stays BROKEN."""
        for plan in plans:
            if plan.name in self.runners:
                raise RuntimeError(f"{plan.name} is already running; stop it first")
            token = self.tokens.setdefault(plan.name, secrets.token_urlsafe(32))
            runner = ComponentRunner(
                plan,
                self._board,
                lambda p, token=token: self._base_env(p, token),  # type: ignore[misc]
                component_logger(self._paths.logs, plan.name),
                self._core_log,
                groups=self._registry.groups_of(plan.name),
                error_reset_seconds=self._error_reset,
                broken_reason=(broken or {}).get(plan.name),
            )
            self.runners[plan.name] = runner
            runner.start()

    def replace_plan(self, plan: ComponentPlan) -> None:
        """A running component's plan, changed only in its configuration: it keeps running."""
        self.runners[plan.name].plan = plan

    async def stop(self, names: Iterable[str], uninstall: Iterable[str] = ()) -> None:
        """Stop these components, each only after its dependents among them have stopped.

        Components named in `uninstall` are leaving the core: their Uninstall step runs after they stop.
        """
        leaving = set(uninstall)
        remaining = {n for n in names if n in self.runners}
        while remaining:
            wave = [
                name
                for name in remaining
                if not any(
                    name in (d.name for d in self.runners[other].plan.dependencies)
                    for other in remaining
                    if other != name
                )
            ] or sorted(remaining)
            await asyncio.gather(*(self.runners[name].stop(uninstall=name in leaving) for name in wave))
            for name in wave:
                remaining.discard(name)
                del self.runners[name]
                self._board.forget(name)
                close_component_logger(name)

    async def stop_all(self) -> None:
        await self.stop(list(self.runners))

    def restart(self, name: str) -> bool:
        runner = self.runners.get(name)
        if runner is None:
            return False
        runner.request_restart()
        return True

    def halt(self, name: str) -> bool:
        runner = self.runners.get(name)
        return runner is not None and runner.request_halt()

    def report_state(self, name: str, state: str) -> None:
        runner = self.runners.get(name)
        if runner is not None and state == "ERRORED":
            runner.report_errored()

    def snapshot(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "version": runner.plan.version,
                "state": str(self._board.state(name) or State.NEW),
                "reason": self._board.reason(name),
                "pids": runner.pids,
                "dependencies": [d.name for d in runner.plan.dependencies],
            }
            for name, runner in sorted(self.runners.items())
        ]
