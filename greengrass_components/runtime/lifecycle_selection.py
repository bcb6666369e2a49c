"""Choose a manifest's effective lifecycle and type it.

A manifest's own `Lifecycle` wins. Otherwise the global lifecycle is filtered by
selection keys, as the nucleus does: the keywords are every selection named by
any manifest of the recipe plus `all`; at a level of the map that uses a keyword,
the manifest's first selection present is taken (else `all`), and everything else
at that level is dropped; at other levels each entry is filtered in turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import RecipeProblem
from .recipe_model import DEFAULT_TIMEOUTS, STEP_NAMES, Lifecycle, Manifest, Recipe, Step, canonical_keys

ALL_SELECTION = "all"
SKIPIF_PATTERN = re.compile(r"^(exists|onpath) +(.+)$")
STEP_KEYS = frozenset({"Script", "Timeout", "Setenv", "Skipif", "RequiresPrivilege"})
LIFECYCLE_KEYS = frozenset({"Setenv", *STEP_NAMES})


def effective_lifecycle(recipe: Recipe, manifest: Manifest) -> Mapping[str, Any]:
    if manifest.lifecycle:
        return manifest.lifecycle
    keywords = {ALL_SELECTION}
    for m in recipe.manifests:
        keywords.update(m.selections)
    filtered = _filter(recipe.global_lifecycle, keywords, manifest.selections)
    return filtered if isinstance(filtered, Mapping) else {}


def _filter(node: Any, keywords: set[str], selections: tuple[str, ...]) -> Any:
    if not isinstance(node, Mapping):
        return node
    if any(key in keywords for key in node):
        for choice in (*selections, ALL_SELECTION):
            if node.get(choice) is not None:
                return _filter(node[choice], keywords, selections)
        return None
    out = {}
    for key, value in node.items():
        filtered = _filter(value, keywords, selections)
        if filtered is not None:
            out[key] = filtered
    return out


def parse_lifecycle(raw: Mapping[str, Any], where: str, source: str) -> tuple[Lifecycle, list[RecipeProblem]]:
    """Type an effective lifecycle; every problem names its field path."""
    problems: list[RecipeProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(RecipeProblem(source, field, message))

    if not isinstance(raw, Mapping):
        problem(where, f"must be a mapping of lifecycle steps, got {type(raw).__name__}")
        return Lifecycle(), problems
    raw = canonical_keys(raw, LIFECYCLE_KEYS)
    for key in raw:
        if key not in LIFECYCLE_KEYS:
            allowed = ", ".join(sorted(LIFECYCLE_KEYS))
            problem(f"{where}.{key}", f"unknown lifecycle step (allowed: {allowed})")
    if "Startup" in raw and "Run" in raw:
        problem(where, "defines both Startup and Run; a lifecycle may define only one of them")
    setenv = _parse_setenv(raw.get("Setenv"), f"{where}.Setenv", problem)
    steps: dict[str, Step | None] = {}
    for name in STEP_NAMES:
        steps[name.lower()] = (
            _parse_step(name, raw[name], f"{where}.{name}", problem) if name in raw else None
        )
    return Lifecycle(setenv=setenv, **steps), problems


def _parse_setenv(value: Any, field: str, problem: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problem(field, f"must be a mapping of variable names to values, got {type(value).__name__}")
        return {}
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, Mapping | list):
            problem(f"{field}.{key}", "must be a string, number or boolean")
            continue
        out[str(key)] = _scalar_text(item)
    return out


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _parse_step(name: str, value: Any, field: str, problem: Any) -> Step | None:
    default_timeout = DEFAULT_TIMEOUTS[name]
    if isinstance(value, str):
        return Step(script=value, timeout=default_timeout)
    if not isinstance(value, Mapping):
        problem(field, f"must be a script string or a mapping with Script, got {type(value).__name__}")
        return None
    value = canonical_keys(value, STEP_KEYS)
    for key in value:
        if key not in STEP_KEYS:
            problem(f"{field}.{key}", f"unknown key (allowed: {', '.join(sorted(STEP_KEYS))})")
    script = value.get("Script")
    if not isinstance(script, str):
        problem(f"{field}.Script", "is required and must be a string")
        return None
    timeout: float | None = default_timeout
    if "Timeout" in value:
        raw_timeout = value["Timeout"]
        try:
            timeout = float(raw_timeout)
            if isinstance(raw_timeout, bool) or timeout <= 0:
                raise ValueError
        except (TypeError, ValueError):
            problem(f"{field}.Timeout", f"must be a positive number of seconds, got {raw_timeout!r}")
            timeout = default_timeout
    skipif = value.get("Skipif")
    if skipif is not None and not (isinstance(skipif, str) and SKIPIF_PATTERN.match(skipif.strip())):
        problem(f"{field}.Skipif", f"must be 'onpath <runnable>' or 'exists <file>', got {skipif!r}")
        skipif = None
    privilege = value.get("RequiresPrivilege", False)
    if isinstance(privilege, str) and privilege.lower() in ("true", "false"):
        privilege = privilege.lower() == "true"
    if not isinstance(privilege, bool):
        problem(f"{field}.RequiresPrivilege", f"must be true or false, got {privilege!r}")
        privilege = False
    return Step(
        script=script,
        timeout=timeout,
        setenv=_parse_setenv(value.get("Setenv"), f"{field}.Setenv", problem),
        skipif=skipif.strip() if isinstance(skipif, str) else None,
        requires_privilege=privilege,
    )
