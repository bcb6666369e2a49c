"""Reconnect delays: exponential, capped, with full jitter (a uniform draw between zero and the
exponential step), so a fleet that lost its broker at once does not come back at once.

Pure: the random source is passed in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base: float = 0.5
    cap: float = 60.0
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        step = min(self.cap, self.base * (2**self.attempt))
        self.attempt = min(self.attempt + 1, 62)
        return self.rng.uniform(0.0, step)

    def reset(self) -> None:
        self.attempt = 0
