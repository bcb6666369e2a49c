"""The README's example component runs as written, with the real awsiotsdk client."""

from __future__ import annotations

import re
from pathlib import Path

from tests.core_process import REPO, write_recipe
from tests.ipc_components import Probe, json_message
from tests.waiting import wait_for


def readme_block(label: str) -> str:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- example: {re.escape(label)} -->\n```\w+\n(.*?)```", text, re.S)
    assert match, f"README has no example block {label!r}"
    return match.group(1)


def test_the_readme_greeter_answers_commands(tmp_path: Path, start_core):
    artifact = tmp_path / "artifacts" / "com.example.Greeter" / "1.0.0" / "greeter.py"
    artifact.parent.mkdir(parents=True)
    artifact.write_text(readme_block("greeter.py"))
    write_recipe(tmp_path / "recipes", readme_block("recipe"), name="com.example.Greeter-1.0.0.yaml")
    ready = tmp_path / "greeter-ready"
    caller = Probe(
        tmp_path,
        "test.Caller",
        [
            {"op": "subscribe_to_topic", "args": {"topic": "greeter/replies"}},
            {"op": "wait_file", "args": {"path": str(ready)}},
            {
                "op": "publish_to_topic",
                "args": {"topic": "greeter/commands", "publish_message": json_message({"name": "Ada"})},
            },
        ],
        access={"aws.greengrass.ipc.pubsub": {"all": {"operations": ["*"], "resources": ["greeter/*"]}}},
    )
    core = start_core("--recipes", str(tmp_path / "recipes"), "--artifacts", str(tmp_path / "artifacts"))
    wait_for(lambda: '\\"event\\": \\"ready\\"' in core.log_text("com.example.Greeter"), what="the greeter")
    ready.write_text("")
    reply = caller.wait_events(0, 1)[0]
    assert reply["jsonMessage"]["message"] == {"reply": "Hello, Ada!"}
