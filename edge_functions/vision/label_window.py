"""Label counts over the last `seconds`: the tag cloud of a camera."""

from __future__ import annotations

from collections import Counter, deque


class LabelWindow:
    def __init__(self, seconds: float) -> None:
        self.span_ms = int(seconds * 1000)
        self._entries: deque[tuple[int, dict[str, int]]] = deque()
        self._counts: Counter[str] = Counter()

    def add(self, ts: int, labels: dict[str, int]) -> dict[str, int]:
        self._entries.append((ts, labels))
        self._counts.update(labels)
        while self._entries and self._entries[0][0] <= ts - self.span_ms:
            _, old = self._entries.popleft()
            self._counts.subtract(old)
        return {name: count for name, count in self._counts.most_common() if count > 0}

    @property
    def frames(self) -> int:
        return len(self._entries)
