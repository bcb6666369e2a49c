"""The components' one artifact: `edgeway-components.zip` holds `edge_functions/`, `edgeway_common/`,
`greengrass_components/` and `requirements.txt`; every recipe in `recipes/` unpacks it and runs a module
from it. The requirements are the project's own dependencies (from `pyproject.toml`) that
`[tool.edgeway] component-requirements` names, so their versions are written in one place.

The zip is deterministic (sorted entries, fixed timestamps), so its SHA-256 digest, which recipes
carry for the nucleus to check, changes only when the code does.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import tomllib
from pathlib import Path

import yaml

from edgeway_common.zips import deterministic_zip
from greengrass_components.publish import model_store
from greengrass_components.runtime.errors import ArtifactError

PROJECT = Path(__file__).resolve().parents[2]
PACKAGES = ("edge_functions", "edgeway_common", "greengrass_components")
ARTIFACT_NAME = "edgeway-components.zip"


def _name(requirement: str) -> str:
    """The distribution name a requirement line starts with, normalised as PEP 503 does."""
    name = re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def component_requirements(pyproject: Path) -> str:
    """`requirements.txt` for the components: the named entries of `project.dependencies`, as written."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        dependencies: list[str] = data["project"]["dependencies"]
        wanted: list[str] = data["tool"]["edgeway"]["component-requirements"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as exc:
        raise ArtifactError(f"{pyproject}: cannot read the component requirements: {exc!r}") from exc
    by_name = {_name(line): line for line in dependencies}
    missing = [name for name in wanted if _name(name) not in by_name]
    if missing:
        raise ArtifactError(
            f"{pyproject}: tool.edgeway.component-requirements names {', '.join(missing)},"
            " which project.dependencies does not list"
        )
    return "".join(f"{by_name[_name(name)]}\n" for name in wanted)


def components_zip(root: Path = PROJECT) -> bytes:
    members = [
        (path.relative_to(root).as_posix(), path.read_bytes())
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    ]
    members.append(("requirements.txt", component_requirements(root / "pyproject.toml").encode()))
    return deterministic_zip(members)


def sha256_digest(data: bytes) -> str:
    """As recipes write it: base64 of the raw SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def stage_artifacts(recipe_dir: Path, artifact_dir: Path) -> list[str]:
    """Lays the artifacts out as a core's `--artifacts` folder wants them, for every recipe that names
    them: `<artifact_dir>/<Component>/<version>/<file>`, the components' zip built here and the object
    model fetched (once, checked) by `model_store`. Returns the components staged."""
    data: bytes | None = None
    model: Path | None = None
    staged = []
    for path in sorted(recipe_dir.glob("*.yaml")):
        recipe = yaml.safe_load(path.read_text())
        names = [
            str(artifact.get("URI", "")).rsplit("/", 1)[-1]
            for manifest in recipe.get("Manifests", [])
            for artifact in manifest.get("Artifacts", []) or []
        ]
        folder = artifact_dir / recipe["ComponentName"] / str(recipe["ComponentVersion"])
        wanted = [n for n in names if n == ARTIFACT_NAME or n in model_store.SHA256]
        for name in wanted:
            folder.mkdir(parents=True, exist_ok=True)
            if name == ARTIFACT_NAME:
                data = data if data is not None else components_zip()
                (folder / name).write_bytes(data)
            else:
                model = model or model_store.fetch_model()
                shutil.copyfile(model / name, folder / name)
        if wanted:
            staged.append(recipe["ComponentName"])
    return staged
