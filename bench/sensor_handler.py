"""Events per second through the sensor handler, in process.

    python bench/sensor_handler.py [--events 200000] [--seconds 5] [--repeat 3]

Three shapes: single readings with calibration, units, a threshold with hysteresis and minimum duration,
a rate rule and a 60 s window; the same in batches of 100; and readings with no rules (window only).
Each is bounded by an event count and a time and runs --repeat times: readings per second and CPU
microseconds per reading, as min/median/max.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import machine  # noqa: E402
from bench.measure import spread  # noqa: E402
from edge_functions.sensors import SensorConfig, SensorProcessor  # noqa: E402

RULES = {
    "windowSeconds": 60,
    "sensors": {
        "temperature": {
            "gain": 1.01,
            "offset": -0.2,
            "above": 30,
            "clearAt": 28,
            "minDurationSeconds": 5,
            "maxRatePerSecond": 3,
        },
        "humidity": {"above": 85, "clearAt": 80},
    },
}


def readings(count: int, seed: int = 1) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    value = 25.0
    out = []
    for i in range(count):
        value = min(60.0, max(-10.0, value + rng.gauss(0, 0.8)))
        out.append(
            {
                "sensor": "temperature" if i % 2 else "humidity",
                "value": round(value + (i % 2) * 40, 3),
                "unit": "degC",
                "ts": 1_000 * i,
            }
        )
    return out


def one_run(
    config: dict[str, Any], events: list[dict[str, Any]], batch: int, seconds: float
) -> tuple[int, float, float, int]:
    """(readings, seconds, CPU seconds, alerts) of one run with a new processor."""
    processor = SensorProcessor(SensorConfig.from_dict(config), clock_ms=lambda: 0)
    done, alerts, start, cpu = 0, 0, time.perf_counter(), time.process_time()
    while done < len(events) and time.perf_counter() - start < seconds:
        if batch == 1:
            out = processor.process(events[done])
        else:
            out = processor.process({"readings": events[done : done + batch]})
        alerts += len(out["alerts"])
        done += batch
    return done, time.perf_counter() - start, time.process_time() - cpu, alerts


def measure(
    config: dict[str, Any], events: list[dict[str, Any]], batch: int, seconds: float, repeat: int
) -> dict[str, Any]:
    runs = [one_run(config, events, batch, seconds) for _ in range(repeat)]
    return {
        "events": [done for done, *_ in runs],
        "alerts": [alerts for *_, alerts in runs],
        "events_per_second": spread([done / elapsed for done, elapsed, _, _ in runs], 0),
        "cpu_us_per_event": spread([1e6 * cpu / done for done, _, cpu, _ in runs], 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    events = readings(args.events)
    result = {
        "benchmark": "sensor_handler",
        "repeat": args.repeat,
        "single_readings_with_rules": measure(RULES, events, 1, args.seconds, args.repeat),
        "batches_of_100_with_rules": measure(RULES, events, 100, args.seconds, args.repeat),
        "single_readings_window_only": measure({}, events, 1, args.seconds, args.repeat),
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
