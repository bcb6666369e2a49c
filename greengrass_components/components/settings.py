"""Reading a component's configuration: each getter checks one key and names it when it is wrong."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from .component_main import ComponentConfigError


def section(raw: Any, key: str, where: str = "configuration") -> dict[str, Any]:
    value = raw.get(key, {}) if isinstance(raw, dict) else None
    if not isinstance(value, dict):
        raise ComponentConfigError(f"{where}.{key} must be an object, got {value!r}")
    return value


def number(
    raw: dict[str, Any],
    key: str,
    default: float,
    where: str = "configuration",
    *,
    minimum: float | None = None,
) -> float:
    value = raw.get(key, default)
    if isinstance(value, str):  # recipes and the CLI often give numbers as strings
        with contextlib.suppress(ValueError):
            value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ComponentConfigError(f"{where}.{key} must be a number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ComponentConfigError(f"{where}.{key} must be at least {minimum:g}, got {value!r}")
    return float(value)


def text(raw: dict[str, Any], key: str, default: str | None, where: str = "configuration") -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise ComponentConfigError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return value


def flag(raw: dict[str, Any], key: str, default: bool, where: str = "configuration") -> bool:
    value = raw.get(key, default)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ComponentConfigError(f"{where}.{key} must be true or false, got {value!r}")
    return value


def items(raw: dict[str, Any], key: str, where: str = "configuration") -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ComponentConfigError(f"{where}.{key} must be a list, got {value!r}")
    return value
