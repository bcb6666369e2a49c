"""A rolling window over the last `seconds` of one sensor: count, min, max, mean, population stddev.

Sums are kept as the window moves; min and max come from monotonic deques, so every reading costs
O(1) amortised. Readings are expected in time order; one older than the newest still counts (it is
kept in arrival order) rather than being lost.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class WindowStats:
    count: int
    min: float
    max: float
    mean: float
    stddev: float

    def to_dict(self) -> dict[str, float | int]:
        return {
            "count": self.count,
            "min": self.min,
            "max": self.max,
            "mean": round(self.mean, 6),
            "stddev": round(self.stddev, 6),
        }


class RollingWindow:
    def __init__(self, seconds: float) -> None:
        self.span_ms = int(seconds * 1000)
        self._items: deque[tuple[int, int, float]] = deque()  # (seq, ts, value)
        self._mins: deque[tuple[int, float]] = deque()
        self._maxs: deque[tuple[int, float]] = deque()
        self._sum = 0.0
        self._sumsq = 0.0
        self._seq = 0
        self._newest = 0

    def add(self, ts: int, value: float) -> WindowStats:
        self._seq += 1
        self._items.append((self._seq, ts, value))
        self._sum += value
        self._sumsq += value * value
        while self._mins and self._mins[-1][1] >= value:
            self._mins.pop()
        self._mins.append((self._seq, value))
        while self._maxs and self._maxs[-1][1] <= value:
            self._maxs.pop()
        self._maxs.append((self._seq, value))
        self._newest = max(self._newest, ts)
        while len(self._items) > 1 and self._items[0][1] <= self._newest - self.span_ms:
            seq, _, old = self._items.popleft()
            self._sum -= old
            self._sumsq -= old * old
            if self._mins[0][0] == seq:
                self._mins.popleft()
            if self._maxs[0][0] == seq:
                self._maxs.popleft()
        return self.stats()

    def stats(self) -> WindowStats:
        count = len(self._items)
        mean = self._sum / count
        variance = max(self._sumsq / count - mean * mean, 0.0)
        return WindowStats(count, self._mins[0][1], self._maxs[0][1], mean, math.sqrt(variance))
