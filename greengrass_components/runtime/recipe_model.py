"""The recipe model (RecipeFormatVersion 2020-01-25) as frozen dataclasses.

A `Recipe` is what a file says. Lifecycles stay raw (`Mapping`) until a manifest
is chosen for this device, because a global lifecycle uses selection keys that
only resolve against that manifest; `lifecycle_selection` turns them into a
typed `Lifecycle`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

RECIPE_FORMAT_VERSION = "2020-01-25"


def canonical_keys(mapping: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """Known keys in their documented spelling, whatever their case (the nucleus ignores case).

    Unknown keys are kept as they are, so validation can name them.
    """
    by_lower = {k.lower(): k for k in known}
    return {by_lower.get(str(k).lower(), k): v for k, v in mapping.items()}


class DependencyType(StrEnum):
    HARD = "HARD"
    SOFT = "SOFT"


class Unarchive(StrEnum):
    NONE = "NONE"
    ZIP = "ZIP"


class Permission(StrEnum):
    NONE = "NONE"
    OWNER = "OWNER"
    ALL = "ALL"


COMPONENT_TYPES = frozenset(
    {
        "aws.greengrass.generic",
        "aws.greengrass.lambda",
        "aws.greengrass.plugin",
        "aws.greengrass.nucleus",
    }
)


@dataclass(frozen=True)
class Dependency:
    name: str
    version_requirement: str
    type: DependencyType = DependencyType.HARD


@dataclass(frozen=True)
class Artifact:
    uri: str
    unarchive: Unarchive = Unarchive.NONE
    read: Permission = Permission.OWNER
    execute: Permission = Permission.NONE
    digest: str | None = None
    algorithm: str | None = None

    @property
    def is_docker_image(self) -> bool:
        """`docker:` URIs name images for the Docker manager component, not files."""
        return self.uri.startswith("docker:")

    @property
    def file_name(self) -> str:
        return self.uri.rstrip("/").rsplit("/", 1)[-1]

    @property
    def unarchived_dir_name(self) -> str:
        """The folder a ZIP artifact unpacks into: its file name without the extension."""
        name = self.file_name
        return name.rsplit(".", 1)[0] if "." in name else name


@dataclass(frozen=True)
class Manifest:
    platform: Mapping[str, str]
    lifecycle: Mapping[str, Any] | None
    selections: tuple[str, ...]
    artifacts: tuple[Artifact, ...]
    name: str | None = None


@dataclass(frozen=True)
class Recipe:
    name: str
    version: str
    manifests: tuple[Manifest, ...]
    global_lifecycle: Mapping[str, Any] = field(default_factory=dict)
    dependencies: tuple[Dependency, ...] = ()
    default_configuration: Mapping[str, Any] = field(default_factory=dict)
    component_type: str = "aws.greengrass.generic"
    description: str = ""
    publisher: str = ""
    source: str = "<recipe>"
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


@dataclass(frozen=True)
class Step:
    """One lifecycle step after selection; `timeout` is None where the step has none (Run)."""

    script: str
    timeout: float | None
    setenv: Mapping[str, str] = field(default_factory=dict)
    skipif: str | None = None
    requires_privilege: bool = False


STEP_NAMES = ("Bootstrap", "Install", "Startup", "Run", "Shutdown", "Recover", "Uninstall")
DEFAULT_TIMEOUTS: Mapping[str, float | None] = {
    "Bootstrap": 120.0,
    "Install": 120.0,
    "Startup": 120.0,
    "Run": None,
    "Shutdown": 15.0,
    "Recover": 60.0,
    "Uninstall": 120.0,
}


@dataclass(frozen=True)
class Lifecycle:
    setenv: Mapping[str, str] = field(default_factory=dict)
    bootstrap: Step | None = None
    install: Step | None = None
    startup: Step | None = None
    run: Step | None = None
    shutdown: Step | None = None
    recover: Step | None = None
    uninstall: Step | None = None

    def step(self, name: str) -> Step | None:
        step: Step | None = getattr(self, name.lower())
        return step
