"""Load and validate recipes (YAML or JSON) into the typed model.

Validation collects every problem rather than stopping at the first, so that
`edgeway components validate` can list them all, each with the file, the field
path (`Manifests[1].Lifecycle.Run.Timeout`) and what is wrong.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import RecipeError, RecipeProblem
from .lifecycle_selection import effective_lifecycle, parse_lifecycle
from .recipe_model import (
    COMPONENT_TYPES,
    RECIPE_FORMAT_VERSION,
    Artifact,
    Dependency,
    DependencyType,
    Manifest,
    Permission,
    Recipe,
    Unarchive,
    canonical_keys,
)
from .versions import is_valid_requirement, is_valid_version

RECIPE_SUFFIXES = (".yaml", ".yml", ".json")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TOP_LEVEL_KEYS = frozenset(
    {
        "RecipeFormatVersion",
        "ComponentName",
        "ComponentVersion",
        "ComponentDescription",
        "ComponentPublisher",
        "ComponentType",
        "ComponentSource",
        "ComponentConfiguration",
        "ComponentDependencies",
        "Manifests",
        "Lifecycle",
    }
)
MANIFEST_KEYS = frozenset({"Name", "Platform", "Lifecycle", "Selections", "Artifacts"})
ARTIFACT_KEYS = frozenset({"URI", "Unarchive", "Permission", "Digest", "Algorithm"})
# The nucleus downloads artifacts from S3 and from the Greengrass service (greengrass:, an artifact
# published with the component) and pulls docker: images; any other scheme fails its deployment.
ARTIFACT_SCHEMES = frozenset({"s3", "greengrass", "docker"})


def load_recipe_file(path: Path) -> Recipe:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError([RecipeProblem(str(path), "", f"cannot read file: {exc}")]) from exc
    return load_recipe_text(text, str(path), json_format=path.suffix.lower() == ".json")


def load_recipe_text(text: str, source: str, *, json_format: bool = False) -> Recipe:
    document = _parse_document(text, source, json_format)
    return recipe_from_document(document, source)


def _parse_document(text: str, source: str, json_format: bool) -> Any:
    if json_format:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise RecipeError([RecipeProblem(source, "", f"not valid JSON at {where}: {exc.msg}")]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise RecipeError([RecipeProblem(source, "", f"not valid YAML{where}: {reason}")]) from exc


def recipe_from_document(document: Any, source: str) -> Recipe:
    """Validate a parsed recipe document; raise RecipeError with every problem found."""
    problems: list[RecipeProblem] = []

    def problem(field: str, message: str) -> None:
        problems.append(RecipeProblem(source, field, message))

    if not isinstance(document, Mapping):
        kind = "empty" if document is None else type(document).__name__
        raise RecipeError([RecipeProblem(source, "", f"a recipe must be a mapping, got {kind}")])
    document = canonical_keys(document, TOP_LEVEL_KEYS)

    for key in document:
        if key not in TOP_LEVEL_KEYS:
            problem(str(key), "unknown field")

    fmt = document.get("RecipeFormatVersion")
    if isinstance(fmt, datetime.date):  # YAML reads an unquoted 2020-01-25 as a date
        fmt = fmt.isoformat()
    if fmt is None:
        problem("RecipeFormatVersion", f"is required; use '{RECIPE_FORMAT_VERSION}'")
    elif fmt != RECIPE_FORMAT_VERSION:
        problem("RecipeFormatVersion", f"must be '{RECIPE_FORMAT_VERSION}', got {fmt!r}")

    name = document.get("ComponentName")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problem(
            "ComponentName",
            "is required: 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
            + (f", got {name!r}" if name is not None else ""),
        )
        name = "<unnamed>"

    version = document.get("ComponentVersion")
    if not isinstance(version, str) or not is_valid_version(version):
        problem(
            "ComponentVersion",
            f"is required and must be a semantic version like '1.0.0' (quote it in YAML), got {version!r}",
        )
        version = "0.0.0"

    component_type = document.get("ComponentType", "aws.greengrass.generic")
    if component_type not in COMPONENT_TYPES:
        problem(
            "ComponentType", f"must be one of {', '.join(sorted(COMPONENT_TYPES))}, got {component_type!r}"
        )

    for text_field in ("ComponentDescription", "ComponentPublisher", "ComponentSource"):
        if text_field in document and not isinstance(document[text_field], str):
            problem(text_field, "must be a string")

    default_configuration = _configuration(document.get("ComponentConfiguration"), problem)
    dependencies = _dependencies(document.get("ComponentDependencies"), problem)
    global_lifecycle = document.get("Lifecycle") or {}
    if not isinstance(global_lifecycle, Mapping):
        problem("Lifecycle", f"must be a mapping, got {type(global_lifecycle).__name__}")
        global_lifecycle = {}
    manifests = _manifests(document.get("Manifests"), bool(global_lifecycle), problem)

    recipe = Recipe(
        name=name,
        version=version,
        manifests=tuple(manifests),
        global_lifecycle=global_lifecycle,
        dependencies=tuple(dependencies),
        default_configuration=default_configuration,
        component_type=str(component_type),
        description=str(document.get("ComponentDescription", "")),
        publisher=str(document.get("ComponentPublisher", "")),
        source=source,
        raw=document,
    )
    for index, manifest in enumerate(recipe.manifests):
        where = (
            f"Manifests[{index}].Lifecycle" if manifest.lifecycle else f"Lifecycle (for Manifests[{index}])"
        )
        _, lifecycle_problems = parse_lifecycle(effective_lifecycle(recipe, manifest), where, source)
        problems.extend(lifecycle_problems)
    if problems:
        raise RecipeError(_unique(problems))
    return recipe


def _unique(problems: Iterable[RecipeProblem]) -> list[RecipeProblem]:
    seen: dict[RecipeProblem, None] = {}
    for p in problems:
        seen.setdefault(p, None)
    return list(seen)


def _configuration(value: Any, problem: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problem("ComponentConfiguration", "must be a mapping with DefaultConfiguration")
        return {}
    value = canonical_keys(value, ("DefaultConfiguration",))
    for key in value:
        if key != "DefaultConfiguration":
            problem(f"ComponentConfiguration.{key}", "unknown field (only DefaultConfiguration)")
    defaults = value.get("DefaultConfiguration")
    if defaults is None:
        return {}
    if not isinstance(defaults, Mapping):
        problem("ComponentConfiguration.DefaultConfiguration", "must be a mapping")
        return {}
    plain: dict[str, Any] = json.loads(json.dumps(defaults, default=str))  # dates and the like become text
    return plain


def _dependencies(value: Any, problem: Any) -> list[Dependency]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        problem("ComponentDependencies", "must be a mapping of component names to requirements")
        return []
    out = []
    for dep_name, spec in value.items():
        field = f"ComponentDependencies.{dep_name}"
        if not isinstance(spec, Mapping):
            problem(field, "must be a mapping with VersionRequirement and DependencyType")
            continue
        spec = canonical_keys(spec, ("VersionRequirement", "DependencyType"))
        for key in spec:
            if key not in ("VersionRequirement", "DependencyType"):
                problem(f"{field}.{key}", "unknown field")
        requirement = spec.get("VersionRequirement")
        if not isinstance(requirement, str) or not is_valid_requirement(requirement):
            problem(
                f"{field}.VersionRequirement",
                f"is required and must be an npm-style version range like '^1.0.0', got {requirement!r}",
            )
            continue
        dep_type = spec.get("DependencyType", "HARD")
        if dep_type not in ("HARD", "SOFT"):
            problem(f"{field}.DependencyType", f"must be HARD or SOFT, got {dep_type!r}")
            continue
        out.append(Dependency(str(dep_name), requirement, DependencyType(dep_type)))
    return out


def _manifests(value: Any, has_global_lifecycle: bool, problem: Any) -> list[Manifest]:
    if value is None:
        if has_global_lifecycle:
            return [Manifest(platform={}, lifecycle=None, selections=(), artifacts=())]
        problem("Manifests", "is required: a list with at least one manifest")
        return []
    if not isinstance(value, list) or not value:
        problem("Manifests", "must be a non-empty list of manifests")
        return []
    out = []
    for index, raw in enumerate(value):
        field = f"Manifests[{index}]"
        if not isinstance(raw, Mapping):
            problem(field, "must be a mapping")
            continue
        raw = canonical_keys(raw, MANIFEST_KEYS)
        for key in raw:
            if key not in MANIFEST_KEYS:
                problem(f"{field}.{key}", f"unknown field (allowed: {', '.join(sorted(MANIFEST_KEYS))})")
        platform = _platform(raw.get("Platform"), f"{field}.Platform", problem)
        lifecycle = raw.get("Lifecycle")
        if lifecycle is not None and not isinstance(lifecycle, Mapping):
            problem(f"{field}.Lifecycle", "must be a mapping")
            lifecycle = None
        selections = raw.get("Selections") or []
        if not isinstance(selections, list) or not all(isinstance(s, str) for s in selections):
            problem(f"{field}.Selections", "must be a list of strings")
            selections = []
        artifacts = _artifacts(raw.get("Artifacts"), f"{field}.Artifacts", problem)
        manifest_name = raw.get("Name")
        out.append(
            Manifest(
                platform=platform,
                lifecycle=lifecycle or None,
                selections=tuple(selections),
                artifacts=tuple(artifacts),
                name=str(manifest_name) if manifest_name is not None else None,
            )
        )
    return out


def _platform(value: Any, field: str, problem: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        problem(field, "must be a mapping of platform attributes")
        return {}
    out = {}
    for key, expected in value.items():
        if not isinstance(expected, str) or not expected:
            problem(f"{field}.{key}", f"must be a non-empty string, got {expected!r}")
            continue
        if expected.startswith("/"):
            if len(expected) < 2 or not expected.endswith("/"):
                problem(
                    f"{field}.{key}", f"a regular expression must start and end with '/', got {expected!r}"
                )
                continue
            try:
                re.compile(expected[1:-1])
            except re.error as exc:
                problem(f"{field}.{key}", f"invalid regular expression {expected!r}: {exc}")
                continue
        elif expected != "*" and not expected[0].isalnum():
            problem(f"{field}.{key}", f"an exact value must start with a letter or digit, got {expected!r}")
            continue
        out[str(key)] = expected
    return out


def _artifacts(value: Any, field: str, problem: Any) -> list[Artifact]:
    if value is None:
        return []
    if not isinstance(value, list):
        problem(field, "must be a list of artifacts")
        return []
    out: list[Artifact] = []
    names: dict[str, int] = {}
    for index, raw in enumerate(value):
        where = f"{field}[{index}]"
        if not isinstance(raw, Mapping):
            problem(where, "must be a mapping with URI")
            continue
        raw = canonical_keys(raw, ARTIFACT_KEYS)
        for key in raw:
            if key not in ARTIFACT_KEYS:
                problem(f"{where}.{key}", f"unknown field (allowed: {', '.join(sorted(ARTIFACT_KEYS))})")
        uri = raw.get("URI")
        if not isinstance(uri, str) or not re.match(r"^[a-z][a-z0-9+.-]*:", uri):
            problem(f"{where}.URI", f"is required and must be a URI such as s3://bucket/key, got {uri!r}")
            continue
        scheme = uri.split(":", 1)[0]
        if scheme not in ARTIFACT_SCHEMES:
            problem(
                f"{where}.URI",
                f"scheme {scheme}: is not one the nucleus fetches (s3:, greengrass:, docker:), got {uri!r}",
            )
            continue
        unarchive = raw.get("Unarchive", "NONE")
        if unarchive not in ("NONE", "ZIP"):
            problem(f"{where}.Unarchive", f"must be NONE or ZIP, got {unarchive!r}")
            unarchive = "NONE"
        permission = raw.get("Permission") or {}
        read, execute = "OWNER", "NONE"
        if not isinstance(permission, Mapping):
            problem(f"{where}.Permission", "must be a mapping with Read and Execute")
        else:
            permission = canonical_keys(permission, ("Read", "Execute"))
            read = permission.get("Read", "OWNER")
            execute = permission.get("Execute", "NONE")
            for key, given in (("Read", read), ("Execute", execute)):
                if given not in ("NONE", "OWNER", "ALL"):
                    problem(f"{where}.Permission.{key}", f"must be NONE, OWNER or ALL, got {given!r}")
            read = read if read in ("NONE", "OWNER", "ALL") else "OWNER"
            execute = execute if execute in ("NONE", "OWNER", "ALL") else "NONE"
        digest, algorithm = raw.get("Digest"), raw.get("Algorithm")
        if (digest is None) != (algorithm is None):
            problem(where, "Digest and Algorithm go together: give both or neither")
        artifact = Artifact(
            uri=uri,
            unarchive=Unarchive(unarchive),
            read=Permission(read),
            execute=Permission(execute),
            digest=str(digest) if digest is not None else None,
            algorithm=str(algorithm) if algorithm is not None else None,
        )
        if artifact.is_docker_image:
            out.append(artifact)
            continue
        if artifact.file_name in names:
            problem(
                f"{where}.URI",
                f"file name {artifact.file_name!r} is already used by {field}[{names[artifact.file_name]}]",
            )
        names.setdefault(artifact.file_name, index)
        out.append(artifact)
    return out


def find_recipe_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into the recipe files they hold (sorted); files pass through."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in RECIPE_SUFFIXES))
        else:
            found.append(path)
    return found


def load_recipe_dir(directory: Path) -> tuple[list[Recipe], list[RecipeProblem]]:
    """Every recipe in a folder, and the problems of those that do not load."""
    recipes, problems = [], []
    for path in find_recipe_files([directory]):
        try:
            recipes.append(load_recipe_file(path))
        except RecipeError as exc:
            problems.extend(exc.problems)
    return recipes, problems
