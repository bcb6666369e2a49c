"""How spooled records become messages: under 128 KB, in spool order, alerts as chat messages."""

from __future__ import annotations

import json

from greengrass_components.components.uplink_batches import MAX_MESSAGE_BYTES, outgoing
from greengrass_components.components.uplink_spool import SpooledRecord


def reading(seq: int, source: str = "s", pad: int = 0) -> SpooledRecord:
    body = {"sensor": "t", "value": seq, "unit": "degC", "ts": seq, "note": "x" * pad}
    return SpooledRecord(seq, f"r{seq}", "telemetry", source, body, 50 + pad)


def test_telemetry_is_batched_in_arrays_and_each_message_stays_under_128_kb():
    records = [reading(i) for i in range(5000)]
    messages = outgoing(records, "gw")
    assert len(messages) > 1
    assert all(len(m.payload) <= MAX_MESSAGE_BYTES for m in messages)
    sent = [r["id"] for m in messages for r in json.loads(m.payload)["readings"]]
    assert sent == [f"r{i}" for i in range(5000)]
    first = json.loads(messages[0].payload)
    assert (first["thing"], first["batch"], messages[0].topic) == ("gw", "r0", "chat/stream")
    assert first["readings"][0] == {
        "id": "r0",
        "sensor": "t",
        "value": 0,
        "ts": 0,
        "unit": "degC",
        "source": "s",
    }


def test_an_alert_is_a_chat_message_to_room_alerts_where_it_stands_in_the_order():
    alert = SpooledRecord(3, "a3", "alert", "hub", {"kind": "alert", "text": "temp 31 is above 30"}, 40)
    vision = SpooledRecord(
        4, "v4", "vision", "cam", {"labels": {"face": 1}, "faces": 1, "motion": {"share": 0.2}, "ts": 9}, 60
    )
    messages = outgoing([reading(1), reading(2), alert, vision], "gw")
    assert [m.topic for m in messages] == ["chat/stream", "chat/out", "chat/stream"]
    assert json.loads(messages[1].payload) == {
        "type": "message",
        "room": "alerts",
        "text": "temp 31 is above 30",
        "id": "a3",
        "user": "gw",
    }
    assert json.loads(messages[2].payload)["vision"] == [
        {"id": "v4", "labels": {"face": 1}, "faces": 1, "motion": 0.2, "ts": 9, "source": "cam"}
    ]
    assert [r.seq for m in messages for r in m.records] == [1, 2, 3, 4]
