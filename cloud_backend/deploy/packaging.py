"""The Lambda artifact: the handlers, the repositories, the project modules they import (found by
walking the imports, so nothing local rides along and nothing they need is left out), and their
third-party dependencies for Lambda's platform, zipped deterministically so the digest names it.

A deploy and a dry run build the same artifact: the vendored wheels come from a cache keyed by what
was asked of pip, so a second build (and every dry run after a deploy) does not reach the registry.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

from cloud_backend.errors import ArtifactError
from edgeway_common.imports import closure, import_graph, modules
from edgeway_common.zips import deterministic_zip

PROJECT = Path(__file__).resolve().parents[2]
ENTRY_PACKAGES = ("cloud_backend.handlers", "cloud_backend.store")  # every module under these ships
SEARCHED = ("cloud_backend", "edgeway_common")  # where the project modules they import may live
MAX_UNZIPPED = 250 * 1024 * 1024  # Lambda's limit for a function and its layers, unzipped
LAMBDA_PYTHON = "3.12"
LAMBDA_PLATFORM = "manylinux2014_x86_64"


@dataclass(frozen=True)
class Artifact:
    data: bytes
    sha256: str
    unzipped: int
    files: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()  # the requirements vendored into it; () when none were

    @property
    def key(self) -> str:
        return f"edgeway/cloud/{self.sha256}.zip"


def shipped_modules(root: Path = PROJECT) -> list[Path]:
    """The project's source files the handlers' zip holds, in a stable order."""
    found = modules(root, SEARCHED)
    start = [name for name in found if name.startswith(ENTRY_PACKAGES)]
    reached = closure(import_graph(found), start)
    return sorted(found[name].path for name in reached)


def build(vendored: Path | None = None, root: Path = PROJECT) -> Artifact:
    entries = [(path.relative_to(root).as_posix(), path) for path in shipped_modules(root)]
    if vendored is not None:
        entries += [
            (f.relative_to(vendored).as_posix(), f)
            for f in sorted(vendored.rglob("*"))
            if f.is_file() and "__pycache__" not in f.parts
        ]
    members = [(name, path.read_bytes()) for name, path in entries]
    unzipped = sum(len(data) for _, data in members)
    if unzipped > MAX_UNZIPPED:
        raise ArtifactError(f"the handlers unzip to {unzipped} bytes; Lambda allows {MAX_UNZIPPED}")
    data = deterministic_zip(members)
    names = tuple(name for name, _ in members)
    return Artifact(
        data, hashlib.sha256(data).hexdigest(), unzipped, names, requirements() if vendored else ()
    )


def requirements() -> tuple[str, ...]:
    """What the handlers need beyond Lambda's runtime (which has boto3): PyJWT with cryptography, at the
    version this project runs with."""
    return (f"PyJWT[crypto]=={version('PyJWT')}",)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgeway" / "lambda-deps"


def vendored_dependencies(cache: Path | None = None, python_version: str = LAMBDA_PYTHON) -> Path:
    """The wheels for Lambda's Python (the template's runtime) on x86_64 Linux, installed into a cached
    folder; pip runs only the first time for a given set of requirements."""
    asked = (*requirements(), LAMBDA_PLATFORM, python_version)
    folder = (cache or cache_dir()) / hashlib.sha256("\n".join(asked).encode()).hexdigest()[:16]
    marker = folder.with_name(folder.name + ".complete")
    if marker.exists() and folder.is_dir():
        return folder
    partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(partial), "--platform", LAMBDA_PLATFORM, "--implementation", "cp",
        "--python-version", python_version, "--only-binary=:all:", *requirements(),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise ArtifactError(
            f"pip could not fetch the handlers' dependencies ({', '.join(requirements())}) for"
            f" python{python_version}: {result.stderr.strip()[-400:]}"
        )
    for stray in partial.glob("bin"):
        shutil.rmtree(stray)
    shutil.rmtree(folder, ignore_errors=True)
    partial.rename(folder)
    marker.write_text("\n".join(asked) + "\n")
    return folder
