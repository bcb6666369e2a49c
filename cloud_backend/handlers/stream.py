"""The stream handler: Kinesis micro-batches from `chat/stream`.

Readings fold into one-minute windows per thing and sensor (kept in the telemetry store, so a window
spans batches); each window touched goes to `dash/telemetry/{thing}`. A series that crosses its alert
threshold posts one message to room `alerts` (through `chat/out`, so the rules store and fan it out like
any message) and does not alert again until it is back within the limit. Vision results are summed per
thing into a tag cloud of label counts on `dash/vision/{thing}`.

A record that cannot be decoded fails the batch with `RecordError`; the poller (Kinesis's
BisectBatchOnFunctionError locally) narrows it down and sets it aside.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace
from typing import Any

from cloud_backend.handlers import backend as backends
from cloud_backend.handlers.telemetry import Batch, Reading, decode
from cloud_backend.handlers.windows import fold, to_wire, window_start
from cloud_backend.store.records import Window

log = logging.getLogger("edgeway.stream")


def _alert(backend: backends.Backend, window: Window, reading: Reading) -> Window:
    threshold = backend.thresholds.get(reading.sensor)
    if threshold is None:
        return window
    breached = threshold.breached(reading.value)
    if breached and not window.alerting:
        text = f"{reading.thing} {reading.sensor} {reading.value:g} is {threshold.describe()}"
        backend.publisher.publish(
            "chat/out",
            {
                "type": "message",
                "room": backends.ALERTS_ROOM,
                "text": text,
                "id": backend.new_id(),
                "user": "alerts",
            },
        )
    return replace(window, alerting=breached)


def _windows(backend: backends.Backend, readings: list[Reading]) -> list[Window]:
    touched: dict[tuple[str, str, int], Window] = {}
    for reading in sorted(readings, key=lambda r: r.ts):
        key = (reading.thing, reading.sensor, window_start(reading.ts))
        window = (
            touched.get(key)
            or backend.telemetry.get(*key)
            or backend.telemetry.latest(reading.thing, reading.sensor)
        )
        window = _alert(backend, fold(window, reading), reading)
        touched[key] = window
    for window in touched.values():
        backend.telemetry.put(window)
    return list(touched.values())


def _vision(backend: backends.Backend, batch: Batch) -> int:
    by_thing: dict[str, list[Any]] = {}
    for result in batch.vision:
        by_thing.setdefault(result.thing, []).append(result)
    for thing, results in by_thing.items():
        labels: Counter[str] = Counter()
        for result in results:
            labels.update(result.labels)
        summary: dict[str, Any] = {
            "thing": thing,
            "frames": len(results),
            "faces": sum(r.faces for r in results),
            "labels": dict(labels.most_common()),
            "ts": max(r.ts for r in results),
        }
        pictured = [r for r in results if r.thumbnail is not None]
        if pictured:
            latest = max(pictured, key=lambda r: r.ts)
            summary["thumbnail"], summary["thumbnailTs"] = latest.thumbnail, latest.ts
        backend.publisher.publish(f"dash/vision/{thing}", summary)
    return len(by_thing)


def _drop_seen(backend: backends.Backend, batch: Batch) -> int:
    """Drops readings and vision results whose id was seen before (an uplink resent them after losing
    its acknowledgement); returns how many were dropped."""
    by_thing: dict[str, list[str]] = {}
    for thing, record_id in [(r.thing, r.id) for r in batch.readings] + [
        (v.thing, v.id) for v in batch.vision
    ]:
        if record_id is not None:
            by_thing.setdefault(thing, []).append(record_id)
    if not by_thing:
        return 0
    now = backend.now_ms()
    new = {
        (thing, i) for thing, ids in by_thing.items() for i in backend.telemetry.first_seen(thing, ids, now)
    }
    before = len(batch.readings) + len(batch.vision)
    batch.readings = [r for r in batch.readings if r.id is None or (r.thing, r.id) in new]
    batch.vision = [v for v in batch.vision if v.id is None or (v.thing, v.id) in new]
    return before - len(batch.readings) - len(batch.vision)


def handle(backend: backends.Backend, event: dict[str, Any]) -> dict[str, Any]:
    batch = Batch()
    for record in event.get("Records", []):
        decode(record, batch)
    duplicates = _drop_seen(backend, batch)
    windows = _windows(backend, batch.readings)
    for window in windows:
        backend.publisher.publish(f"dash/telemetry/{window.thing}", to_wire(window))
    things = _vision(backend, batch)
    return {
        "readings": len(batch.readings),
        "windows": len(windows),
        "visionThings": things,
        "duplicates": duplicates,
    }


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(backends.current(), event)
