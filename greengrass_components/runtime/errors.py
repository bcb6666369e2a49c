"""Errors of the local core.

CoreError
├── RecipeError            a recipe does not load or validate; carries every problem found
├── PlatformError          no manifest of a recipe matches this device
├── VariableError          a recipe variable cannot be resolved
├── DependencyError        a dependency is missing, of the wrong version, or part of a cycle
├── ArtifactError          an artifact is missing, unreadable or fails its digest
├── ConfigurationError     a configuration update (MERGE/RESET) is malformed
└── DeploymentError        a deployment request is malformed or cannot be carried out
"""

from __future__ import annotations

from dataclasses import dataclass


class CoreError(Exception):
    """Base of every error the local core raises on purpose."""


@dataclass(frozen=True)
class RecipeProblem:
    """One thing wrong with a recipe: which file, which field, what is wrong."""

    source: str
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.field}" if self.field else self.source
        return f"{where}: {self.message}"


class RecipeError(CoreError):
    def __init__(self, problems: list[RecipeProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class PlatformError(CoreError):
    pass


class VariableError(CoreError):
    pass


class DependencyError(CoreError):
    pass


class ArtifactError(CoreError):
    pass


class ConfigurationError(CoreError):
    pass


class DeploymentError(CoreError):
    pass
