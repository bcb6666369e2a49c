"""The cloud stand-in with real paho clients: chat, history, presence, commands, bad input, restarts."""

from __future__ import annotations

import json

from tests.cloud_process import Client, CloudProcess, user


def join(client: Client, room: str, nick: str) -> dict:
    client.subscribe(f"chat/in/{client.client_id}", f"chat/pub/{room}")
    client.send("chat/out", {"type": "join", "room": room, "user": nick})
    return client.wait(f"chat/in/{client.client_id}", lambda b: b.get("type") == "history")


def say(client: Client, room: str, text: str, nick: str, message_id: str) -> None:
    client.send("chat/out", {"type": "message", "room": room, "text": text, "id": message_id, "user": nick})


def test_two_users_chat_and_a_later_joiner_gets_history(cloud):
    ada, bob = user(cloud, "ada"), user(cloud, "bob")
    join(ada, "lobby", "ada")
    join(bob, "lobby", "bob")
    ada.wait("chat/pub/lobby", lambda b: b.get("text") == "bob joined")
    say(ada, "lobby", "hello <b>bob</b>", "ada", "a1")
    got = bob.wait("chat/pub/lobby", lambda b: b.get("id") == "a1")
    assert got["text"] == "hello <b>bob</b>" and got["user"] == "ada" and got["clientId"] == ada.client_id
    say(bob, "lobby", "hi ada", "bob", "b1")
    ada.wait("chat/pub/lobby", lambda b: b.get("id") == "b1")

    cat = user(cloud, "cat")
    history = join(cat, "lobby", "cat")
    assert [m["id"] for m in history["messages"]] == ["a1", "b1"]
    assert cat.on(f"chat/in/{ada.client_id}") == []  # nobody else's inbox
    for client in (ada, bob, cat):
        client.close()


def test_messages_in_the_same_millisecond_are_all_stored(cloud):
    ada = user(cloud, "ada")
    join(ada, "field", "ada")
    for n in range(40):
        say(ada, "field", f"burst {n}", "ada", f"m{n}")
    ada.wait("chat/pub/field", lambda b: b.get("id") == "m39")
    ada.send("chat/out", {"type": "command", "text": "/history 50", "room": "field"})
    history = ada.wait(
        f"chat/in/{ada.client_id}", lambda b: b.get("type") == "history" and len(b["messages"]) == 40
    )
    stored = history["messages"]
    assert sorted(m["id"] for m in stored) == sorted(f"m{n}" for n in range(40))  # none overwrote another
    assert [m["ts"] for m in stored] == sorted(
        m["ts"] for m in stored
    )  # in time order (any order within a ms)
    ada.close()


def test_commands(cloud):
    ada, bob = user(cloud, "ada"), user(cloud, "bob")
    join(ada, "lobby", "ada")
    join(bob, "lobby", "bob")
    inbox = f"chat/in/{ada.client_id}"
    ada.send("chat/out", {"type": "command", "text": "/nick ada_l", "room": "lobby"})
    assert ada.wait(inbox, lambda b: b.get("command") == "nick")["nick"] == "ada_l"
    bob.wait("chat/pub/lobby", lambda b: b.get("text") == "ada is now ada_l")
    ada.send("chat/out", {"type": "command", "text": "/who", "room": "lobby"})
    assert ada.wait(inbox, lambda b: b.get("command") == "who")["users"] == ["ada_l", "bob"]
    ada.send("chat/out", {"type": "command", "text": "/rooms"})
    rooms = ada.wait(inbox, lambda b: b.get("command") == "rooms")["rooms"]
    assert {"room": "lobby", "online": 2} in rooms
    ada.send("chat/out", {"type": "command", "text": "/join field"})
    ada.wait(inbox, lambda b: b.get("type") == "history" and b["room"] == "field")
    bob.wait("chat/pub/lobby", lambda b: b.get("text") == "ada_l left for field")
    ada.send("chat/out", {"type": "command", "text": "/history 1", "room": "lobby"})
    ada.wait(inbox, lambda b: b.get("type") == "history" and b["room"] == "lobby" and len(b["messages"]) <= 1)
    ada.close()
    bob.close()


def test_presence_announces_who_went_offline(cloud):
    ada, bob = user(cloud, "ada"), user(cloud, "bob")
    join(ada, "lobby", "ada")
    join(bob, "lobby", "bob")
    bob.close()
    ada.wait("chat/pub/lobby", lambda b: b.get("text") == "bob went offline")
    ada.send("chat/out", {"type": "command", "text": "/who", "room": "lobby"})
    assert ada.wait(f"chat/in/{ada.client_id}", lambda b: b.get("command") == "who")["users"] == ["ada"]
    ada.close()


