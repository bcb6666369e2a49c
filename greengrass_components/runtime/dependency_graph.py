"""Resolve a deployment's components and their dependencies, and order them.

Pure: a catalog of available recipes in, the chosen recipes in dependency order
out. Roots are pinned to the versions the deployment names; a dependency takes
the newest available version that satisfies every requirement on it. A missing
component, an unsatisfiable requirement or a cycle is a `DependencyError` that
names the components involved (a cycle names the whole cycle).
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from .errors import DependencyError
from .recipe_model import Recipe
from .versions import newest, satisfies


@dataclass
class RecipeCatalog:
    """Recipes known to a deployment, by name and version."""

    recipes: dict[str, dict[str, Recipe]] = field(default_factory=dict)

    @classmethod
    def of(cls, recipes: Iterable[Recipe]) -> RecipeCatalog:
        catalog = cls()
        for recipe in recipes:
            catalog.add(recipe)
        return catalog

    def add(self, recipe: Recipe) -> None:
        self.recipes.setdefault(recipe.name, {})[recipe.version] = recipe

    def get(self, name: str, version: str) -> Recipe | None:
        return self.recipes.get(name, {}).get(version)

    def versions(self, name: str) -> list[str]:
        return sorted(self.recipes.get(name, {}))

    def newest(self, name: str) -> Recipe | None:
        versions = self.versions(name)
        return self.recipes[name][newest(versions)] if versions else None


def resolve(roots: Mapping[str, str], catalog: RecipeCatalog) -> list[Recipe]:
    chosen: dict[str, Recipe] = {}
    requirements: dict[str, list[tuple[str, str]]] = {}
    for name, version in roots.items():
        recipe = catalog.get(name, version)
        if recipe is None:
            have = ", ".join(catalog.versions(name)) or "none"
            raise DependencyError(f"{name}={version}: no such recipe (available versions: {have})")
        chosen[name] = recipe
    pending = list(chosen.values())
    while pending:
        recipe = pending.pop(0)
        for dep in recipe.dependencies:
            requirements.setdefault(dep.name, []).append((recipe.key, dep.version_requirement))
            if dep.name in chosen:
                if not satisfies(chosen[dep.name].version, dep.version_requirement):
                    raise DependencyError(
                        f"{recipe.key} requires {dep.name} {dep.version_requirement}, "
                        f"but {chosen[dep.name].key} is selected"
                    )
                continue
            candidates = [
                v
                for v in catalog.versions(dep.name)
                if all(satisfies(v, req) for _, req in requirements[dep.name])
            ]
            if not candidates:
                have = ", ".join(catalog.versions(dep.name)) or "none"
                wanted = "; ".join(f"{who} requires {req}" for who, req in requirements[dep.name])
                raise DependencyError(
                    f"no version of {dep.name} satisfies: {wanted} (available versions: {have})"
                )
            picked = catalog.recipes[dep.name][newest(candidates)]
            chosen[dep.name] = picked
            pending.append(picked)
    return order(chosen.values())


def order(recipes: Iterable[Recipe]) -> list[Recipe]:
    """Dependencies before dependents; ties broken by name so the order is stable."""
    by_name = {r.name: r for r in recipes}
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for recipe in by_name.values():
        sorter.add(recipe.name, *(d.name for d in recipe.dependencies if d.name in by_name))
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = list(reversed(exc.args[1]))
        raise DependencyError(f"dependency cycle: {' -> '.join(cycle)}") from exc
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered.extend(ready)
        sorter.done(*ready)
    return [by_name[name] for name in ordered]
