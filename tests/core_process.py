"""A real local core in its own process, for functional tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from greengrass_components.runtime.control_client import control_request
from greengrass_components.runtime.core_paths import CorePaths
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]


def write_recipe(directory: Path, text: str, name: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    body = textwrap.dedent(text).lstrip()
    if name is None:
        import yaml

        doc = yaml.safe_load(body)
        name = f"{doc['ComponentName']}-{doc['ComponentVersion']}.yaml"
    path = directory / name
    path.write_text(body)
    return path


class CoreProcess:
    def __init__(self, root: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.paths = CorePaths(root.resolve())
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> CoreProcess:
        self.paths.control_socket.unlink(missing_ok=True)
        self.stderr_path = self.root.parent / f"{self.root.name}.stderr"
        self.root.parent.mkdir(parents=True, exist_ok=True)
        self._stderr = self.stderr_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edgeway", "core", "run", "--root", str(self.root), *self.args],
            cwd=REPO,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        wait_for(
            lambda: self.paths.control_socket.exists() or self.process.poll() is not None,
            timeout,
            "the control socket",
        )
        assert self.process.poll() is None, f"core exited early:\n{self.stderr_path.read_text()[-3000:]}"
        wait_for(
            lambda: '"core-ready"' in self.stderr_path.read_text() or self.process.poll() is not None,
            timeout,
            "the core to finish its start",
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def request(self, op: str, timeout: float = 60.0, **body: Any) -> dict[str, Any]:
        return control_request(self.paths.control_socket, {"op": op, **body}, timeout)

    def components(self) -> dict[str, dict[str, Any]]:
        answer = self.request("list")
        assert answer["ok"], answer
        return {c["name"]: c for c in answer["components"]}

    def state(self, name: str) -> str | None:
        component = self.components().get(name)
        return component["state"] if component else None

    def wait_state(self, name: str, *states: str, timeout: float = 20.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            component = self.components().get(name)
            return component if component and component["state"] in states else None

        try:
            return wait_for(reached, timeout, f"{name} to be {'/'.join(states)}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; components now: {self.components()}") from None

    def deploy(self, **body: Any) -> dict[str, Any]:
        for key in ("recipe_dir", "artifact_dir"):
            if body.get(key) is not None:
                body[key] = str(body[key])
        return self.request("deploy", timeout=120.0, **body)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self._stderr.close()
        return code

    def deployments(self) -> list[dict[str, Any]]:
        answer = self.request("deployments")
        assert answer["ok"], answer
        return list(answer["deployments"])

    def wait_deployment_done(self, index: int = -1, timeout: float = 60.0) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            found = self.deployments()
            if not found or len(found) <= index:
                return None
            record = found[index]
            return record if record["status"] != "IN_PROGRESS" else None

        return wait_for(done, timeout, "the deployment to finish")

    def states_logged(self, name: str) -> list[str]:
        import json

        return [
            json.loads(line)["new"] for line in self.log_text(name).splitlines() if '"state-change"' in line
        ]

    def log_text(self, name: str = "greengrass") -> str:
        path = self.paths.logs / f"{name}.log"
        return path.read_text() if path.exists() else ""