def test_devices_appear_on_the_dashboard_list(cloud):
    ada = user(cloud, "ada")
    ada.subscribe("dash/#")
    device = Client(cloud, "gw-7", cloud.device_token("gw-7")).connect()
    ada.wait("dash/devices/gw-7", lambda b: b["online"] is True)
    device.close()
    ada.wait("dash/devices/gw-7", lambda b: b["online"] is False)
    ada.close()


BAD = [
    (b"not json", "payload is not JSON"),
    (b"[]", "payload must be a JSON object"),
    (json.dumps({"type": "message", "room": "lobby", "text": "x" * 1001, "id": "z1", "user": "ada"}).encode(),
     "text must be 1 to 1000 characters"),
    (json.dumps({"type": "message", "room": "lobby", "text": 7, "id": "z2", "user": "ada"}).encode(),
     "text must be a string"),
    (json.dumps({"type": "message", "room": "Attic!", "text": "hi", "id": "z3", "user": "ada"}).encode(),
     "'Attic!' is not a room name"),
    (json.dumps({"type": "command", "text": "/dance"}).encode(), "unknown command /dance"),
]  # fmt: skip


def test_bad_input_is_answered_on_the_senders_inbox_and_nothing_is_stored_or_fanned_out(cloud):
    ada, bob = user(cloud, "ada"), user(cloud, "bob")
    join(ada, "lobby", "ada")
    join(bob, "lobby", "bob")
    inbox = f"chat/in/{ada.client_id}"
    for payload, error in BAD:
        ada.send("chat/out", payload)
        ada.wait(inbox, lambda b, e=error: b.get("type") == "error" and b["error"].startswith(e))
    say(bob, "lobby", "still here", "bob", "ok1")  # everyone else is unaffected
    ada.wait("chat/pub/lobby", lambda b: b.get("id") == "ok1")
    assert [m.get("id") for m in bob.on("chat/pub/lobby") if m.get("type") == "message"] == ["ok1"]
    assert not [b for b in bob.on(f"chat/in/{bob.client_id}") if b.get("type") == "error"]
    cat = user(cloud, "cat")
    assert [m["id"] for m in join(cat, "lobby", "cat")["messages"]] == ["ok1"]
    for client in (ada, bob, cat):
        client.close()


def test_a_message_over_128_kb_is_dropped_with_an_error(cloud):
    ada = user(cloud, "ada")
    join(ada, "lobby", "ada")
    ada.send("chat/out", b"{" + b" " * (129 * 1024) + b"}")
    error = ada.wait(f"chat/in/{ada.client_id}", lambda b: b.get("type") == "error")
    assert "message over 131072 bytes" in error["error"]
    assert ada.connack == 0 and not ada.disconnected.is_set()
    ada.close()


def test_stored_messages_survive_a_restart(tmp_path):
    first = CloudProcess(tmp_path / "cloud").start()
    try:
        ada = user(first, "ada")
        join(ada, "lobby", "ada")
        say(ada, "lobby", "before the restart", "ada", "r1")
        ada.wait("chat/pub/lobby", lambda b: b.get("id") == "r1")
        ada.close()
    finally:
        first.stop()
    second = CloudProcess(tmp_path / "cloud").start()
    try:
        bob = user(second, "bob")
        assert [m["text"] for m in join(bob, "lobby", "bob")["messages"]] == ["before the restart"]
        bob.close()
    finally:
        second.stop()


def test_the_session_api_refuses_bad_requests_with_a_json_error(cloud):
    import requests

    for body, status, error in [
        (b"nope", 400, "the body is not JSON"),
        (b'{"nick": "<script>"}', 400, "nick must be"),
        (b'{"nick": ' + b'"a" ' * 3000 + b"}", 413, "the body is over 4096 bytes"),
    ]:
        response = requests.post(f"{cloud.http}/api/session", data=body, timeout=5)
        assert response.status_code == status
        assert response.json()["error"].startswith(error)
    keys = requests.get(f"{cloud.http}/.well-known/jwks.json", timeout=5).json()["keys"]
    assert keys[0]["kty"] == "RSA" and "d" not in keys[0]


def test_browsers_connect_over_websocket_at_mqtt_only(cloud):
    import requests

    ada = user(cloud, "ada", "websockets")
    assert join(ada, "lobby", "ada")["room"] == "lobby"
    ada.close()
    assert requests.get(f"http://127.0.0.1:{cloud.ws_port}/elsewhere", timeout=5).status_code == 404
