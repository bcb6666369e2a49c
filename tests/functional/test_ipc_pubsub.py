"""Local pub/sub between components, through the real awsiotsdk IPC client in component processes."""

from __future__ import annotations

import base64

from tests.ipc_components import Probe, json_message, shape
from tests.waiting import wait_for

PUBSUB = "aws.greengrass.ipc.pubsub"


def policy(*entries: tuple[list[str], list[str]]) -> dict:
    return {PUBSUB: {f"p{i}": {"operations": ops, "resources": res} for i, (ops, res) in enumerate(entries)}}


def test_publish_and_subscribe_with_wildcards_modes_and_denials(tmp_path, start_core):
    go = tmp_path / "subscribed"
    listener = Probe(
        tmp_path,
        "test.Listener",
        [
            {"op": "subscribe_to_topic", "args": {"topic": "sensors/+/temperature"}},
            {
                "op": "subscribe_to_topic",
                "args": {"topic": "chat/#", "receive_mode": "RECEIVE_MESSAGES_FROM_OTHERS"},
            },
            {
                "op": "publish_to_topic",
                "args": {"topic": "chat/room", "publish_message": json_message({"from": "me"})},
            },
            {"op": "subscribe_to_topic", "args": {"topic": "secret/#"}},
            {"op": "publish_to_topic", "args": {"topic": "forbidden", "publish_message": json_message({})}},
            {"op": "wait_file", "args": {"path": str(go)}},
        ],
        access=policy(
            (["aws.greengrass#SubscribeToTopic"], ["sensors/+/temperature", "chat/#"]),
            (["aws.greengrass#PublishToTopic"], ["chat/*"]),
        ),
    )
    sensor = Probe(
        tmp_path,
        "test.Sensor",
        [
            {"op": "wait_file", "args": {"path": str(go)}},
            {
                "op": "publish_to_topic",
                "args": {
                    "topic": "sensors/kitchen/temperature",
                    "publish_message": json_message({"celsius": 21.5}),
                },
            },
            {
                "op": "publish_to_topic",
                "args": {
                    "topic": "sensors/kitchen/humidity",
                    "publish_message": json_message({"percent": 40}),
                },
            },
            {
                "op": "publish_to_topic",
                "args": {
                    "topic": "chat/room",
                    "publish_message": shape(
                        "PublishMessage",
                        {"binaryMessage": {"message": base64.b64encode(b"\x00\xffraw").decode()}},
                    ),
                },
            },
        ],
        access=policy((["*"], ["sensors/*", "chat/room"])),
    )
    core = start_core("--recipes", str(tmp_path / "recipes"), "--artifacts", str(tmp_path / "artifacts"))
    for index in range(3):
        assert listener.step(index)["ok"], listener.records()
    denied_subscribe, denied_publish = listener.step(3), listener.step(4)
    assert denied_subscribe == {
        "step": 3,
        "ok": False,
        "error": "UnauthorizedError",
        "message": "Principal test.Listener is not authorized to perform "
        "aws.greengrass.ipc.pubsub:aws.greengrass#SubscribeToTopic on resource secret/#",
    }
    assert denied_publish["error"] == "UnauthorizedError"
    assert denied_publish["message"].endswith("aws.greengrass#PublishToTopic on resource forbidden")
    go.write_text("")
    sensor.done()
    temperature = listener.wait_events(0, 1)
    assert temperature == [
        {"jsonMessage": {"message": {"celsius": 21.5}, "context": {"topic": "sensors/kitchen/temperature"}}}
    ]
    chat = listener.wait_events(1, 1)
    assert chat == [
        {
            "binaryMessage": {
                "message": base64.b64encode(b"\x00\xffraw").decode(),
                "context": {"topic": "chat/room"},
            }
        }
    ]
    # its own chat message was not delivered back (RECEIVE_MESSAGES_FROM_OTHERS), humidity matched nothing
    assert len(listener.events(0)) == 1 and len(listener.events(1)) == 1
    assert core.state("test.Listener") == "RUNNING"


def test_invalid_topics_are_invalid_arguments(tmp_path, start_core):
    probe = Probe(
        tmp_path,
        "test.Sloppy",
        [
            {"op": "publish_to_topic", "args": {"topic": "a/+/b", "publish_message": json_message({})}},
            {"op": "subscribe_to_topic", "args": {"topic": "a/#/b"}},
            {"op": "subscribe_to_topic", "args": {"topic": "a/b", "receive_mode": "SOMETIMES"}},
        ],
        access=policy((["*"], ["*"])),
    )
    start_core("--recipes", str(tmp_path / "recipes"), "--artifacts", str(tmp_path / "artifacts"))
    assert probe.step(0) == {
        "step": 0,
        "ok": False,
        "error": "InvalidArgumentsError",
        "message": "topic 'a/+/b': cannot publish to a topic with wildcards",
    }
    assert probe.step(1)["message"] == "topic 'a/#/b': '#' must be the whole last level"
    assert "receiveMode must be" in probe.step(2)["message"]


def test_a_closed_stream_and_a_vanished_client_leave_no_subscription(tmp_path, start_core):
    closed, publish = tmp_path / "closed", tmp_path / "publish"
    quitter = Probe(
        tmp_path,
        "test.Quitter",
        [
            {"op": "subscribe_to_topic", "args": {"topic": "news"}},
            {"op": "subscribe_to_topic", "args": {"topic": "news"}},
            {"op": "close_stream", "args": {"step": 0}},
            {"op": "wait_file", "args": {"path": str(closed)}},
            {"op": "exit", "args": {"code": 0}},
        ],
        access=policy((["*"], ["*"])),
    )
    publisher = Probe(
        tmp_path,
        "test.Publisher",
        [
            {"op": "wait_file", "args": {"path": str(publish)}},
            {"op": "publish_to_topic", "args": {"topic": "news", "publish_message": json_message({"n": 1})}},
        ],
        access=policy((["*"], ["*"])),
    )
    core = start_core("--recipes", str(tmp_path / "recipes"), "--artifacts", str(tmp_path / "artifacts"))
    assert quitter.step(2)["ok"]
    wait_for(lambda: core.request("ipc")["subscriptions"] == 1, what="one subscription left after close")
    closed.write_text("")
    wait_for(lambda: core.request("ipc")["subscriptions"] == 0, what="no subscription after the client left")
    publish.write_text("")
    publisher.done()
    assert publisher.step(1)["ok"]
    assert quitter.events(0) == [] and quitter.events(1) == []
