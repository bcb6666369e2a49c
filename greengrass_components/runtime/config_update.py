"""Configuration updates with the semantics of a Greengrass deployment.

The nucleus computes a component's new configuration from the running one: it
removes every RESET path, merges the recipe's defaults without overwriting what
is left, then merges the MERGE document on top (objects merge key by key; any
other value, lists included, replaces). RESET `""` resets the whole document.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonpointer

from .errors import ConfigurationError


@dataclass(frozen=True)
class ConfigurationUpdate:
    merge: Mapping[str, Any] = field(default_factory=dict)
    reset: tuple[str, ...] = ()


def parse_configuration_update(value: Any, where: str) -> ConfigurationUpdate:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{where}: must be an object with MERGE and/or RESET")
    unknown = [k for k in value if k not in ("MERGE", "RESET")]
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; use MERGE and RESET"
        )
    merge = value.get("MERGE") or {}
    if not isinstance(merge, Mapping):
        raise ConfigurationError(f"{where}.MERGE: must be an object")
    reset = value.get("RESET") or []
    if not isinstance(reset, list) or not all(isinstance(p, str) for p in reset):
        raise ConfigurationError(f"{where}.RESET: must be a list of JSON pointers")
    for pointer in reset:
        if pointer and not pointer.startswith("/"):
            raise ConfigurationError(
                f"{where}.RESET: {pointer!r} is not a JSON pointer (must start with '/')"
            )
    return ConfigurationUpdate(merge=merge, reset=tuple(reset))


def resolve_configuration(
    running: Mapping[str, Any] | None,
    defaults: Mapping[str, Any],
    update: ConfigurationUpdate | None,
) -> dict[str, Any]:
    config: dict[str, Any] = copy.deepcopy(dict(running or {}))
    if update is not None:
        for pointer in update.reset:
            config = _reset(config, pointer)
    merge_missing(config, defaults)
    if update is not None:
        merge_over(config, update.merge)
    return config


def merge_missing(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if key not in target:
            target[key] = copy.deepcopy(value)
        elif isinstance(target[key], dict) and isinstance(value, Mapping):
            merge_missing(target[key], value)


def merge_over(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            merge_over(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _reset(config: dict[str, Any], pointer: str) -> dict[str, Any]:
    if pointer == "":
        return {}
    parts = jsonpointer.JsonPointer(pointer).parts
    node: Any = config
    for part in parts[:-1]:
        if isinstance(node, list):
            raise ConfigurationError(f"RESET {pointer!r}: cannot reset inside a list")
        if not isinstance(node, dict) or part not in node:
            return config  # nothing there to reset
        node = node[part]
    if isinstance(node, list):
        raise ConfigurationError(f"RESET {pointer!r}: cannot reset an element of a list")
    if isinstance(node, dict):
        node.pop(parts[-1], None)
    return config
