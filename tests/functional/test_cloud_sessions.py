"""Sessions on the running stand-in (`edgeway cloud run`), as IoT Core keeps them: a CONNECT that fails
authentication changes nothing for the client whose id it used; a second authenticated connection
replaces the first. (Persistent sessions: `test_broker_as_iot_core`; every message the stand-in sends
users is QoS 0, which no session keeps.)"""

from __future__ import annotations

from tests.cloud_process import Client, user
from tests.waiting import wait_for


def test_a_refused_connect_with_a_victims_client_id_leaves_the_victim_connected_and_subscribed(cloud):
    victim = user(cloud, "victim")
    victim.subscribe("chat/pub/lobby")
    impostor = Client(cloud, victim.client_id, "not-a-token").connect(expect_ok=False)
    assert impostor.connack != 0
    other = user(cloud, "other")
    other.send(
        "chat/out", {"type": "message", "room": "lobby", "text": "still there?", "id": "m-1", "user": "other"}
    )
    victim.wait("chat/pub/lobby", lambda body: body.get("text") == "still there?")
    assert not victim.disconnected.is_set()
    for client in (victim, impostor, other):
        client.close()


def test_a_second_connection_replaces_the_first_and_works(cloud):
    session = cloud.session("twin")
    first = Client(cloud, session["clientId"], session["token"]).connect()
    second = Client(cloud, session["clientId"], session["token"]).connect()
    wait_for(first.disconnected.is_set, 10, "the first connection to be closed")
    first.paho.loop_stop()  # it would reconnect and take the id back
    assert second.subscribe("chat/pub/lobby") == [1]
    other = user(cloud, "other")
    other.send(
        "chat/out", {"type": "message", "room": "lobby", "text": "hello twin", "id": "m-2", "user": "other"}
    )
    second.wait("chat/pub/lobby", lambda body: body.get("text") == "hello twin")
    for client in (second, other):
        client.close()
