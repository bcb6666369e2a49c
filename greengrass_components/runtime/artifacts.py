"""Install a component's artifacts into the core's store.

Local artifacts are laid out as for `greengrass-cli`:
`<artifact dir>/<ComponentName>/<ComponentVersion>/<file name of the URI>`.
As with `greengrass-cli --artifactDir`, the whole folder of that version is
copied, declared or not, to `packages/artifacts/<name>/<version>/`; declared
artifacts must be there, and are checked against
their Digest (base64 of the hash named by Algorithm), given their Permission,
and ZIP archives are unpacked to `packages/artifacts-unarchived/<name>/<version>/<stem>/`.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import zipfile
from pathlib import Path

from .core_paths import CorePaths
from .errors import ArtifactError
from .planner import ComponentPlan
from .recipe_model import Artifact, Permission, Unarchive

_ALGORITHMS = {"SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512", "SHA-1": "sha1", "MD5": "md5"}


def file_digest(path: Path, algorithm: str = "SHA-256") -> str:
    name = _ALGORITHMS.get(algorithm.upper())
    if name is None:
        raise ArtifactError(
            f"unsupported digest algorithm {algorithm!r} (use one of {', '.join(_ALGORITHMS)})"
        )
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, name).digest()
    return base64.b64encode(digest).decode()


def mode_for(artifact: Artifact) -> int:
    mode = 0o600  # the core (owner) always reads and writes its store
    if artifact.read == Permission.ALL:
        mode |= 0o044
    if artifact.execute == Permission.OWNER:
        mode |= 0o100
    elif artifact.execute == Permission.ALL:
        mode |= 0o155
    return mode


def install_artifacts(plan: ComponentPlan, paths: CorePaths, artifact_dir: Path | None) -> None:
    target = paths.artifacts(plan.name, plan.version)
    source_dir = artifact_dir / plan.name / plan.version if artifact_dir else None
    if source_dir is not None and source_dir.is_dir():
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source_dir, target)
    target.mkdir(parents=True, exist_ok=True)
    for artifact in plan.artifacts:
        if artifact.is_docker_image:
            continue  # pulled by the Docker application manager, not installed as a file
        installed = target / artifact.file_name
        source = source_dir / artifact.file_name if source_dir is not None else None
        if not installed.is_file():
            looked = f" (looked for {source})" if source is not None else " (no artifact folder given)"
            raise ArtifactError(f"{plan.name}-{plan.version}: artifact {artifact.uri} is missing{looked}")
        if artifact.digest and artifact.algorithm:
            actual = file_digest(installed, artifact.algorithm)
            if actual != artifact.digest:
                installed.unlink()
                raise ArtifactError(
                    f"{plan.name}-{plan.version}: artifact {artifact.file_name} fails its "
                    f"{artifact.algorithm} digest (recipe {artifact.digest}, file {actual})"
                )
        installed.chmod(mode_for(artifact))
        if artifact.unarchive == Unarchive.ZIP:
            _unzip(
                installed,
                paths.decompressed(plan.name, plan.version) / artifact.unarchived_dir_name,
                artifact,
            )


def _unzip(archive: Path, destination: Path, artifact: Artifact) -> None:
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    root = destination.resolve()
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.infolist():
                out = (destination / member.filename).resolve()
                if not out.is_relative_to(root):
                    raise ArtifactError(
                        f"{archive.name}: member {member.filename!r} escapes the archive folder"
                    )
                zf.extract(member, destination)
    except zipfile.BadZipFile as exc:
        raise ArtifactError(f"{archive.name}: not a valid ZIP archive: {exc}") from exc
    file_mode = mode_for(artifact)
    for path in destination.rglob("*"):
        path.chmod(0o755 if path.is_dir() else file_mode)
