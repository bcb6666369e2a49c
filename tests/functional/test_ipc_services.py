"""Configuration, lifecycle and CLI operations over IPC, with the real awsiotsdk client."""

from __future__ import annotations

import json

from tests.ipc_components import Probe
from tests.waiting import wait_for

CLI = "aws.greengrass.Cli"


def start(start_core, tmp_path, *args: str):
    return start_core(
        "--recipes", str(tmp_path / "recipes"), "--artifacts", str(tmp_path / "artifacts"), *args
    )


def test_a_wrong_svcuid_is_refused_and_others_keep_working(tmp_path, start_core):
    impostor = Probe(tmp_path, "test.Impostor", [], setenv={"SVCUID": "not-a-real-token"})
    honest = Probe(tmp_path, "test.Honest", [{"op": "get_configuration", "args": {}}])
    core = start(start_core, tmp_path)
    refused = impostor.step("connect")
    assert refused["ok"] is False, refused
    assert refused["error"] == "AccessDeniedError", refused
    assert "Connection access denied to event stream RPC server" in refused["message"]
    assert honest.step(0)["ok"]
    assert '"ipc-connect-rejected"' in core.log_text()


def test_get_update_and_subscribe_to_configuration(tmp_path, start_core):
    go = tmp_path / "go"
    reader = Probe(
        tmp_path,
        "test.Reader",
        [
            {"op": "get_configuration", "args": {}},
            {"op": "get_configuration", "args": {"key_path": ["Server", "Port"]}},
            {"op": "get_configuration", "args": {"key_path": ["Server"]}},
            {"op": "get_configuration", "args": {"key_path": ["Nope"]}},
            {"op": "get_configuration", "args": {"component_name": "test.Writer", "key_path": ["Level"]}},
            {"op": "get_configuration", "args": {"component_name": "test.Ghost"}},
            {
                "op": "subscribe_to_configuration_update",
                "args": {"component_name": "test.Writer", "key_path": ["Level"]},
            },
        ],
        config={"Server": {"Port": 8080, "Host": "localhost"}},
    )
    writer = Probe(
        tmp_path,
        "test.Writer",
        [
            {"op": "wait_file", "args": {"path": str(go)}},
            {
                "op": "update_configuration",
                "args": {"key_path": [], "timestamp": 1.0, "value_to_merge": {"Level": "debug"}},
            },
            {
                "op": "update_configuration",
                "args": {"key_path": ["Other"], "timestamp": 2.0, "value_to_merge": {"x": 1}},
            },
            {"op": "get_configuration", "args": {}},
        ],
        config={"Level": "info"},
    )
    core = start(start_core, tmp_path)
    assert reader.step(0)["result"] == {
        "componentName": "test.Reader",
        "value": {"Server": {"Port": 8080, "Host": "localhost"}},
    }
    assert reader.step(1)["result"]["value"] == {"Port": 8080}
    assert reader.step(2)["result"]["value"] == {"Port": 8080, "Host": "localhost"}
    assert reader.step(3) == {
        "step": 3,
        "ok": False,
        "error": "ResourceNotFoundError",
        "message": "Key not found: Nope in the configuration of test.Reader",
    }
    assert reader.step(4)["result"] == {"componentName": "test.Writer", "value": {"Level": "info"}}
    assert reader.step(5)["error"] == "ResourceNotFoundError"
    assert reader.step(6)["ok"]
    go.write_text("")
    writer.done()
    assert writer.step(3)["result"]["value"] == {"Level": "debug", "Other": {"x": 1}}
    assert reader.wait_events(6, 1) == [
        {"configurationUpdateEvent": {"componentName": "test.Writer", "keyPath": ["Level"]}}
    ]
    assert len(reader.events(6)) == 1  # the change under Other is outside the subscribed path
    core.stop()  # an IPC update is kept like a deployed configuration
    again = start_core(root=core.root)
    again.wait_state("test.Writer", "RUNNING")
    assert writer.wait_events  # the restarted probe records into the same file
    wait_for(lambda: len([r for r in writer.records() if r.get("step") == 3]) == 2, what="second run")
    assert [r for r in writer.records() if r.get("step") == 3][-1]["result"]["value"]["Level"] == "debug"


