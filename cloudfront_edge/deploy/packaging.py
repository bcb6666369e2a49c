"""One zip per function: its module and, when given, its `<module>.json` configuration.

Lambda@Edge has no environment variables, so configuration is embedded at packaging time. The zip is
deterministic (fixed timestamps and order), so an unchanged function packages to the same bytes and the
deployer can skip it. The local CloudFront runs the same files: `stage` unpacks the package it would
deploy.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudfront_edge.errors import PackagingError as PackagingError
from cloudfront_edge.model.distribution import Distribution
from cloudfront_edge.model.triggers import Trigger
from edgeway_common.zips import deterministic_zip

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"
VIEWER_ZIP_LIMIT = 1024 * 1024  # 1 MB for functions on viewer triggers
ORIGIN_ZIP_LIMIT = 50 * 1024 * 1024  # 50 MB on origin triggers only


@dataclass(frozen=True)
class Package:
    function: str
    data: bytes
    files: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.data)


def size_limit(triggers: Iterable[Trigger]) -> int:
    return VIEWER_ZIP_LIMIT if any(t.is_viewer for t in triggers) else ORIGIN_ZIP_LIMIT


def package(
    function: str,
    config: dict[str, Any] | None = None,
    triggers: Iterable[Trigger] = (Trigger.VIEWER_REQUEST,),
    source_dir: Path = FUNCTIONS_DIR,
) -> Package:
    source = source_dir / f"{function}.py"
    if not source.exists():
        raise PackagingError(f"{function}: no {source}")
    members = [(f"{function}.py", source.read_bytes())]
    if config is not None:
        members.append((f"{function}.json", json.dumps(config, indent=2, sort_keys=True).encode()))
    built = Package(function, deterministic_zip(members), tuple(name for name, _ in members))
    triggers = list(triggers)
    limit = size_limit(triggers)
    if built.size > limit:
        where = "a viewer trigger" if limit == VIEWER_ZIP_LIMIT else "origin triggers"
        raise PackagingError(f"{function}: the zip is {built.size} bytes; {where} allows {limit}")
    return built


def stage(built: Package, directory: Path) -> Path:
    """Unpack a package where the local CloudFront loads it from."""
    directory.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(built.data)) as archive:
        for name in built.files:
            (directory / name).write_bytes(archive.read(name))
    stale = directory / f"{built.function}.json"
    if f"{built.function}.json" not in built.files and stale.exists():
        stale.unlink()
    return directory


def load_configs(directory: Path | None) -> dict[str, dict[str, Any]]:
    """`<function>.json` files from a folder: each function's embedded configuration."""
    if directory is None:
        return {}
    configs = {}
    for path in sorted(directory.glob("*.json")):
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise PackagingError(f"{path}: not JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise PackagingError(f"{path}: expected a JSON object")
        configs[path.stem] = loaded
    return configs


def package_distribution(
    distribution: Distribution, function_config: Path | None = None, source_dir: Path = FUNCTIONS_DIR
) -> dict[str, Package]:
    """Every function the distribution associates, packaged with its configuration, checked for size."""
    configs = load_configs(function_config)
    return {
        name: package(name, configs.get(name), distribution.triggers_of(name), source_dir)
        for name in sorted(distribution.functions())
    }
