"""Semantic versions and npm-style version requirements, through `semantic_version`."""

from __future__ import annotations

import semantic_version


def parse_version(text: str) -> semantic_version.Version:
    """A strict semver `major.minor.patch[-pre][+build]`; raises ValueError otherwise."""
    return semantic_version.Version(text)


def is_valid_version(text: str) -> bool:
    try:
        parse_version(text)
    except ValueError:
        return False
    return True


def parse_requirement(text: str) -> semantic_version.NpmSpec:
    return semantic_version.NpmSpec(text.strip() or "*")


def is_valid_requirement(text: str) -> bool:
    try:
        parse_requirement(text)
    except ValueError:
        return False
    return True


def satisfies(version: str, requirement: str) -> bool:
    return parse_version(version) in parse_requirement(requirement)


def newest(versions: list[str]) -> str:
    return str(max(parse_version(v) for v in versions))
