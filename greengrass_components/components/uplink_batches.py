"""What the uplink sends, built from spooled records. Pure.

Telemetry and vision go on `chat/stream` as one JSON object per message with the records in arrays,
`{"thing", "batch", "readings": [...], "vision": [...]}` (the shape the backend's stream handler and
the `TelemetryStream` rule read), each message under IoT Core's 128 KB limit. Alerts go to `chat/out`
as chat messages in room `alerts`. Every reading and vision result keeps its record id, so the
backend can drop what arrives twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .uplink_spool import ALERT, SpooledRecord

MAX_MESSAGE_BYTES = 128 * 1024
STREAM_TOPIC = "chat/stream"
CHAT_TOPIC = "chat/out"
ALERTS_ROOM = "alerts"
_ENVELOPE_SLACK = 512  # the envelope's own keys, thing and batch id


@dataclass(frozen=True)
class Outgoing:
    topic: str
    payload: bytes
    records: tuple[SpooledRecord, ...]


def _reading(record: SpooledRecord) -> dict[str, Any]:
    body = record.body
    reading = {
        "id": record.id,
        "sensor": body.get("sensor"),
        "value": body.get("value"),
        "ts": body.get("ts"),
    }
    if body.get("unit"):
        reading["unit"] = body["unit"]
    if isinstance(body.get("thing"), str) and body["thing"]:
        reading["thing"] = body["thing"]  # a client device's reading, relayed by this core
    reading["source"] = record.source
    return reading


def _vision(record: SpooledRecord) -> dict[str, Any]:
    body = record.body
    motion = body.get("motion") or {}
    return {
        "id": record.id,
        "labels": body.get("labels", {}),
        "faces": body.get("faces", 0),
        "motion": motion.get("share", 0.0) if isinstance(motion, dict) else 0.0,
        "ts": body.get("ts"),
        "source": record.source,
    }


def _compact(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def alert_message(record: SpooledRecord, thing: str) -> Outgoing:
    body = record.body
    text = str(body.get("text") or f"{body.get('sensor', '?')} {body.get('state', 'alert')}")
    document = {"type": "message", "room": ALERTS_ROOM, "text": text[:1000], "id": record.id, "user": thing}
    return Outgoing(CHAT_TOPIC, _compact(document), (record,))


def outgoing(records: Sequence[SpooledRecord], thing: str, limit: int = MAX_MESSAGE_BYTES) -> list[Outgoing]:
    """Messages for these records, in spool order: a run of telemetry and vision records shares stream
    messages until one would pass `limit`; an alert is a message of its own, sent where it stands."""
    messages: list[Outgoing] = []
    run: list[SpooledRecord] = []
    items: dict[str, list[dict[str, Any]]] = {"readings": [], "vision": []}
    size = _ENVELOPE_SLACK

    def flush() -> None:
        nonlocal run, items, size
        if run:
            document = {"thing": thing, "batch": run[0].id, **{k: v for k, v in items.items() if v}}
            messages.append(Outgoing(STREAM_TOPIC, _compact(document), tuple(run)))
        run, items, size = [], {"readings": [], "vision": []}, _ENVELOPE_SLACK

    for record in records:
        if record.kind == ALERT:
            flush()
            messages.append(alert_message(record, thing))
            continue
        key, item = ("vision", _vision(record)) if record.kind == "vision" else ("readings", _reading(record))
        item_size = len(_compact(item)) + 1
        if run and size + item_size > limit:
            flush()
        items[key].append(item)
        run.append(record)
        size += item_size
    flush()
    return messages
