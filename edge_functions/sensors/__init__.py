"""Sensor readings: calibration, unit normalisation, threshold and rate-of-change alerts, rolling windows.

`handler(event, context)` is the Lambda-style entry; `SensorProcessor` is the same work with its
configuration and clock passed in, for components and tests.
"""

from .config import ConfigError, SensorConfig
from .processor import SensorProcessor, handler

__all__ = ["ConfigError", "SensorConfig", "SensorProcessor", "handler"]
