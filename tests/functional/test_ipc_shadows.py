"""Local shadows over IPC with the real awsiotsdk client; kept in SQLite across a core restart."""

from __future__ import annotations

import base64
import json

from tests.ipc_components import Probe

SHADOW = "aws.greengrass.ShadowManager"


def decoded(record: dict) -> dict:
    return json.loads(base64.b64decode(record["result"]["payload"]))


def test_shadow_operations(tmp_path, start_core):
    thing = "pi-7"
    probe = Probe(
        tmp_path,
        "test.Shadowy",
        [
            {
                "op": "update_thing_shadow",
                "args": {
                    "thing_name": thing,
                    "payload": json.dumps({"state": {"desired": {"fan": "on"}, "reported": {"fan": "off"}}}),
                },
            },
            {"op": "get_thing_shadow", "args": {"thing_name": thing}},
            {
                "op": "update_thing_shadow",
                "args": {
                    "thing_name": thing,
                    "payload": json.dumps({"state": {"reported": {"fan": "on"}}, "version": 9}),
                },
            },
            {
                "op": "update_thing_shadow",
                "args": {
                    "thing_name": thing,
                    "shadow_name": "config",
                    "payload": json.dumps({"state": {"desired": {"rate": 5}}}),
                },
            },
            {
                "op": "update_thing_shadow",
                "args": {
                    "thing_name": thing,
                    "shadow_name": "audio",
                    "payload": json.dumps({"state": {"desired": {"volume": 3}}}),
                },
            },
            {"op": "list_named_shadows_for_thing", "args": {"thing_name": thing, "page_size": 1}},
            {"op": "delete_thing_shadow", "args": {"thing_name": thing, "shadow_name": "audio"}},
            {"op": "get_thing_shadow", "args": {"thing_name": thing, "shadow_name": "audio"}},
            {"op": "get_thing_shadow", "args": {"thing_name": "someone-else"}},
            {"op": "update_thing_shadow", "args": {"thing_name": thing, "payload": "{not json"}},
        ],
        access={
            SHADOW: {
                "mine": {
                    "operations": ["*"],
                    "resources": [
                        f"$aws/things/{thing}/shadow",
                        f"$aws/things/{thing}/shadow/name/*",
                        f"$aws/things/{thing}",
                    ],
                }
            }
        },
    )
    core = start_core("--recipes", str(tmp_path / "recipes"), "--artifacts", str(tmp_path / "artifacts"))
    accepted = decoded(probe.step(0))
    assert accepted["version"] == 1 and accepted["state"]["desired"] == {"fan": "on"}
    got = decoded(probe.step(1))
    assert got["state"]["delta"] == {"fan": "on"} and got["version"] == 1
    assert probe.step(2)["error"] == "ConflictError"
    assert probe.step(2)["message"] == "Version conflict: the shadow is at version 1"
    listed = probe.step(5)["result"]
    assert (
        listed["results"] == ["audio"] and listed["next_token"]
        if "next_token" in listed
        else listed["nextToken"]
    )
    assert decoded(probe.step(6))["version"] == 1
    assert probe.step(7)["error"] == "ResourceNotFoundError"
    assert probe.step(7)["message"] == "No shadow exists with name: 'audio'"
    assert probe.step(8)["error"] == "UnauthorizedError"
    assert probe.step(8)["message"].endswith("GetThingShadow on resource $aws/things/someone-else/shadow")
    assert probe.step(9)["error"] == "InvalidArgumentsError"
    assert "not valid JSON" in probe.step(9)["message"]
    core.stop()

    again = Probe(
        tmp_path,
        "test.Shadowy",
        [{"op": "get_thing_shadow", "args": {"thing_name": thing, "shadow_name": "config"}}],
    )
    probe.results.unlink()
    restarted = start_core(root=core.root)
    restarted.wait_state("test.Shadowy", "RUNNING")
    assert decoded(again.step(0))["state"]["desired"] == {"rate": 5}
