"""Recipe variables: `{artifacts:path}`, `{configuration:/ptr}`, `{Other.Component:work:path}`...

The syntax follows the nucleus: `{namespace:key}` for this component and
`{component:namespace:key}` for a direct dependency. Only the namespaces the
nucleus knows (configuration, artifacts, work, kernel, iot) are variables, so
shell text such as `${HOME}` or `awk '{print $1}'` passes through untouched.
Where the nucleus leaves an unresolvable variable in place, we raise
`VariableError` naming it: a script run with a literal `{configuration:/Port}`
fails later and far less clearly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpointer

from .errors import VariableError

VARIABLE = re.compile(r"\{(?:(?P<component>[.\w-]+):)?(?P<namespace>[.\w-]+):(?P<key>[^:}]*)\}")
COMPONENT_NAMESPACES = frozenset({"configuration", "artifacts", "work"})
CORE_NAMESPACES = frozenset({"kernel", "iot"})
_MISSING = object()


@dataclass(frozen=True)
class ComponentPaths:
    artifacts: str
    decompressed: str
    work: str


@dataclass(frozen=True)
class VariableScope:
    """What one component exposes to recipe variables."""

    name: str
    configuration: Mapping[str, Any]
    paths: ComponentPaths


@dataclass(frozen=True)
class VariableContext:
    component: VariableScope
    root_path: str
    thing_name: str
    dependencies: Mapping[str, VariableScope] = field(default_factory=dict)


def config_value_text(value: Any) -> str:
    """How the nucleus renders a configuration value inside a script."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Mapping | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def interpolate(text: str, context: VariableContext, where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        resolved = _resolve(match, context, where)
        return match.group(0) if resolved is None else resolved

    return VARIABLE.sub(replace, text)


def interpolate_tree(node: Any, context: VariableContext, where: str) -> Any:
    """Interpolate every string inside a lifecycle mapping (scripts, Setenv, Skipif)."""
    if isinstance(node, str):
        return interpolate(node, context, where)
    if isinstance(node, Mapping):
        return {k: interpolate_tree(v, context, f"{where}.{k}") for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate_tree(v, context, f"{where}[{i}]") for i, v in enumerate(node)]
    return node


def _resolve(match: re.Match[str], context: VariableContext, where: str) -> str | None:
    component, namespace, key = match.group("component", "namespace", "key")
    variable = match.group(0)
    if component is None and namespace in CORE_NAMESPACES:
        if namespace == "kernel" and key == "rootPath":
            return context.root_path
        if namespace == "iot" and key == "thingName":
            return context.thing_name
        raise VariableError(f"{where}: unknown recipe variable {variable}")
    if namespace not in COMPONENT_NAMESPACES:
        return None  # not a recipe variable (shell or JSON text)
    if component is None or component == context.component.name:
        scope = context.component
    elif component in context.dependencies:
        scope = context.dependencies[component]
    else:
        known = ", ".join(sorted(context.dependencies)) or "none"
        raise VariableError(
            f"{where}: recipe variable {variable} names {component}, which is not a direct "
            f"dependency of {context.component.name} (dependencies: {known})"
        )
    if namespace == "configuration":
        return _configuration_value(scope, key, variable, where)
    if namespace == "artifacts" and key == "path":
        return scope.paths.artifacts
    if namespace == "artifacts" and key == "decompressedPath":
        return scope.paths.decompressed
    if namespace == "work" and key == "path":
        return scope.paths.work
    raise VariableError(f"{where}: unknown recipe variable {variable}")


def _configuration_value(scope: VariableScope, pointer: str, variable: str, where: str) -> str:
    if not pointer.startswith("/"):
        raise VariableError(f"{where}: recipe variable {variable}: a JSON pointer must start with '/'")
    try:
        value = jsonpointer.resolve_pointer(dict(scope.configuration), pointer, _MISSING)
    except jsonpointer.JsonPointerException as exc:
        raise VariableError(f"{where}: recipe variable {variable}: {exc}") from exc
    if value is _MISSING:
        raise VariableError(
            f"{where}: recipe variable {variable} does not resolve: "
            f"{scope.name} has no configuration at {pointer}"
        )
    return config_value_text(value)
