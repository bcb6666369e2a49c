"""Threshold alerts with hysteresis and a minimum duration, and rate-of-change alerts. Pure state machines.

A threshold rule `above` (or `below`) a limit raises an alert only after the value has stayed past the
limit for `min_duration_s`, and clears only once the value is back past `clear_at` (the hysteresis band,
e.g. above 30 clears at 28). A value bouncing around the limit therefore alerts once, not per reading.

A rate rule raises when the change between two readings exceeds `max_per_second` in either direction
and clears at the first reading whose rate is back within it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Direction = Literal["above", "below"]


@dataclass(frozen=True)
class Alert:
    sensor: str
    rule: str
    state: Literal["raised", "cleared"]
    value: float
    limit: float
    ts: int
    text: str

    def to_record(self) -> dict[str, Any]:
        return {
            "kind": "alert",
            "sensor": self.sensor,
            "rule": self.rule,
            "state": self.state,
            "value": self.value,
            "limit": self.limit,
            "ts": self.ts,
            "text": self.text,
        }


@dataclass(frozen=True)
class ThresholdRule:
    direction: Direction
    limit: float
    clear_at: float
    min_duration_s: float = 0.0

    def past_limit(self, value: float) -> bool:
        return value > self.limit if self.direction == "above" else value < self.limit

    def cleared(self, value: float) -> bool:
        return value <= self.clear_at if self.direction == "above" else value >= self.clear_at

    @property
    def name(self) -> str:
        return f"{self.direction} {self.limit:g}"


class ThresholdTracker:
    def __init__(self, sensor: str, rule: ThresholdRule) -> None:
        self.sensor, self.rule = sensor, rule
        self.alerting = False
        self._since: int | None = None  # when the value first went past the limit, while not alerting

    def update(self, value: float, ts: int) -> Alert | None:
        rule = self.rule
        if self.alerting:
            if rule.cleared(value):
                self.alerting = False
                return Alert(
                    self.sensor,
                    rule.name,
                    "cleared",
                    value,
                    rule.clear_at,
                    ts,
                    f"{self.sensor} {value:g} is back within {rule.clear_at:g}",
                )
            return None
        if not rule.past_limit(value):
            self._since = None
            return None
        if self._since is None:
            self._since = ts
        if ts - self._since >= rule.min_duration_s * 1000:
            self.alerting, self._since = True, None
            held = f" for {rule.min_duration_s:g} s" if rule.min_duration_s else ""
            return Alert(
                self.sensor,
                rule.name,
                "raised",
                value,
                rule.limit,
                ts,
                f"{self.sensor} {value:g} is {rule.direction} {rule.limit:g}{held}",
            )
        return None


class RateTracker:
    def __init__(self, sensor: str, max_per_second: float) -> None:
        self.sensor, self.max_per_second = sensor, max_per_second
        self.alerting = False
        self._last: tuple[int, float] | None = None

    def update(self, value: float, ts: int) -> Alert | None:
        last, self._last = self._last, (ts, value)
        if last is None or ts <= last[0]:
            return None
        rate = (value - last[1]) / ((ts - last[0]) / 1000.0)
        too_fast = abs(rate) > self.max_per_second
        if too_fast == self.alerting:
            return None
        self.alerting = too_fast
        rule = f"rate {self.max_per_second:g}/s"
        if too_fast:
            return Alert(
                self.sensor,
                rule,
                "raised",
                value,
                self.max_per_second,
                ts,
                f"{self.sensor} changes {rate:+.3g}/s, faster than {self.max_per_second:g}/s",
            )
        return Alert(
            self.sensor,
            rule,
            "cleared",
            value,
            self.max_per_second,
            ts,
            f"{self.sensor} changes {rate:+.3g}/s, within {self.max_per_second:g}/s again",
        )
