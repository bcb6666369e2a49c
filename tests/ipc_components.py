"""Recipes for probe components, written into a test's folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.core_process import write_recipe
from tests.waiting import wait_for

PROBE = Path(__file__).with_name("ipc_probe.py")


def shape(name: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"__shape__": name, "payload": payload}


def json_message(message: Any) -> dict[str, Any]:
    return shape("PublishMessage", {"jsonMessage": {"message": message}})


class Probe:
    """One probe component: its recipe, its actions, and what it recorded."""

    def __init__(
        self,
        base: Path,
        name: str,
        actions: list[dict[str, Any]],
        *,
        access: dict | None = None,
        config: dict | None = None,
        version: str = "1.0.0",
        setenv: dict | None = None,
    ) -> None:
        self.name = name
        self.results = base / f"{name}.results.jsonl"
        actions_file = base / f"{name}.actions.json"
        actions_file.write_text(json.dumps(actions))
        artifacts = base / "artifacts" / name / version
        artifacts.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROBE, artifacts / "ipc_probe.py")
        defaults = dict(config or {})
        if access:
            defaults["accessControl"] = access
        run: dict[str, Any] = {
            "Script": f"python3 -u {{artifacts:path}}/ipc_probe.py {self.results} {actions_file}"
        }
        if setenv:
            run["Setenv"] = setenv
        recipe = {
            "RecipeFormatVersion": "2020-01-25",
            "ComponentName": name,
            "ComponentVersion": version,
            "ComponentConfiguration": {"DefaultConfiguration": defaults},
            "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {"Run": run}}],
        }
        write_recipe(base / "recipes", yaml.safe_dump(recipe, sort_keys=False), name=f"{name}-{version}.yaml")

    def records(self) -> list[dict[str, Any]]:
        if not self.results.exists():
            return []
        return [json.loads(line) for line in self.results.read_text().splitlines() if line.strip()]

    def step(self, index: int, timeout: float = 20.0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next(
                (
                    r
                    for r in self.records()
                    if r.get("step") == index
                    and "event" not in r
                    and "closed" not in r
                    and "stream_error" not in r
                ),
                None,
            )

        return wait_for(found, timeout, f"{self.name} step {index}")

    def events(self, index: int) -> list[Any]:
        return [r["event"] for r in self.records() if r.get("step") == index and "event" in r]

    def wait_events(self, index: int, count: int, timeout: float = 20.0) -> list[Any]:
        return wait_for(
            lambda: len(self.events(index)) >= count and self.events(index),
            timeout,
            f"{count} events on {self.name} step {index}",
        )

    def done(self, timeout: float = 30.0) -> None:
        wait_for(
            lambda: any(r.get("step") == "done" for r in self.records()), timeout, f"{self.name} to finish"
        )
