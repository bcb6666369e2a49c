"""Local deployments into the running core, as `greengrass-cli deployment create` does them.

A deployment names components to merge (NAME=VERSION), components to remove and
configuration updates (MERGE/RESET). The manager resolves the new set with its
dependencies, plans it (every problem fails the deployment before anything
stops), installs artifacts, then touches only what changed: removed and changed
components stop dependents-first, new and changed ones start. If a component
becomes BROKEN, or the set is not ready within the timeout, the previous set is
restored and the deployment is FAILED with the reason. Deployments run one at a
time and are recorded in the state store.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from edgeway_common.json_logs import log

from .artifacts import install_artifacts
from .builtins import built_in_recipes
from .config_store import ConfigStore
from .config_update import ConfigurationUpdate, parse_configuration_update, resolve_configuration
from .core_paths import CorePaths
from .dependency_graph import RecipeCatalog, resolve
from .errors import CoreError, DeploymentError, RecipeError
from .planner import ComponentPlan, plan_components
from .recipe_loader import load_recipe_dir, load_recipe_file
from .recipe_model import Recipe
from .state_board import READY, State, StateBoard
from .state_store import DeployedComponent, StateStore
from .supervisor import Supervisor
from .versions import is_valid_version


class DeploymentHooks(Protocol):
    """What a deployment asks of the components (over IPC) before and after it changes them."""

    async def validate_configuration(
        self, component: str, configuration: Mapping[str, Any], deployment_id: str
    ) -> str | None: ...

    async def before_components_update(self, deployment_id: str) -> None: ...

    def after_components_update(self, deployment_id: str) -> None: ...


SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"


@dataclass(frozen=True)
class DeploymentRequest:
    merge: Mapping[str, str] = field(default_factory=dict)
    remove: tuple[str, ...] = ()
    update_config: Mapping[str, ConfigurationUpdate] = field(default_factory=dict)
    recipe_dir: Path | None = None
    artifact_dir: Path | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> DeploymentRequest:
        merge = body.get("merge") or {}
        if not isinstance(merge, Mapping) or not all(isinstance(v, str) for v in merge.values()):
            raise DeploymentError("merge: must map component names to versions")
        for name, version in merge.items():
            if not is_valid_version(version):
                raise DeploymentError(f"merge: {name}={version}: not a semantic version like 1.0.0")
        remove = body.get("remove") or []
        if not isinstance(remove, list) or not all(isinstance(n, str) for n in remove):
            raise DeploymentError("remove: must be a list of component names")
        clash = sorted(set(remove) & set(merge))
        if clash:
            raise DeploymentError(f"{', '.join(clash)}: both merged and removed in one deployment")
        raw_updates = body.get("update_config") or {}
        if not isinstance(raw_updates, Mapping):
            raise DeploymentError("update_config: must map component names to {MERGE, RESET} objects")
        try:
            updates = {
                name: parse_configuration_update(value, f"update_config.{name}")
                for name, value in raw_updates.items()
            }
        except CoreError as exc:
            raise DeploymentError(str(exc)) from exc
        return cls(
            merge=dict(merge),
            remove=tuple(remove),
            update_config=updates,
            recipe_dir=Path(body["recipe_dir"]) if body.get("recipe_dir") else None,
            artifact_dir=Path(body["artifact_dir"]) if body.get("artifact_dir") else None,
        )


@dataclass(frozen=True)
class DeploymentResult:
    id: str
    status: str
    reason: str = ""


class DeploymentManager:
    def __init__(
        self,
        paths: CorePaths,
        store: StateStore,
        supervisor: Supervisor,
        board: StateBoard,
        device: Mapping[str, str],
        thing_name: str,
        logger: logging.Logger,
        *,
        ready_timeout: float = 300.0,
        configs: ConfigStore | None = None,
        hooks: DeploymentHooks | None = None,
    ) -> None:
        self._configs = configs
        self.hooks = hooks
        self._paths = paths
        self._store = store
        self._supervisor = supervisor
        self._board = board
        self._device = device
        self._thing = thing_name
        self._log = logger
        self._ready_timeout = ready_timeout
        self._lock = asyncio.Lock()
        self._roots: dict[str, str] = {}

    # -- restore --------------------------------------------------------------

    def restore(self) -> None:
        """Start the deployed set kept in the state store, as it was."""
        self._store.fail_unfinished("the core stopped before the deployment finished")
        deployed = self._store.deployed()
        if not deployed:
            return
        recipes = [load_recipe_file(Path(c.recipe_path)) for c in deployed]
        configurations = {c.name: c.configuration for c in deployed}
        ordered = resolve({c.name: c.version for c in deployed}, RecipeCatalog.of(recipes))
        plans = plan_components(ordered, configurations, self._device, self._paths, self._thing)
        self._roots = {c.name: c.version for c in deployed if c.is_root}
        self._set_configurations(plans, forget=[])
        log(self._log, logging.INFO, "restore", components=[p.name for p in plans])
        broken = {
            name: reason
            for name, (version, reason) in self._store.broken().items()
            if any(p.name == name and p.version == version for p in plans)
        }
        self._supervisor.start(plans, broken=broken)

    # -- deploy ---------------------------------------------------------------

    async def deploy(self, request: DeploymentRequest, deployment_id: str | None = None) -> DeploymentResult:
        deployment_id = deployment_id or str(uuid.uuid4())
        self._store.record_deployment(deployment_id, _describe(request))
        async with self._lock:
            log(
                self._log,
                logging.INFO,
                "deployment-start",
                deployment=deployment_id,
                components=",".join(f"{n}@{v}" for n, v in sorted(request.merge.items())),
                remove=",".join(request.remove),
                configured=",".join(sorted(request.update_config)),
            )
            try:
                reason = await self._apply(request, deployment_id)
            except (CoreError, OSError) as exc:
                reason = str(exc)
                status = FAILED
            else:
                status = FAILED if reason else SUCCEEDED
            self._store.finish_deployment(deployment_id, status, reason)
            level = logging.INFO if status == SUCCEEDED else logging.ERROR
            log(self._log, level, "deployment-end", deployment=deployment_id, status=status, reason=reason)
            return DeploymentResult(deployment_id, status, reason)

    def _set_configurations(self, plans: list[ComponentPlan], forget: list[str]) -> None:
        if self._configs is None:
            return
        for name in forget:
            self._configs.forget(name)
        for plan in plans:
            self._configs.set(plan.name, plan.configuration)

    def _running_configuration(
        self, name: str, current: Mapping[str, ComponentPlan]
    ) -> Mapping[str, Any] | None:
        running = self._configs.get(name) if self._configs is not None else None
        if running is not None:
            return running
        return current[name].configuration if name in current else None

    async def _apply(self, request: DeploymentRequest, deployment_id: str) -> str:
        current = self._supervisor.plans
        roots = dict(self._roots)
        for name in request.remove:
            if name not in roots:
                raise DeploymentError(f"cannot remove {name}: it is not deployed as a root component")
            del roots[name]
        roots.update(request.merge)
        ordered = resolve(roots, self._catalog(request.recipe_dir))
        unknown = sorted(set(request.update_config) - {r.name for r in ordered})
        if unknown:
            raise DeploymentError(
                f"update_config names {', '.join(unknown)}, which this deployment does not deploy"
            )
        running = {r.name: self._running_configuration(r.name, current) for r in ordered}
        configurations = {
            r.name: resolve_configuration(
                running[r.name],
                r.default_configuration,
                request.update_config.get(r.name),
            )
            for r in ordered
        }
        plans = plan_components(ordered, configurations, self._device, self._paths, self._thing)
        target = {p.name: p for p in plans}
        changed = [
            n
            for n in target
            if n in current
            and (
                target[n].restart_fingerprint != current[n].restart_fingerprint
                or self._board.state(n) == State.BROKEN
            )
        ]
        reconfigured = [
            n
            for n in target
            if n in current and n not in changed and target[n].fingerprint != current[n].fingerprint
        ]
        added = [n for n in target if n not in current]
        removed = [n for n in current if n not in target]
        for name in [*added, *changed]:
            install_artifacts(target[name], self._paths, request.artifact_dir)
        recipe_paths = {r.name: self._store_recipe(r) for r in ordered}

        log(
            self._log,
            logging.INFO,
            "deployment-plan",
            added=added,
            changed=changed,
            reconfigured=reconfigured,
            removed=removed,
        )
        if self.hooks is not None:
            for name in [*changed, *reconfigured]:
                if dict(target[name].configuration) != dict(running[name] or {}):
                    rejected = await self.hooks.validate_configuration(
                        name, target[name].configuration, deployment_id
                    )
                    if rejected:
                        raise DeploymentError(rejected)
            if changed or removed or reconfigured:  # as the nucleus: before any update it applies
                await self.hooks.before_components_update(deployment_id)
        await self._supervisor.stop([*removed, *changed], uninstall=removed)
        self._set_configurations([target[n] for n in [*added, *changed, *reconfigured]], forget=removed)
        for name in reconfigured:  # running on: the configuration update event tells it
            self._supervisor.replace_plan(target[name])
        self._store.clear_broken([*added, *changed, *removed])
        self._supervisor.start(p for p in plans if p.name in added or p.name in changed)
        failure = await self._wait_ready([*added, *changed])
        if failure:
            for name in reconfigured:
                self._supervisor.replace_plan(current[name])
            self._set_configurations([current[n] for n in reconfigured], forget=[])
            await self._roll_back(current, added, changed, removed)
            return f"{failure}; rolled back to the previous deployment"
        self._roots = roots
        if self.hooks is not None:
            self.hooks.after_components_update(deployment_id)
        self._store.replace_deployed(
            [
                DeployedComponent(
                    p.name, p.version, p.name in roots, dict(p.configuration), recipe_paths[p.name]
                )
                for p in plans
            ]
        )
        return ""

    def _catalog(self, recipe_dir: Path | None) -> RecipeCatalog:
        stored, _ = load_recipe_dir(self._paths.recipe_store)
        catalog = RecipeCatalog.of([*built_in_recipes(), *stored])
        if recipe_dir is not None:
            if not recipe_dir.is_dir():
                raise DeploymentError(f"recipe folder {recipe_dir} does not exist")
            fresh, problems = load_recipe_dir(recipe_dir)
            if problems:
                raise RecipeError(problems)
            for recipe in fresh:
                catalog.add(recipe)
        return catalog

    def _store_recipe(self, recipe: Recipe) -> str:
        path = self._paths.recipe_store / f"{recipe.name}-{recipe.version}.json"
        path.write_text(json.dumps(recipe.raw, indent=2, default=str))
        return str(path)

    async def _wait_ready(self, names: list[str]) -> str:
        def settled() -> bool:
            return all(self._board.state(n) in READY or self._board.state(n) == State.BROKEN for n in names)

        in_time = await self._board.wait_until(settled, self._ready_timeout)
        broken = [n for n in names if self._board.state(n) == State.BROKEN]
        if broken:
            return "; ".join(f"{n} is BROKEN: {self._board.reason(n)}" for n in broken)
        if not in_time:
            late = [f"{n} ({self._board.state(n)})" for n in names if self._board.state(n) not in READY]
            return f"not ready within {self._ready_timeout:g}s: {', '.join(late)}"
        return ""

    async def _roll_back(
        self, previous: Mapping[str, ComponentPlan], added: list[str], changed: list[str], removed: list[str]
    ) -> None:
        log(
            self._log,
            logging.WARNING,
            "deployment-rollback",
            stopping=[*added, *changed],
            restoring=[*changed, *removed],
        )
        await self._supervisor.stop([*added, *changed])
        restore = [previous[n] for n in previous if n in changed or n in removed]
        self._set_configurations(restore, forget=added)
        self._supervisor.start(restore)
        await self._wait_ready([p.name for p in restore])


_SECRET = re.compile(r"password|secret|token|credential|private", re.IGNORECASE)


def redacted(value: Any) -> Any:
    """A configuration with the values of secret-looking keys replaced, for records and logs."""
    if isinstance(value, Mapping):
        return {k: "(redacted)" if _SECRET.search(str(k)) else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(v) for v in value]
    return value


def _describe(request: DeploymentRequest) -> dict[str, Any]:
    return {
        "merge": dict(request.merge),
        "remove": list(request.remove),
        "update_config": {
            n: {"MERGE": redacted(dict(u.merge)), "RESET": list(u.reset)}
            for n, u in request.update_config.items()
        },
        "recipe_dir": str(request.recipe_dir) if request.recipe_dir else None,
        "artifact_dir": str(request.artifact_dir) if request.artifact_dir else None,
    }
