"""A sensor reading, parsed and checked once where it comes in.

An event is one reading `{"sensor", "value", "unit"?, "ts"?}` or a batch `{"readings": [...]}`; `ts`
is epoch milliseconds (the processor's clock when absent). A reading that is not usable becomes a
`ReadingProblem` naming the reading and what is wrong with it, so the rest of a batch goes on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Reading:
    sensor: str
    value: float
    unit: str
    ts: int


@dataclass(frozen=True)
class ReadingProblem:
    where: str
    error: str

    def to_record(self) -> dict[str, Any]:
        return {"kind": "error", "where": self.where, "error": self.error}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_reading(item: Any, where: str, now_ms: int) -> Reading | ReadingProblem:
    if not isinstance(item, dict):
        return ReadingProblem(where, f"a reading must be a JSON object, got {type(item).__name__}")
    sensor = item.get("sensor")
    if not isinstance(sensor, str) or not sensor.strip():
        return ReadingProblem(where, "sensor must be a non-empty string")
    value = _number(item.get("value"))
    if value is None:
        return ReadingProblem(
            f"{where} ({sensor})", f"value must be a finite number, got {item.get('value')!r}"
        )
    unit = item.get("unit", "")
    if not isinstance(unit, str):
        return ReadingProblem(f"{where} ({sensor})", f"unit must be a string, got {unit!r}")
    ts = item.get("ts", now_ms)
    stamp = _number(ts)
    if stamp is None or stamp < 0:
        return ReadingProblem(f"{where} ({sensor})", f"ts must be epoch milliseconds, got {ts!r}")
    return Reading(sensor.strip(), value, unit, int(stamp))


def parse_event(event: Any, now_ms: int) -> list[Reading | ReadingProblem]:
    if isinstance(event, dict) and "readings" in event:
        items = event["readings"]
        if not isinstance(items, list):
            return [ReadingProblem("readings", "readings must be a list")]
        return [parse_reading(item, f"readings[{i}]", now_ms) for i, item in enumerate(items)]
    return [parse_reading(event, "reading", now_ms)]
