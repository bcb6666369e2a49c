"""The sensor handler's configuration, checked once, with errors that name the key.

    {"windowSeconds": 60,
     "sensors": {"temperature": {"gain": 1.0, "offset": -0.5,
                                 "above": 30, "clearAt": 28, "minDurationSeconds": 10,
                                 "maxRatePerSecond": 2},
                 "thermal_zone*": {"above": 80, "clearAt": 75}}}

A sensor name may be a shell pattern; an exact name wins over a pattern, then the first pattern that
matches in the order given. `below` may stand in for `above`; `clearAt` defaults to the limit itself
(no hysteresis band).
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from typing import Any

from .alerts import ThresholdRule


class ConfigError(ValueError):
    """A configuration that does not validate; the message names the key."""


@dataclass(frozen=True)
class SensorSettings:
    gain: float = 1.0
    offset: float = 0.0
    threshold: ThresholdRule | None = None
    max_rate_per_second: float | None = None


@dataclass(frozen=True)
class SensorConfig:
    window_seconds: float = 60.0
    sensors: dict[str, SensorSettings] = field(default_factory=dict)

    def for_sensor(self, name: str) -> SensorSettings:
        if name in self.sensors:
            return self.sensors[name]
        for pattern, settings in self.sensors.items():
            if fnmatch.fnmatchcase(name, pattern):
                return settings
        return SensorSettings()

    @classmethod
    def from_dict(cls, raw: Any, where: str = "configuration") -> SensorConfig:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ConfigError(f"{where} must be an object")
        window = _number(raw, "windowSeconds", where, 60.0, positive=True)
        sensors_raw = raw.get("sensors", {})
        if not isinstance(sensors_raw, dict):
            raise ConfigError(f"{where}.sensors must be an object of sensor name to settings")
        sensors = {
            str(name): _sensor(value, f"{where}.sensors.{name}") for name, value in sensors_raw.items()
        }
        return cls(window, sensors)


def _number(raw: dict[str, Any], key: str, where: str, default: float, *, positive: bool = False) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{where}.{key} must be a number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{where}.{key} must be positive, got {value!r}")
    return float(value)


def _sensor(raw: Any, where: str) -> SensorSettings:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where} must be an object")
    known = {"gain", "offset", "above", "below", "clearAt", "minDurationSeconds", "maxRatePerSecond"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    if "above" in raw and "below" in raw:
        raise ConfigError(f"{where}: give above or below, not both")
    threshold = None
    for direction in ("above", "below"):
        if direction in raw:
            limit = _number(raw, direction, where, 0.0)
            clear_at = _number(raw, "clearAt", where, limit)
            if (direction == "above" and clear_at > limit) or (direction == "below" and clear_at < limit):
                raise ConfigError(
                    f"{where}.clearAt {clear_at:g} must be on the safe side of {direction} {limit:g}"
                )
            duration = _number(raw, "minDurationSeconds", where, 0.0)
            if duration < 0:
                raise ConfigError(f"{where}.minDurationSeconds must not be negative")
            threshold = ThresholdRule(direction, limit, clear_at, duration)
    rate = _number(raw, "maxRatePerSecond", where, 1.0, positive=True) if "maxRatePerSecond" in raw else None
    return SensorSettings(
        _number(raw, "gain", where, 1.0), _number(raw, "offset", where, 0.0), threshold, rate
    )
