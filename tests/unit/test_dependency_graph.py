from __future__ import annotations

import pytest

from greengrass_components.runtime.dependency_graph import RecipeCatalog, resolve
from greengrass_components.runtime.errors import DependencyError
from greengrass_components.runtime.recipe_loader import load_recipe_text


def make(name: str, version: str = "1.0.0", **deps: str):
    dependencies = "".join(
        f"  {d.replace('_', '.')}:\n    VersionRequirement: '{req}'\n" for d, req in deps.items()
    )
    return load_recipe_text(
        f"RecipeFormatVersion: '2020-01-25'\nComponentName: {name}\nComponentVersion: '{version}'\n"
        + (f"ComponentDependencies:\n{dependencies}" if deps else "")
        + "Manifests:\n  - Lifecycle: {Run: 'true'}\n",
        f"{name}.yaml",
    )


def test_dependencies_come_first_and_newest_satisfying_version_is_picked():
    catalog = RecipeCatalog.of(
        [
            make("app", t_db="^1.2.0", t_log="*"),
            make("t.db", "1.1.0"),
            make("t.db", "1.5.0"),
            make("t.db", "2.0.0"),
            make("t.log", "0.9.0", t_db=">=1.0.0"),
        ]
    )
    ordered = resolve({"app": "1.0.0"}, catalog)
    assert [r.key for r in ordered] == ["t.db-1.5.0", "t.log-0.9.0", "app-1.0.0"]


def test_a_pinned_root_must_satisfy_its_dependents():
    catalog = RecipeCatalog.of([make("app", t_db="^1.0.0"), make("t.db", "2.0.0")])
    with pytest.raises(DependencyError, match=r"app-1.0.0 requires t.db \^1.0.0, but t.db-2.0.0 is selected"):
        resolve({"app": "1.0.0", "t.db": "2.0.0"}, catalog)


def test_missing_component_and_missing_version():
    catalog = RecipeCatalog.of([make("app", t_gone="^1.0.0")])
    with pytest.raises(
        DependencyError,
        match=r"no version of t.gone satisfies: app-1.0.0 requires \^1.0.0 \(available versions: none\)",
    ):
        resolve({"app": "1.0.0"}, catalog)
    with pytest.raises(DependencyError, match=r"app=3.0.0: no such recipe \(available versions: 1.0.0\)"):
        resolve({"app": "3.0.0"}, catalog)


def test_a_cycle_names_every_component_in_it():
    catalog = RecipeCatalog.of(
        [make("t.a", t_b="*"), make("t.b", t_c="*"), make("t.c", t_a="*"), make("t.d")]
    )
    with pytest.raises(DependencyError) as caught:
        resolve({"t.a": "1.0.0", "t.d": "1.0.0"}, catalog)
    message = str(caught.value)
    assert message.startswith("dependency cycle: ")
    cycle = message.removeprefix("dependency cycle: ").split(" -> ")
    assert cycle[0] == cycle[-1] and set(cycle) == {"t.a", "t.b", "t.c"} and len(cycle) == 4
