"""The components' one artifact: `edgeway-components.zip` holds `edge_functions/`, `greengrass_components/`
and `requirements.txt`; every recipe in `recipes/` unpacks it and runs a module from it.

The zip is deterministic (sorted entries, fixed timestamps), so its SHA-256 digest, which recipes
carry for the nucleus to check, changes only when the code does.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parents[2]
PACKAGES = ("edge_functions", "greengrass_components")
ARTIFACT_NAME = "edgeway-components.zip"
REQUIREMENTS = (
    "awsiotsdk>=1.21\npaho-mqtt>=2.0\nboto3>=1.34\nopencv-python-headless>=4.8,<5\n"
    "amqtt>=0.12,<0.13\nPyYAML>=6.0\nscikit-image>=0.22\nsemantic_version>=2.10\njsonpointer>=2.4\n"
)


def components_zip(root: Path = PROJECT) -> bytes:
    members = [
        (path.relative_to(root).as_posix(), path.read_bytes())
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
        if "__pycache__" not in path.parts
    ]
    members.append(("requirements.txt", REQUIREMENTS.encode()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def sha256_digest(data: bytes) -> str:
    """As recipes write it: base64 of the raw SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def stage_artifacts(recipe_dir: Path, artifact_dir: Path) -> list[str]:
    """Lays the zip out as a core's `--artifacts` folder wants it, for every recipe that names it:
    `<artifact_dir>/<Component>/<version>/edgeway-components.zip`. Returns the components staged."""
    data = components_zip()
    staged = []
    for path in sorted(recipe_dir.glob("*.yaml")):
        recipe = yaml.safe_load(path.read_text())
        uris = [
            artifact.get("URI", "")
            for manifest in recipe.get("Manifests", [])
            for artifact in manifest.get("Artifacts", []) or []
        ]
        if any(uri.endswith(f"/{ARTIFACT_NAME}") for uri in uris):
            folder = artifact_dir / recipe["ComponentName"] / str(recipe["ComponentVersion"])
            folder.mkdir(parents=True, exist_ok=True)
            (folder / ARTIFACT_NAME).write_bytes(data)
            staged.append(recipe["ComponentName"])
    return staged
