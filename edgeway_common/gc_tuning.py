"""Garbage collection for long-running servers with many connections (the stand-in's broker, a fleet
simulator's workers): what exists once they are up is frozen out of the collector's sight, and the
youngest generation is collected less often. A full collection over the objects of a thousand sessions
otherwise stops the event loop for a few hundred milliseconds now and then: measured as the latency
tail in `bench/fleet.py` (p95 240 ms with the defaults, 35 ms with collection off).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # the default is 700 allocations


def settle() -> None:
    """Call once the process holds its long-lived objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 100)
