"""The stream path through the running stand-in: chat/stream -> rule -> local Kinesis -> stream handler
-> dash/telemetry/{thing} and an alert in room alerts; a poison record set aside, the rest delivered."""

from __future__ import annotations

import time

from tests.cloud_process import Client, user
from tests.waiting import wait_for


def test_telemetry_reaches_the_dashboard_and_a_threshold_alerts_the_room(cloud):
    ada = user(cloud, "ada")
    ada.subscribe("dash/telemetry/gw-1", "dash/vision/gw-1", "chat/pub/alerts")
    device = Client(cloud, "gw-1", cloud.device_token("gw-1")).connect()
    now = int(time.time() * 1000)
    device.send(
        "chat/stream", {"thing": "gw-1", "readings": [{"sensor": "temperature", "value": 21.0, "ts": now}]}
    )
    device.send(
        "chat/stream",
        {"thing": "gw-1", "readings": [{"sensor": "temperature", "value": 35.5, "ts": now + 1}]},
    )
    device.send(
        "chat/stream", {"thing": "gw-1", "vision": [{"labels": {"person": 2}, "faces": 1, "ts": now}]}
    )
    aggregate = ada.wait("dash/telemetry/gw-1", lambda b: b["count"] == 2, timeout=15)
    assert aggregate["max"] == 35.5 and aggregate["min"] == 21.0 and aggregate["last"] == 35.5
    alert = ada.wait("chat/pub/alerts", lambda b: b.get("type") == "message", timeout=15)
    assert alert["text"] == "gw-1 temperature 35.5 is above 30" and alert["user"] == "alerts"
    assert ada.wait("dash/vision/gw-1")["labels"] == {"person": 2}
    history = ada.subscribe(f"chat/in/{ada.client_id}")
    assert history == [1]
    ada.send("chat/out", {"type": "join", "room": "alerts", "user": "ada"})
    stored = ada.wait(f"chat/in/{ada.client_id}", lambda b: b.get("type") == "history")
    assert [m["text"] for m in stored["messages"]] == [alert["text"]]  # alerts are stored like any message
    device.close()
    ada.close()


def test_a_poison_record_is_set_aside_and_the_stream_moves_on(cloud):
    ada = user(cloud, "ada")
    ada.subscribe("dash/telemetry/gw-1")
    device = Client(cloud, "gw-1", cloud.device_token("gw-1")).connect()
    device.send("chat/stream", {"thing": "gw-1", "readings": "not a list"})
    device.send("chat/stream", {"thing": "gw-1", "readings": [{"sensor": "humidity", "value": 40, "ts": 5}]})
    assert ada.wait("dash/telemetry/gw-1", lambda b: b["sensor"] == "humidity", timeout=20)["count"] == 1
    set_aside = wait_for(
        lambda: [
            line for line in cloud.log_lines() if line.get("event") == "stream record set aside after retries"
        ],
        20,
        "the set-aside log line",
    )
    assert "readings and vision must be lists" in set_aside[0]["error"]
    device.close()
    ada.close()
