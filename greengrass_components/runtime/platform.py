"""This device's platform attributes and manifest matching.

Values in a manifest's `Platform` are an exact value, `*` (anything, including
absent) or `/regex/` (a full match, as Java's `matches`). The first manifest
that matches wins; none matching is an error. Architecture names follow the
nucleus: x86_64 is `amd64`, aarch64 is `aarch64`, 32-bit ARM is `arm` with the
`architecture.detail` (armv6l, armv7l).
"""

from __future__ import annotations

import platform as _platform
import re
from collections.abc import Mapping

from .errors import PlatformError
from .recipe_model import Manifest, Recipe

_ARCHITECTURES = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "i386": "x86",
    "i686": "x86",
    "x86": "x86",
}


def detect_platform(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    machine = _platform.machine().lower()
    attributes = {"os": _platform.system().lower() or "linux"}
    if machine.startswith("arm") and machine not in ("arm64",):
        attributes["architecture"] = "arm"
        attributes["architecture.detail"] = machine
    else:
        attributes["architecture"] = _ARCHITECTURES.get(machine, machine)
    attributes.update(overrides or {})
    return attributes


def value_matches(expected: str, actual: str | None) -> bool:
    if expected == "*":
        return True
    if actual is None:
        return False
    if len(expected) >= 2 and expected.startswith("/") and expected.endswith("/"):
        return re.fullmatch(expected[1:-1], actual) is not None
    return expected == actual


def manifest_matches(manifest: Manifest, device: Mapping[str, str]) -> bool:
    return all(value_matches(value, device.get(key)) for key, value in manifest.platform.items())


def select_manifest(recipe: Recipe, device: Mapping[str, str]) -> Manifest:
    for manifest in recipe.manifests:
        if manifest_matches(manifest, device):
            return manifest
    wanted = "; ".join(
        ", ".join(f"{k}={v}" for k, v in m.platform.items()) or "any" for m in recipe.manifests
    )
    have = ", ".join(f"{k}={v}" for k, v in sorted(device.items()))
    raise PlatformError(
        f"{recipe.key}: no manifest matches this device ({have}); manifests want: {wanted or 'none'}"
    )
