"""The Lambda artifact: the handler code (cloud_backend's handlers and store, nothing local) and its
third-party dependencies for Lambda's platform, zipped deterministically so the digest names it."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ("__init__.py", "handlers", "store")
MAX_UNZIPPED = 250 * 1024 * 1024  # Lambda's limit for a function and its layers, unzipped


class PackagingError(ValueError):
    """The artifact cannot be built; the message says what is wrong."""


@dataclass(frozen=True)
class Artifact:
    data: bytes
    sha256: str
    unzipped: int

    @property
    def key(self) -> str:
        return f"edgeway/cloud/{self.sha256}.zip"


def _entries(root: Path, vendored: Path | None) -> list[tuple[str, Path]]:
    entries: list[tuple[str, Path]] = []
    for name in SHIPPED:
        path = root / name
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        entries += [(f"cloud_backend/{f.relative_to(root).as_posix()}", f) for f in files]
    if vendored is not None:
        entries += [
            (f.relative_to(vendored).as_posix(), f)
            for f in sorted(vendored.rglob("*"))
            if f.is_file() and "__pycache__" not in f.parts
        ]
    return entries


def build(vendored: Path | None = None, root: Path = PACKAGE_ROOT) -> Artifact:
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, path in _entries(root, vendored):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            data = path.read_bytes()
            unzipped += len(data)
            archive.writestr(info, data, zipfile.ZIP_DEFLATED)
    if unzipped > MAX_UNZIPPED:
        raise PackagingError(f"the handlers unzip to {unzipped} bytes; Lambda allows {MAX_UNZIPPED}")
    data = buffer.getvalue()
    return Artifact(data, hashlib.sha256(data).hexdigest(), unzipped)


def pip_vendor(target: Path) -> None:
    """Installs the handlers' dependencies (PyJWT with cryptography) as wheels for python3.12 on
    x86_64 Linux into `target`; `edgeway cloud deploy` skips this on a dry run."""
    import subprocess
    import sys
    from importlib.metadata import version

    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
         "--platform", "manylinux2014_x86_64", "--implementation", "cp", "--python-version", "3.12",
         "--only-binary=:all:", f"PyJWT[crypto]=={version('PyJWT')}"],
        check=True,
    )  # fmt: skip
