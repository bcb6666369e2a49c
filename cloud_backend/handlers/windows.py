"""One-minute tumbling windows per thing and sensor: count, min, max, mean, last. Pure."""

from __future__ import annotations

from dataclasses import replace

from cloud_backend.handlers.telemetry import Reading
from cloud_backend.store.records import Window

WINDOW_MS = 60_000


def window_start(ts: int) -> int:
    return ts - ts % WINDOW_MS


def fold(window: Window | None, reading: Reading) -> Window:
    """`window` (or a new one) with `reading` added; a reading older than `last` does not become last."""
    start = window_start(reading.ts)
    if window is None or window.window_start != start:
        return Window(
            reading.thing,
            reading.sensor,
            start,
            1,
            reading.value,
            reading.value,
            reading.value,
            reading.value,
            reading.ts,
            window.alerting if window else False,
        )
    newer = reading.ts >= window.last_ts
    return replace(
        window,
        count=window.count + 1,
        minimum=min(window.minimum, reading.value),
        maximum=max(window.maximum, reading.value),
        total=window.total + reading.value,
        last=reading.value if newer else window.last,
        last_ts=reading.ts if newer else window.last_ts,
    )


def to_wire(window: Window) -> dict[str, object]:
    return {
        "thing": window.thing,
        "sensor": window.sensor,
        "windowStart": window.window_start,
        "windowMs": WINDOW_MS,
        "count": window.count,
        "min": window.minimum,
        "max": window.maximum,
        "mean": round(window.mean, 6),
        "last": window.last,
        "alerting": window.alerting,
    }
