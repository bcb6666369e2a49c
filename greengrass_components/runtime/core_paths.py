"""Where the core keeps things under its root, laid out as the nucleus does."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .variables import ComponentPaths


@dataclass(frozen=True)
class CorePaths:
    root: Path

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def config(self) -> Path:
        return self.root / "config"

    @property
    def state_db(self) -> Path:
        return self.config / "core.sqlite"

    @property
    def process_groups(self) -> Path:
        return self.config / "process-groups.json"

    @property
    def recipe_store(self) -> Path:
        return self.root / "packages" / "recipes"

    @property
    def control_socket(self) -> Path:
        return self.root / "control.sock"

    @property
    def ipc_socket(self) -> Path:
        return self.root / "ipc.socket"

    def artifacts(self, name: str, version: str) -> Path:
        return self.root / "packages" / "artifacts" / name / version

    def decompressed(self, name: str, version: str) -> Path:
        return self.root / "packages" / "artifacts-unarchived" / name / version

    def work(self, name: str) -> Path:
        return self.root / "work" / name

    def component_log(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def component_paths(self, name: str, version: str) -> ComponentPaths:
        return ComponentPaths(
            artifacts=str(self.artifacts(name, version)),
            decompressed=str(self.decompressed(name, version)),
            work=str(self.work(name)),
        )

    def make_dirs(self) -> None:
        for path in (self.root, self.logs, self.config, self.recipe_store, self.root / "work"):
            path.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o700)
