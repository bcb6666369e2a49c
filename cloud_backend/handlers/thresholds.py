"""Alert thresholds, written `sensor>limit` or `sensor<limit`, comma-separated (the template's
AlertThresholds parameter): `temperature>30,battery<15`."""

from __future__ import annotations

import re
from dataclasses import dataclass

_ONE = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*([<>])\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True)
class Threshold:
    sensor: str
    above: bool
    limit: float

    def breached(self, value: float) -> bool:
        return value > self.limit if self.above else value < self.limit

    def describe(self) -> str:
        return f"{'above' if self.above else 'below'} {self.limit:g}"


def parse_thresholds(text: str) -> dict[str, Threshold]:
    found: dict[str, Threshold] = {}
    for index, part in enumerate(p for p in text.split(",") if p.strip()):
        match = _ONE.match(part)
        if match is None:
            raise ValueError(
                f"alert threshold {index + 1} ({part.strip()!r}) is not sensor>limit or sensor<limit"
            )
        sensor, op, limit = match.groups()
        found[sensor] = Threshold(sensor, op == ">", float(limit))
    return found
