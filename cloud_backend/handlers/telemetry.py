"""What devices send on `chat/stream`, read from Kinesis records. Pure.

A record's data is one JSON object from a thing: a reading (`sensor`, `value`, `ts`), a batch
(`readings`: [{sensor, value, ts, id?}]), and/or vision results (`vision`: [{labels: {name: count},
faces, motion, ts, id?}]). `id` names a record across resends. `thing` names the sender; `ts` is
milliseconds (the rule's `receivedAt` when absent). A record that is not this shape is a `RecordError`:
the stream poller sets it aside, the rest proceed.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

from cloud_backend.errors import RecordError as RecordError


@dataclass(frozen=True)
class Reading:
    thing: str
    sensor: str
    value: float
    ts: int
    id: str | None = None


@dataclass(frozen=True)
class VisionResult:
    thing: str
    labels: dict[str, int]
    faces: int
    ts: int
    id: str | None = None
    thumbnail: str | None = None  # base64 JPEG, at most MAX_THUMBNAIL characters


MAX_THUMBNAIL = 48 * 1024
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _thumbnail(value: Any) -> str | None:
    """A JPEG thumbnail as base64, or None: anything else (too big, not base64, not a JPEG) is left out
    so that only an image ever reaches a browser."""
    if not isinstance(value, str) or len(value) > MAX_THUMBNAIL or not value.startswith("/9j/"):
        return None
    return value if _BASE64.fullmatch(value) else None


@dataclass
class Batch:
    readings: list[Reading] = field(default_factory=list)
    vision: list[VisionResult] = field(default_factory=list)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _record_id(item: dict[str, Any]) -> str | None:
    """The id an uplink gives every record, so a resent record can be dropped; None when absent."""
    value = item.get("id")
    return value if isinstance(value, str) and value else None


def _reading(thing: str, item: Any, default_ts: int, where: str) -> Reading:
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("sensor"), str)
        or not _number(item.get("value"))
    ):
        raise RecordError(f"{where}: a reading needs a string sensor and a numeric value")
    ts = item.get("ts", default_ts)
    own = item.get("thing")  # a client device behind the core that sent the batch
    if isinstance(own, str) and own:
        thing = own[:128]
    return Reading(
        thing, item["sensor"], float(item["value"]), int(ts) if _number(ts) else default_ts, _record_id(item)
    )


def _vision(thing: str, item: Any, default_ts: int, where: str) -> VisionResult:
    if not isinstance(item, dict):
        raise RecordError(f"{where}: a vision result must be an object")
    labels = item.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, int) for v in labels.values()):
        raise RecordError(f"{where}: labels must map a label to a count")
    faces = item.get("faces", 0)
    ts = item.get("ts", default_ts)
    return VisionResult(
        thing,
        dict(labels),
        int(faces) if _number(faces) else 0,
        int(ts) if _number(ts) else default_ts,
        _record_id(item),
        _thumbnail(item.get("thumbnail")),
    )


def decode(record: dict[str, Any], batch: Batch) -> None:
    """Adds one Kinesis record's readings and vision results to `batch`."""
    where = f"record {record.get('kinesis', {}).get('sequenceNumber', '?')}"
    try:
        document = json.loads(base64.b64decode(record["kinesis"]["data"], validate=True))
    except (KeyError, TypeError, binascii.Error, ValueError) as exc:
        raise RecordError(f"{where}: data is not base64 JSON: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("thing"), str) or not document["thing"]:
        raise RecordError(f"{where}: needs a JSON object with a thing")
    thing = document["thing"]
    stamp = document.get("ts", document.get("receivedAt", 0))
    default_ts = int(stamp) if isinstance(stamp, (int, float)) else 0
    if "sensor" in document:
        batch.readings.append(_reading(thing, document, default_ts, where))
    readings = document.get("readings", [])
    vision = document.get("vision", [])
    if not isinstance(readings, list) or not isinstance(vision, list):
        raise RecordError(f"{where}: readings and vision must be lists")
    batch.readings.extend(
        _reading(thing, r, default_ts, f"{where} readings[{i}]") for i, r in enumerate(readings)
    )
    batch.vision.extend(_vision(thing, v, default_ts, f"{where} vision[{i}]") for i, v in enumerate(vision))
