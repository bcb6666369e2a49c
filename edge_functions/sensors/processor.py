"""The sensor handler: reading in, calibrated and normalised telemetry and alerts out.

Per reading: calibrate the raw value (`value * gain + offset`, in the unit it came in), normalise the
unit, fold it into the sensor's rolling window, then run its threshold and rate rules. State (windows,
alert trackers) lives in the processor, as it would in a pinned Lambda's module.

Output: `{"telemetry": [...], "alerts": [...], "errors": [...]}`; a reading that cannot be used becomes an
error record naming it, and the other readings of the batch go on.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any

from .alerts import RateTracker, ThresholdTracker
from .config import SensorConfig
from .readings import Reading, ReadingProblem, parse_event
from .rolling import RollingWindow
from .units import normalise


def _wall_ms() -> int:
    return int(time.time() * 1000)


class SensorProcessor:
    def __init__(self, config: SensorConfig, clock_ms: Callable[[], int] = _wall_ms) -> None:
        self.config = config
        self._clock_ms = clock_ms
        self._windows: dict[str, RollingWindow] = {}
        self._thresholds: dict[str, ThresholdTracker] = {}
        self._rates: dict[str, RateTracker] = {}

    def process(self, event: Any) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {"telemetry": [], "alerts": [], "errors": []}
        for item in parse_event(event, self._clock_ms()):
            if isinstance(item, ReadingProblem):
                out["errors"].append(item.to_record())
            else:
                self._one(item, out)
        return out

    def _one(self, reading: Reading, out: dict[str, list[dict[str, Any]]]) -> None:
        settings = self.config.for_sensor(reading.sensor)
        value, unit = normalise(reading.value * settings.gain + settings.offset, reading.unit)
        window = self._windows.get(reading.sensor)
        if window is None:
            window = self._windows[reading.sensor] = RollingWindow(self.config.window_seconds)
        stats = window.add(reading.ts, value)
        out["telemetry"].append(
            {
                "kind": "telemetry",
                "sensor": reading.sensor,
                "value": round(value, 6),
                "unit": unit,
                "ts": reading.ts,
                "window": stats.to_dict(),
            }
        )
        if settings.threshold is not None:
            tracker = self._thresholds.get(reading.sensor)
            if tracker is None:
                tracker = self._thresholds[reading.sensor] = ThresholdTracker(
                    reading.sensor, settings.threshold
                )
            alert = tracker.update(value, reading.ts)
            if alert is not None:
                out["alerts"].append(alert.to_record())
        if settings.max_rate_per_second is not None:
            rate = self._rates.get(reading.sensor)
            if rate is None:
                rate = self._rates[reading.sensor] = RateTracker(reading.sensor, settings.max_rate_per_second)
            alert = rate.update(value, reading.ts)
            if alert is not None:
                out["alerts"].append(alert.to_record())


_processor: SensorProcessor | None = None


def handler(event: Any, context: Any) -> dict[str, list[dict[str, Any]]]:
    """Lambda entry. Configuration comes from the `SENSOR_CONFIG` environment variable (JSON), as a
    Greengrass Lambda component's `EnvironmentVariables` would set it; state lasts as long as the
    process does (a pinned function keeps its windows and alert states)."""
    global _processor
    if _processor is None:
        _processor = SensorProcessor(
            SensorConfig.from_dict(json.loads(os.environ.get("SENSOR_CONFIG", "{}")))
        )
    return _processor.process(event)