def test_configuration_validation_can_reject_or_accept_a_deployment(tmp_path, start_core):
    picky = Probe(
        tmp_path,
        "test.Picky",
        [
            {
                "op": "validate_and_reply",
                "args": {"status": "REJECTED", "message": "Threshold must be positive"},
            },
        ],
        config={"Threshold": 10},
    )
    easy = Probe(
        tmp_path,
        "test.Easy",
        [
            {"op": "validate_and_reply", "args": {"status": "ACCEPTED"}},
        ],
        config={"Threshold": 10},
    )
    core = start(start_core, tmp_path, "--deployment-timeout", "30")
    assert picky.step(0)["ok"] and easy.step(0)["ok"]
    rejected = core.deploy(update_config={"test.Picky": {"MERGE": {"Threshold": -1}}})
    assert rejected["status"] == "FAILED"
    assert rejected["reason"] == "test.Picky rejected the configuration: Threshold must be positive"
    event = picky.events(0)[0]["validateConfigurationUpdateEvent"]
    assert event == {"configuration": {"Threshold": -1}, "deploymentId": rejected["id"]}
    assert core.request("list")["components"][1]["state"] == "RUNNING"
    accepted = core.deploy(update_config={"test.Easy": {"MERGE": {"Threshold": 20}}})
    assert accepted["status"] == "SUCCEEDED", accepted


def test_update_state_errored_restarts_the_component(tmp_path, start_core):
    probe = Probe(tmp_path, "test.Reporter", [{"op": "update_state", "args": {"state": "ERRORED"}}])
    core = start(start_core, tmp_path)
    # The core restarts it at once, so the probe may not live to record its answer: watch the core.
    wait_for(lambda: "ERRORED" in core.states_logged("test.Reporter"), what="ERRORED after UpdateState")
    del probe
    reason = next(
        json.loads(line)["reason"]
        for line in core.log_text("test.Reporter").splitlines()
        if '"new": "ERRORED"' in line
    )
    assert reason == "the component reported ERRORED"


def test_cli_operations_with_and_without_permission(tmp_path, start_core):
    stopped = tmp_path / "stopped"
    Probe(tmp_path, "test.Target", [])
    admin = Probe(
        tmp_path,
        "test.Admin",
        [
            {"op": "list_components", "args": {}},
            {"op": "get_component_details", "args": {"component_name": "test.Target"}},
            {"op": "get_component_details", "args": {"component_name": "test.Missing"}},
            {"op": "stop_component", "args": {"component_name": "test.Target"}},
        ],
        access={CLI: {"admin": {"operations": ["*"], "resources": ["*"]}}},
    )
    nosy = Probe(
        tmp_path,
        "test.Nosy",
        [
            {"op": "wait_file", "args": {"path": str(stopped)}},
            {"op": "list_components", "args": {}},
            {"op": "restart_component", "args": {"component_name": "test.Target"}},
        ],
        access={
            CLI: {
                "restart-only": {
                    "operations": ["aws.greengrass#RestartComponent"],
                    "resources": ["test.Target"],
                }
            }
        },
    )
    core = start(start_core, tmp_path)
    listed = admin.step(0)["result"]["components"]
    assert {c["componentName"] for c in listed} == {"test.Target", "test.Admin", "test.Nosy"}
    details = admin.step(1)["result"]["componentDetails"]
    assert details["componentName"] == "test.Target" and details["version"] == "1.0.0"
    assert admin.step(2) == {
        "step": 2,
        "ok": False,
        "error": "ComponentNotFoundError",
        "message": "Component with name test.Missing not found",
    }
    assert admin.step(3)["result"] == {"stopStatus": "SUCCEEDED", "message": ""}
    core.wait_state("test.Target", "FINISHED")
    stopped.write_text("")
    assert nosy.step(1)["error"] == "UnauthorizedError"
    assert nosy.step(1)["message"] == (
        "Principal test.Nosy is not authorized to perform aws.greengrass.Cli:aws.greengrass#ListComponents "
        "on resource *"
    )
    assert nosy.step(2)["result"]["restartStatus"] == "SUCCEEDED"
    core.wait_state("test.Target", "RUNNING")


def test_component_updates_are_announced_and_can_be_deferred(tmp_path, start_core):
    watcher = Probe(
        tmp_path,
        "test.Watcher",
        [
            {"op": "defer_updates", "args": {"times": 1, "recheck_ms": 300}},
        ],
    )
    Probe(tmp_path, "test.Changing", [], config={"V": 1})
    core = start(start_core, tmp_path, "--deployment-timeout", "30")
    assert watcher.step(0)["ok"]
    done = core.deploy(update_config={"test.Changing": {"MERGE": {"V": 2}}})
    assert done["status"] == "SUCCEEDED", done
    events = watcher.wait_events(0, 3)
    assert events == [
        {"preUpdateEvent": {"deploymentId": done["id"], "isGgcRestarting": False}},
        {"preUpdateEvent": {"deploymentId": done["id"], "isGgcRestarting": False}},
        {"postUpdateEvent": {"deploymentId": done["id"]}},
    ]
    assert '"deployment-deferred"' in core.log_text() and '"recheck_ms": 300' in core.log_text()
