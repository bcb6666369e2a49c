"""The whole authorization matrix against the running stand-in: every kind of client, every topic of
the contract, subscribe and publish; plus connecting as someone else."""

from __future__ import annotations

import json

from tests.cloud_process import Client, user

GRANTED, REFUSED = 1, 128

# (filter, user may subscribe, device gw-1 may subscribe)
SUBSCRIBE_MATRIX = [
    ("chat/in/{me}", True, True),
    ("chat/in/{other}", False, False),
    ("chat/in/+", False, False),
    ("chat/in/#", False, False),
    ("chat/pub/lobby", True, True),
    ("chat/pub/#", True, True),
    ("chat/out", False, False),
    ("chat/stream", False, False),
    ("dash/telemetry/gw-1", True, False),
    ("dash/#", True, False),
    ("#", False, False),
    ("$aws/events/presence/connected/{other}", False, False),
    ("$aws/things/gw-1/shadow/update/accepted", False, True),
    ("$aws/things/gw-2/shadow/#", False, False),
]

# (topic, user may publish, device may publish)
PUBLISH_MATRIX = [
    ("chat/out", True, True),
    ("chat/stream", False, True),
    ("chat/pub/lobby", False, False),
    ("chat/in/{other}", False, False),
    ("chat/in/{me}", False, False),
    ("dash/telemetry/gw-1", False, False),
    ("$aws/events/presence/connected/{me}", False, False),
    ("$aws/things/gw-2/shadow/update", False, False),
    ("anything/else", False, False),
]


def fill(topic: str, me: str, other: str) -> str:
    return topic.format(me=me, other=other)


def check_subscriptions(client: Client, other: str, column: int) -> list[str]:
    wrong = []
    for row in SUBSCRIBE_MATRIX:
        topic = fill(row[0], client.client_id, other)
        (code,) = client.subscribe(topic)
        if (code != REFUSED) != row[column]:
            wrong.append(
                f"subscribe {topic}: SUBACK {code}, expected {'granted' if row[column] else 'refused'}"
            )
    return wrong


def check_refused_publishes(client: Client, other: str, column: int) -> list[str]:
    inbox = f"chat/in/{client.client_id}"
    wrong = []
    for row in PUBLISH_MATRIX:
        if row[column]:
            continue
        topic = fill(row[0], client.client_id, other)
        client.send(topic, {"type": "message", "room": "lobby", "text": "sneaky", "id": "x", "user": "x"})
        error = client.wait(inbox, lambda b, t=topic: b.get("type") == "error" and b["error"].endswith(t))
        if "not" not in error["error"]:
            wrong.append(f"publish {topic}: {error}")
    return wrong


def test_a_users_matrix(cloud):
    ada, bob = user(cloud, "ada"), user(cloud, "bob")
    bob.subscribe(f"chat/in/{bob.client_id}", "chat/pub/lobby")
    assert check_subscriptions(ada, bob.client_id, 1) == []
    assert check_refused_publishes(ada, bob.client_id, 1) == []
    ada.send("chat/out", {"type": "message", "room": "lobby", "text": "allowed", "id": "ok", "user": "ada"})
    bob.wait("chat/pub/lobby", lambda b: b.get("id") == "ok")
    assert [b for b in bob.on("chat/pub/lobby") if b.get("text") == "sneaky"] == []  # nothing leaked
    assert bob.on(f"chat/in/{bob.client_id}") == []
    ada.close()
    bob.close()


def test_a_devices_matrix(cloud):
    bob = user(cloud, "bob")
    bob.subscribe(f"chat/in/{bob.client_id}", "chat/pub/lobby")
    device = Client(cloud, "gw-1", cloud.device_token("gw-1")).connect()
    assert check_subscriptions(device, bob.client_id, 2) == []
    assert check_refused_publishes(device, bob.client_id, 2) == []
    assert [b for b in bob.on("chat/pub/lobby") if b.get("text") == "sneaky"] == []
    device.close()
    bob.close()


def test_a_token_connects_only_as_its_own_client_id(cloud):
    session = cloud.session("ada")
    impostor = Client(cloud, "user-someone-else", session["token"]).connect(expect_ok=False)
    assert impostor.connack != 0
    device_as_other = Client(cloud, "gw-2", cloud.device_token("gw-1")).connect(expect_ok=False)
    assert device_as_other.connack != 0
    nobody = Client(cloud, "user-x", "not-a-token").connect(expect_ok=False)
    assert nobody.connack != 0
    for client in (impostor, device_as_other, nobody):
        client.paho.loop_stop()
    still = Client(cloud, session["clientId"], session["token"]).connect()  # the broker kept serving
    still.close()


def test_a_will_on_a_forbidden_topic_is_refused_at_connect(cloud):
    session = cloud.session("ada")
    client = Client(cloud, session["clientId"], session["token"])
    client.paho.will_set("chat/pub/lobby", json.dumps({"type": "message", "text": "forged"}))
    client.connect(expect_ok=False)
    assert client.connack != 0
    client.paho.loop_stop()


def test_shadow_api_for_a_device(cloud):
    device = Client(cloud, "gw-1", cloud.device_token("gw-1")).connect()
    prefix = "$aws/things/gw-1/shadow"
    device.subscribe(f"{prefix}/#")
    device.send(f"{prefix}/get", {"clientToken": "g0"})
    assert device.wait(f"{prefix}/get/rejected")["code"] == 404
    device.send(
        f"{prefix}/update", {"state": {"desired": {"rate": 5}, "reported": {"rate": 1}}, "clientToken": "u1"}
    )
    accepted = device.wait(f"{prefix}/update/accepted")
    assert accepted["version"] == 1 and accepted["clientToken"] == "u1"
    assert accepted["metadata"]["desired"]["rate"]["timestamp"] > 0
    assert device.wait(f"{prefix}/update/delta")["state"] == {"rate": 5}
    documents = device.wait(f"{prefix}/update/documents")
    assert documents["previous"] is None and documents["current"]["state"]["desired"] == {"rate": 5}
    device.send(f"{prefix}/update", {"state": {"reported": {"rate": 5}}, "version": 7})
    assert device.wait(f"{prefix}/update/rejected")["code"] == 409
    device.send(f"{prefix}/update", b"{not json")
    assert device.wait(f"{prefix}/update/rejected", lambda b: b["code"] == 400)["message"]
    device.send(f"{prefix}/name/config/update", {"state": {"reported": {"mode": "eco"}}})
    assert device.wait(f"{prefix}/name/config/update/accepted")["version"] == 1
    device.send(f"{prefix}/get", {})
    got = device.wait(f"{prefix}/get/accepted")
    assert got["state"]["delta"] == {"rate": 5} and got["version"] == 1
    device.send(f"{prefix}/delete", {})
    assert device.wait(f"{prefix}/delete/accepted")["version"] == 1
    assert device.connack == 0 and not device.disconnected.is_set()
    device.close()
