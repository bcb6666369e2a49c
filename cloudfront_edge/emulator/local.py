"""Assembles a local CloudFront: the distribution, its functions packaged and staged exactly as they
deploy, its origins mapped to local URLs or folders, and the server."""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cloudfront_edge.deploy.packaging import FUNCTIONS_DIR, package_distribution, stage
from cloudfront_edge.emulator.function_host import FunctionHost
from cloudfront_edge.emulator.gateway import EdgeGateway
from cloudfront_edge.emulator.origin import HttpOrigin
from cloudfront_edge.emulator.server import EdgeServer
from cloudfront_edge.emulator.static_origin import StaticOrigin
from cloudfront_edge.errors import OriginMappingError as OriginMappingError
from cloudfront_edge.model.distribution import Distribution, load_distribution
from cloudfront_edge.model.triggers import Trigger


@dataclass(frozen=True)
class EdgeSettings:
    port: int = 8080
    config: Path | None = None  # a template with the distribution; default: the project's
    origins: dict[str, str] = field(default_factory=dict)  # origin id -> http://... or a folder
    function_config: Path | None = None  # folder of <function>.json, embedded as packaging does
    stage_dir: Path | None = None
    viewer_country: str = "US"
    timeouts: dict[Trigger, float] = field(default_factory=dict)
    functions_dir: Path = FUNCTIONS_DIR  # where the function modules are packaged from


def stage_functions(
    distribution: Distribution,
    function_config: Path | None,
    directory: Path,
    source_dir: Path = FUNCTIONS_DIR,
) -> Path:
    for built in package_distribution(distribution, function_config, source_dir).values():
        stage(built, directory)
    return directory


class LocalEdge:
    def __init__(self, settings: EdgeSettings, logger: logging.Logger | None = None) -> None:
        self.settings = settings
        self.distribution = load_distribution(settings.config)
        for origin_id in settings.origins:
            if origin_id not in self.distribution.origins:
                known = ", ".join(sorted(self.distribution.origins))
                raise OriginMappingError(
                    f"--origin {origin_id}: the distribution has no such origin (it has {known})"
                )
        self._log = logger or logging.getLogger("edgeway.edge")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._statics: list[StaticOrigin] = []
        self.server: EdgeServer | None = None
        self.functions: FunctionHost | None = None
        self._transport = HttpOrigin()

    async def start(self) -> None:
        stage_dir = self.settings.stage_dir
        if stage_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="edgeway-edge-")
            stage_dir = Path(self._tmp.name)
        self.functions = FunctionHost(
            stage_functions(
                self.distribution, self.settings.function_config, stage_dir, self.settings.functions_dir
            ),
            timeouts=self.settings.timeouts,
            handlers=self.distribution.handlers(),
        )
        for function in sorted(self.distribution.functions()):
            self.functions.load(function)  # fail at start, not on the first request
        urls = {}
        for origin_id, target in self.settings.origins.items():
            if target.startswith(("http://", "https://")):
                urls[origin_id] = target.rstrip("/")
                continue
            folder = Path(target.removeprefix("dir:"))
            if not folder.is_dir():
                raise OriginMappingError(f"--origin {origin_id}={target}: not a URL and not a folder")
            static = StaticOrigin(folder)
            await static.start()
            self._statics.append(static)
            urls[origin_id] = static.url
        gateway = EdgeGateway(
            self.distribution,
            self.functions,
            self._transport,
            urls,
            viewer_country=self.settings.viewer_country,
        )
        self.server = EdgeServer(gateway, port=self.settings.port, logger=self._log)
        await self.server.start()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.port}"

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop()
        await self._transport.close()
        for static in self._statics:
            await static.stop()
        if self.functions is not None:
            self.functions.close()
        if self._tmp is not None:
            self._tmp.cleanup()
