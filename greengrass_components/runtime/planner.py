"""Turn resolved recipes into a plan: one frozen `ComponentPlan` per component.

Pure: picks the manifest for this device, filters the lifecycle by selections,
interpolates recipe variables and types the result. Every problem in every
component is collected, so a deployment fails once with the full list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .core_paths import CorePaths
from .errors import CoreError, DeploymentError, PlatformError, VariableError
from .lifecycle_selection import effective_lifecycle, parse_lifecycle
from .platform import select_manifest
from .recipe_model import Artifact, Dependency, Lifecycle, Recipe
from .variables import ComponentPaths, VariableContext, VariableScope, interpolate_tree


@dataclass(frozen=True)
class ComponentPlan:
    name: str
    version: str
    lifecycle: Lifecycle
    dependencies: tuple[Dependency, ...]
    configuration: Mapping[str, Any]
    artifacts: tuple[Artifact, ...]
    paths: ComponentPaths
    recipe_source: str
    component_type: str = "aws.greengrass.generic"

    def _restart_fields(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "lifecycle": asdict(self.lifecycle),
            "dependencies": [asdict(d) for d in self.dependencies],
        }

    @property
    def restart_fingerprint(self) -> str:
        """Equal restart fingerprints mean a redeployment need not restart the component: as in the
        nucleus, only a change of version, lifecycle (interpolated, Setenv included) or dependencies
        does; a change of configuration alone is delivered as a configuration update."""
        return json.dumps(self._restart_fields(), sort_keys=True, default=str)

    @property
    def fingerprint(self) -> str:
        """Equal fingerprints mean a redeployment need not touch the component."""
        fields = {**self._restart_fields(), "configuration": self.configuration}
        return json.dumps(fields, sort_keys=True, default=str)

    @property
    def hard_dependencies(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dependencies if d.type == "HARD")


def plan_components(
    recipes: Sequence[Recipe],
    configurations: Mapping[str, Mapping[str, Any]],
    device: Mapping[str, str],
    paths: CorePaths,
    thing_name: str,
) -> list[ComponentPlan]:
    scopes = {
        r.name: VariableScope(
            r.name, configurations.get(r.name, {}), paths.component_paths(r.name, r.version)
        )
        for r in recipes
    }
    plans, problems = [], []
    for recipe in recipes:
        try:
            plans.append(_plan_one(recipe, scopes, device, paths, thing_name))
        except (PlatformError, VariableError) as exc:
            problems.append(str(exc))
        except CoreError as exc:
            problems.append(f"{recipe.key}: {exc}")
    if problems:
        raise DeploymentError("; ".join(problems))
    return plans


def _plan_one(
    recipe: Recipe,
    scopes: Mapping[str, VariableScope],
    device: Mapping[str, str],
    paths: CorePaths,
    thing_name: str,
) -> ComponentPlan:
    manifest = select_manifest(recipe, device)
    context = VariableContext(
        component=scopes[recipe.name],
        root_path=str(paths.root),
        thing_name=thing_name,
        dependencies={d.name: scopes[d.name] for d in recipe.dependencies if d.name in scopes},
    )
    raw = interpolate_tree(effective_lifecycle(recipe, manifest), context, f"{recipe.key} Lifecycle")
    lifecycle, problems = parse_lifecycle(raw, "Lifecycle", recipe.source)
    if problems:
        raise DeploymentError("; ".join(str(p) for p in problems))
    return ComponentPlan(
        name=recipe.name,
        version=recipe.version,
        lifecycle=lifecycle,
        dependencies=recipe.dependencies,
        configuration=scopes[recipe.name].configuration,
        artifacts=manifest.artifacts,
        paths=scopes[recipe.name].paths,
        recipe_source=recipe.source,
        component_type=recipe.component_type,
    )
