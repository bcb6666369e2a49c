"""The chat, presence and stream handlers against SQLite and against DynamoDB (moto)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from itertools import count

import pytest

from cloud_backend.handlers import chat, presence, stream
from cloud_backend.handlers.backend import Backend
from cloud_backend.handlers.publisher import RecordingPublisher
from cloud_backend.handlers.thresholds import parse_thresholds
from cloud_backend.store.records import ChatMessage
from tests.backend_support import stores_of

KINDS = ["sqlite", "dynamodb"]


class Clock:
    def __init__(self, start: int = 1_700_000_000_000) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now


@pytest.fixture(params=KINDS)
def backend(request, tmp_path) -> Iterator[Backend]:
    ids = count()
    with stores_of(request.param, tmp_path) as stores:
        yield Backend(
            stores.messages,
            stores.presence,
            stores.telemetry,
            RecordingPublisher(),
            thresholds=parse_thresholds("temperature>30"),
            now_ms=Clock(),
            new_id=lambda: f"id-{next(ids)}",
        )


def published(backend: Backend) -> RecordingPublisher:
    assert isinstance(backend.publisher, RecordingPublisher)
    return backend.publisher


def send(backend: Backend, client_id: str, payload) -> dict:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    event = {"payload": base64.b64encode(raw).decode(), "clientId": client_id, "receivedAt": 1}
    return chat.handle(backend, event)


def store_messages(backend: Backend, room: str, n: int) -> None:
    for i in range(n):
        backend.messages.put(ChatMessage(room, f"{1000 + i}#u{i}", f"m{i}", "ada", f"hello {i}", 1000 + i))


def test_join_sends_the_last_50_messages_to_the_joiner_only_and_announces_it(backend):
    store_messages(backend, "lobby", 60)
    assert send(backend, "user-1", {"type": "join", "room": "lobby", "user": "ada"}) == {"outcome": "join"}
    (history,) = published(backend).to("chat/in/user-1")
    assert history["type"] == "history" and history["room"] == "lobby"
    assert [m["id"] for m in history["messages"]] == [f"m{i}" for i in range(10, 60)]
    assert published(backend).to("chat/pub/lobby")[0]["text"] == "ada joined"
    assert backend.presence.get("user-1").room == "lobby"


def test_switching_rooms_announces_leaving(backend):
    send(backend, "user-1", {"type": "join", "room": "lobby", "user": "ada"})
    send(backend, "user-1", {"type": "command", "text": "/join field", "user": "ada"})
    assert published(backend).to("chat/pub/lobby")[-1]["text"] == "ada left for field"
    assert published(backend).to("chat/pub/field")[-1]["text"] == "ada joined"


def test_nick_who_rooms_and_history_commands(backend):
    store_messages(backend, "lobby", 5)
    send(backend, "user-1", {"type": "join", "room": "lobby", "user": "ada"})
    send(backend, "user-2", {"type": "join", "room": "lobby", "user": "bob"})
    send(backend, "user-1", {"type": "command", "text": "/nick ada_l", "room": "lobby"})
    inbox = published(backend).to("chat/in/user-1")
    assert inbox[-1] == {"type": "reply", "command": "nick", "nick": "ada_l"}
    assert published(backend).to("chat/pub/lobby")[-1]["text"] == "ada is now ada_l"

    send(backend, "user-1", {"type": "command", "text": "/who"})
    assert published(backend).to("chat/in/user-1")[-1] == {
        "type": "reply",
        "command": "who",
        "room": "lobby",
        "users": ["ada_l", "bob"],
    }
    send(backend, "user-1", {"type": "command", "text": "/rooms"})
    assert published(backend).to("chat/in/user-1")[-1]["rooms"] == [
        {"room": "lobby", "online": 2},
        {"room": "field", "online": 0},
        {"room": "alerts", "online": 0},
    ]
    send(backend, "user-1", {"type": "command", "text": "/history 3"})
    last = published(backend).to("chat/in/user-1")[-1]
    assert last["type"] == "history" and [m["id"] for m in last["messages"]] == ["m2", "m3", "m4"]


@pytest.mark.parametrize(
    ("payload", "error", "field"),
    [
        (b"not json", "payload is not JSON", ""),
        (b"[1, 2]", "payload must be a JSON object", ""),
        (b"{" + b" " * 20000 + b"}", "payload is 20002 bytes; the limit is 16384", ""),
        ({"type": "shout", "room": "lobby"}, "type must be one of message, join, command", "type"),
        (
            {"type": "message", "room": "lobby", "text": 5, "id": "a", "user": "ada"},
            "text must be a string",
            "text",
        ),
        (
            {"type": "message", "room": "lobby", "text": "x" * 1001, "id": "a", "user": "ada"},
            "text must be 1 to 1000 characters (got 1001)",
            "text",
        ),
        (
            {"type": "message", "room": "Attic!", "text": "hi", "id": "a", "user": "ada"},
            "'Attic!' is not a room name",
            "room",
        ),
        ({"type": "join", "room": "Attic!"}, "'Attic!' is not a room name", "room"),
        ({"type": "command", "text": "/dance"}, "unknown command /dance", "text"),
        ({"type": "command", "text": "dance"}, "a command starts with /", "text"),
        (
            {"type": "command", "text": "/history 500", "id": "c1"},
            "/history takes a number from 1 to 50",
            "text",
        ),
        ({"type": "command", "text": "/nick <script>"}, "/nick needs a name", "text"),
        ({"type": "command", "text": "/who"}, "join a room first", "text"),
    ],
)
def test_bad_input_gets_an_error_on_the_senders_inbox_and_nothing_else(backend, payload, error, field):
    outcome = send(backend, "user-9", payload)
    assert outcome["outcome"] == "refused"
    (reply,) = published(backend).published
    topic, document = reply
    assert topic == "chat/in/user-9"
    assert document["type"] == "error" and document["error"].startswith(error) and document["field"] == field
    if isinstance(payload, dict) and "id" in payload:
        assert document["id"] == payload["id"]
    assert backend.messages.recent("lobby", 5) == []
    assert backend.presence.get("user-9") is None


def test_a_well_formed_message_is_left_to_the_rules(backend):
    assert send(
        backend, "user-1", {"type": "message", "room": "lobby", "text": "hi", "id": "1", "user": "a"}
    ) == {"outcome": "message"}
    assert published(backend).published == []


def lifecycle(client_id: str, kind: str, when: int, principal: str = "user0") -> dict:
    return {"clientId": client_id, "eventType": kind, "timestamp": when, "principalIdentifier": principal}


def test_presence_tracks_who_is_online_and_announces_people_going_offline(backend):
    presence.handle(backend, lifecycle("user-1", "connected", 10))
    send(backend, "user-1", {"type": "join", "room": "lobby", "user": "ada"})
    assert [p.nick for p in backend.presence.online_in("lobby")] == ["ada"]
    presence.handle(backend, lifecycle("user-1", "disconnected", 20))
    assert backend.presence.online_in("lobby") == []
    assert published(backend).to("chat/pub/lobby")[-1]["text"] == "ada went offline"


def test_presence_ignores_a_lifecycle_event_older_than_what_it_knows(backend):
    presence.handle(backend, lifecycle("user-1", "connected", 30))
    assert presence.handle(backend, lifecycle("user-1", "disconnected", 20))["outcome"] == "ignored"
    assert backend.presence.get("user-1").online


def test_devices_go_to_the_dashboard_list(backend):
    presence.handle(backend, lifecycle("sensor-1", "connected", 10, "device12ab"))
    presence.handle(backend, lifecycle("sensor-1", "disconnected", 20, "device12ab"))
    assert published(backend).to("dash/devices/sensor-1") == [
        {"thing": "sensor-1", "online": True, "since": 10},
        {"thing": "sensor-1", "online": False, "since": 20},
    ]


def kinesis(*documents) -> dict:
    return {
        "Records": [
            {"kinesis": {"data": base64.b64encode(json.dumps(d).encode()).decode(), "sequenceNumber": str(i)}}
            for i, d in enumerate(documents)
        ]
    }


def test_stream_windows_span_batches_and_go_to_the_dashboard(backend):
    start = 1_700_000_040_000  # a minute boundary
    base = start + 30_000
    stream.handle(backend, kinesis({"thing": "gw-1", "sensor": "temperature", "value": 20, "ts": base}))
    stream.handle(
        backend,
        kinesis(
            {"thing": "gw-1", "readings": [{"sensor": "temperature", "value": 24, "ts": base + 1000}]},
            {"thing": "gw-1", "readings": [{"sensor": "temperature", "value": 22, "ts": base + 30_000}]},
        ),
    )
    feed = published(backend).to("dash/telemetry/gw-1")
    assert feed[1] == {
        "thing": "gw-1",
        "sensor": "temperature",
        "windowStart": start,
        "windowMs": 60_000,
        "count": 2,
        "min": 20.0,
        "max": 24.0,
        "mean": 22.0,
        "last": 24.0,
        "alerting": False,
    }
    assert feed[2]["windowStart"] == start + 60_000 and feed[2]["count"] == 1


def test_a_resent_record_is_counted_once(backend):
    ts = 1_700_000_040_000
    batch = {"thing": "gw-1", "readings": [{"id": "gw-1-r1", "sensor": "humidity", "value": 50, "ts": ts}]}
    assert stream.handle(backend, kinesis(batch))["duplicates"] == 0
    resent = {
        "thing": "gw-1",
        "readings": [
            {"id": "gw-1-r1", "sensor": "humidity", "value": 50, "ts": ts},
            {"id": "gw-1-r2", "sensor": "humidity", "value": 70, "ts": ts + 1000},
        ],
        "vision": [{"id": "gw-1-v1", "labels": {"face": 1}, "faces": 1, "ts": ts}],
    }
    assert stream.handle(backend, kinesis(resent))["duplicates"] == 1
    assert stream.handle(backend, kinesis(resent))["duplicates"] == 3
    window = published(backend).to("dash/telemetry/gw-1")[-1]
    assert (window["count"], window["mean"]) == (2, 60.0)
    assert [v["frames"] for v in published(backend).to("dash/vision/gw-1")] == [1]


def test_a_threshold_alerts_once_until_the_series_recovers(backend):
    values = [25, 31, 33, 29, 35]
    stream.handle(
        backend,
        kinesis(
            *(
                {"thing": "gw-1", "sensor": "temperature", "value": v, "ts": 1000 * i}
                for i, v in enumerate(values)
            )
        ),
    )
    alerts = published(backend).to("chat/out")
    assert [a["text"] for a in alerts] == [
        "gw-1 temperature 31 is above 30",
        "gw-1 temperature 35 is above 30",
    ]
    assert all(a["room"] == "alerts" and a["type"] == "message" for a in alerts)


def test_vision_results_become_a_tag_cloud(backend):
    stream.handle(
        backend,
        kinesis(
            {"thing": "cam-1", "vision": [{"labels": {"person": 2, "car": 1}, "faces": 1, "ts": 5}]},
            {"thing": "cam-1", "vision": [{"labels": {"person": 1}, "faces": 0, "ts": 9}]},
        ),
    )
    assert published(backend).to("dash/vision/cam-1") == [
        {"thing": "cam-1", "frames": 2, "faces": 1, "labels": {"person": 3, "car": 1}, "ts": 9}
    ]


def test_history_pages_back_with_the_cursor_each_page_gives(backend):
    for i in range(7):  # a sort key holds the sender's id, whatever it is: here a space and a #
        sk = f"{2000 + i}#id #{i}#0000000{i}-0000-4000-8000-000000000000"
        backend.messages.put(ChatMessage("lobby", sk, f"p{i}", "ada", f"page {i}", 2000 + i))
    send(backend, "c-1", {"type": "command", "text": "/history 3", "room": "lobby"})
    first = published(backend).to("chat/in/c-1")[-1]
    assert [m["id"] for m in first["messages"]] == ["p4", "p5", "p6"] and "cursor" in first
    send(backend, "c-1", {"type": "command", "text": f"/history 3 {first['cursor']}", "room": "lobby"})
    second = published(backend).to("chat/in/c-1")[-1]
    assert [m["id"] for m in second["messages"]] == ["p1", "p2", "p3"] and "cursor" in second
    send(backend, "c-1", {"type": "command", "text": f"/history 3 {second['cursor']}", "room": "lobby"})
    last = published(backend).to("chat/in/c-1")[-1]
    assert [m["id"] for m in last["messages"]] == ["p0"] and "cursor" not in last
    send(backend, "c-1", {"type": "command", "text": "/history 3 nonsense", "room": "lobby"})
    assert "cursor is the one a history page gave" in published(backend).to("chat/in/c-1")[-1]["error"]


def test_a_room_is_any_name_of_the_pattern_and_rooms_lists_it_while_people_are_there(backend):
    send(backend, "user-1", {"type": "join", "room": "kitchen-2", "user": "ada"})
    assert published(backend).to("chat/in/user-1")[-1]["type"] == "history"
    assert published(backend).to("chat/pub/kitchen-2")[-1]["text"] == "ada joined"
    send(backend, "user-1", {"type": "command", "text": "/rooms"})
    rooms = published(backend).to("chat/in/user-1")[-1]["rooms"]
    assert {"room": "kitchen-2", "online": 1} in rooms and rooms[0]["room"] == "lobby"


def test_the_latest_thumbnail_reaches_the_dashboard_and_nothing_but_a_jpeg_does(backend):
    import cv2
    import numpy as np

    _, encoded = cv2.imencode(".jpg", np.full((8, 8, 3), 128, dtype=np.uint8))
    jpeg = base64.b64encode(encoded.tobytes()).decode()
    stream.handle(
        backend,
        kinesis(
            {"thing": "cam-1", "vision": [{"labels": {"person": 1}, "ts": 5, "thumbnail": jpeg}]},
            {
                "thing": "cam-2",
                "vision": [{"labels": {"cup": 1}, "ts": 6, "thumbnail": "<script>x</script>"}],
            },
            {"thing": "cam-3", "vision": [{"labels": {"cup": 1}, "ts": 7, "thumbnail": "iVBORw0KGgo="}]},
        ),
    )
    (cam1,) = published(backend).to("dash/vision/cam-1")
    assert cam1["thumbnail"] == jpeg and cam1["thumbnailTs"] == 5
    assert "thumbnail" not in published(backend).to("dash/vision/cam-2")[0]
    assert "thumbnail" not in published(backend).to("dash/vision/cam-3")[0]  # a PNG is not a JPEG
