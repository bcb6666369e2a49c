"""The project's own components under a real core, for functional tests: recipes from `recipes/`, the
artifact built as an operator would build it, and a listener component that records what is published."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from greengrass_components.publish.artifact import stage_artifacts
from tests.core_process import REPO, CoreProcess
from tests.ipc_components import Probe
from tests.waiting import wait_for

RECIPES = REPO / "recipes"
SUBSCRIBERS = {
    "com.edgeway.Uplink",
    "com.edgeway.LambdaHost",
    "com.edgeway.Bridge",
    "com.edgeway.LocalBroker",
}


def with_dependencies(components: tuple[str, ...]) -> list[str]:
    """The components and the project's components they depend on (the model store, say)."""
    found: list[str] = []
    pending = list(components)
    while pending:
        name = pending.pop()
        if name in found or not (RECIPES / f"{name}.yaml").exists():
            continue
        found.append(name)
        recipe = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())
        pending.extend((recipe.get("ComponentDependencies") or {}).keys())
    return found


def stage(base: Path, *components: str) -> tuple[Path, Path]:
    """A recipe folder with these components and what they depend on, and their artifacts."""
    recipe_dir, artifact_dir = base / "edge-recipes", base / "edge-artifacts"
    recipe_dir.mkdir(parents=True, exist_ok=True)
    for name in with_dependencies(components):
        shutil.copy(RECIPES / f"{name}.yaml", recipe_dir / f"{name}.yaml")
    stage_artifacts(recipe_dir, artifact_dir)
    return recipe_dir, artifact_dir


def deploy(core: CoreProcess, base: Path, configs: dict[str, dict[str, Any]], **merge: str) -> None:
    recipe_dir, artifact_dir = stage(base, *configs)
    answer = core.deploy(
        recipe_dir=recipe_dir,
        artifact_dir=artifact_dir,
        merge={name: "1.0.0" for name in configs} | merge,
        update_config={name: {"MERGE": config} for name, config in configs.items() if config},
    )
    assert answer["status"] == "SUCCEEDED", f"{answer}\n{core.log_text()[-3000:]}"
    for name in configs:
        wait_for(
            lambda n=name: "component-started" in core.log_text(n) or "component-ready" in core.log_text(n),
            30,
            f"{name} to start",
        )
        if name in SUBSCRIBERS:
            wait_for(lambda n=name: "component-ready" in core.log_text(n), 30, f"{name} to subscribe")


def deploy_invalid(core: CoreProcess, base: Path, name: str, config: dict[str, Any], *staged: str) -> str:
    """Deploys `name` with a configuration that does not validate (`staged`: recipes it needs besides
    its own); returns its log once it has reported ERRORED."""
    recipe_dir, artifact_dir = stage(base, name, *staged)
    core.deploy(
        recipe_dir=recipe_dir,
        artifact_dir=artifact_dir,
        merge={name: "1.0.0"},
        update_config={name: {"MERGE": config}},
    )
    wait_for(lambda: "ERRORED" in core.states_logged(name), 30, f"{name} to report ERRORED")
    return core.log_text(name)


def deploy_probe(core: CoreProcess, folder: Path, name: str, actions: list[dict[str, Any]]) -> Probe:
    """A probe component allowed every pub/sub operation, deployed and running its actions."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = Probe(
        folder,
        name,
        actions,
        access={"aws.greengrass.ipc.pubsub": {"p": {"operations": ["*"], "resources": ["*"]}}},
    )
    answer = core.deploy(
        recipe_dir=folder / "recipes", artifact_dir=folder / "artifacts", merge={name: "1.0.0"}
    )
    assert answer["status"] == "SUCCEEDED", answer
    return probe


class Listener:
    """A component that subscribes to local topics and records every message."""

    NAME = "test.Listener"

    def __init__(self, core: CoreProcess, base: Path, topics: list[str]) -> None:
        self.topics = topics
        self.probe = deploy_probe(
            core,
            base / "listener",
            self.NAME,
            [{"op": "subscribe_to_topic", "args": {"topic": t}} for t in topics],
        )
        for index in range(len(topics)):
            self.probe.step(index)

    def messages(self, topic: str) -> list[Any]:
        index = self.topics.index(topic)
        return [
            event["jsonMessage"]["message"] if "jsonMessage" in event else event
            for event in self.probe.events(index)
        ]

    def records(self, topic: str) -> list[dict[str, Any]]:
        return [
            r for m in self.messages(topic) for r in (m.get("records", [m]) if isinstance(m, dict) else [])
        ]

    def wait(self, topic: str, predicate: Any, timeout: float = 30.0, what: str = "") -> list[dict[str, Any]]:
        return wait_for(
            lambda: predicate(self.records(topic)) and self.records(topic),
            timeout,
            what or f"records on {topic}",
        )


def publish_from_component(
    core: CoreProcess, base: Path, name: str, messages: list[tuple[str, Any]]
) -> Probe:
    """Deploys a component that publishes these (topic, JSON document) messages, in order, and exits."""
    from tests.ipc_components import json_message

    actions = [
        {"op": "publish_to_topic", "args": {"topic": topic, "publish_message": json_message(document)}}
        for topic, document in messages
    ]
    return deploy_probe(core, base / name, name, actions)


HANDOFF = "{kernel:rootPath}/work/com.edgeway.Uplink/uplink-spool.sqlite3"


def hand_off_from_component(
    core: CoreProcess, base: Path, name: str, messages: list[tuple[str, Any]]
) -> None:
    """Deploys a component that hands these (topic, document) messages to the uplink durably, as the
    sensor hub does, and exits; returns once it has."""
    import json

    import yaml

    from tests.core_process import write_recipe

    folder = base / name
    artifacts = folder / "artifacts" / name / "1.0.0"
    artifacts.mkdir(parents=True, exist_ok=True)
    shutil.copy(Path(__file__).with_name("handoff_feeder.py"), artifacts / "handoff_feeder.py")
    messages_file = folder / "messages.json"
    messages_file.write_text(json.dumps(messages))
    topics = sorted({topic for topic, _ in messages})
    recipe = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": name,
        "ComponentVersion": "1.0.0",
        "ComponentConfiguration": {
            "DefaultConfiguration": {
                "accessControl": {
                    "aws.greengrass.ipc.pubsub": {
                        "p": {"operations": ["aws.greengrass#PublishToTopic"], "resources": topics}
                    }
                }
            }
        },
        "Manifests": [
            {
                "Platform": {"os": "linux"},
                "Lifecycle": {
                    "Run": {
                        "Script": f"python3 -u {{artifacts:path}}/handoff_feeder.py {messages_file}",
                        "Setenv": {"EDGEWAY_HANDOFF": HANDOFF},
                    }
                },
            }
        ],
    }
    write_recipe(folder / "recipes", yaml.safe_dump(recipe, sort_keys=False), name=f"{name}-1.0.0.yaml")
    answer = core.deploy(
        recipe_dir=folder / "recipes", artifact_dir=folder / "artifacts", merge={name: "1.0.0"}
    )
    assert answer["status"] == "SUCCEEDED", answer
    wait_for(lambda: "feeder-done" in core.log_text(name), 120, f"{name} to hand everything over")
