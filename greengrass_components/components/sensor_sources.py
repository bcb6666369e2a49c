"""Where sensor readings come from: `linux` (thermal zones, hwmon, load, memory, disk), `simulated`
(a seeded random walk with anomalies) and `file` (JSON lines from a file or a named pipe).

Interval sources (`linux`, `simulated`) return a batch of readings per `sample()`; the `file` source is
read line by line. Paths to `/sys` and `/proc` and the clock are passed in, so tests use a fake tree.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .component_main import ComponentConfigError
from .settings import number, text

Clock = Callable[[], float]


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


class LinuxSource:
    """Thermal zones and hwmon temperatures (millidegrees), 1-minute load, memory used %, disk used %."""

    def __init__(
        self,
        disk_path: str = "/",
        sys_root: Path = Path("/sys"),
        proc_root: Path = Path("/proc"),
        clock: Clock = time.time,
    ) -> None:
        self.disk_path, self.sys_root, self.proc_root, self.clock = disk_path, sys_root, proc_root, clock

    def sample(self) -> list[dict[str, Any]]:
        ts = int(self.clock() * 1000)
        readings: list[dict[str, Any]] = []
        for zone in sorted((self.sys_root / "class" / "thermal").glob("thermal_zone*")):
            raw = _read(zone / "temp")
            if raw is not None and raw.lstrip("-").isdigit():
                readings.append({"sensor": zone.name, "value": int(raw), "unit": "mdegC", "ts": ts})
        for hwmon in sorted((self.sys_root / "class" / "hwmon").glob("hwmon*")):
            name = _read(hwmon / "name") or hwmon.name
            for sensor in sorted(hwmon.glob("temp*_input")):
                raw = _read(sensor)
                if raw is not None and raw.lstrip("-").isdigit():
                    label = sensor.name.removesuffix("_input")
                    readings.append(
                        {"sensor": f"{name}_{label}", "value": int(raw), "unit": "mdegC", "ts": ts}
                    )
        loadavg = _read(self.proc_root / "loadavg")
        if loadavg:
            readings.append({"sensor": "load1", "value": float(loadavg.split()[0]), "unit": "", "ts": ts})
        memory = self._memory()
        if memory is not None:
            readings.append({"sensor": "memory_used", "value": memory, "unit": "%", "ts": ts})
        try:
            usage = shutil.disk_usage(self.disk_path)
            readings.append(
                {
                    "sensor": "disk_used",
                    "value": round(100.0 * usage.used / usage.total, 3),
                    "unit": "%",
                    "ts": ts,
                }
            )
        except OSError:
            pass
        return readings

    def _memory(self) -> float | None:
        text_ = _read(self.proc_root / "meminfo")
        if not text_:
            return None
        fields = {line.split(":")[0]: line.split()[1] for line in text_.splitlines() if ":" in line}
        try:
            total, available = int(fields["MemTotal"]), int(fields["MemAvailable"])
        except (KeyError, ValueError):
            return None
        return round(100.0 * (total - available) / total, 3) if total else None


@dataclass
class _Walk:
    value: float
    centre: float
    step: float
    low: float
    high: float
    unit: str


class SimulatedSource:
    """A random walk per sensor that drifts back towards its centre, and anomalies: with `probability` per
    sample an anomaly starts on a random sensor and adds `offset` for `durationSeconds`. Seeded."""

    def __init__(
        self,
        sensors: dict[str, dict[str, Any]],
        anomaly: dict[str, Any],
        seed: int,
        clock: Clock = time.time,
        where: str = "source",
    ) -> None:
        self.clock = clock
        self.rng = random.Random(seed)
        self.walks: dict[str, _Walk] = {}
        for name, spec in sensors.items():
            here = f"{where}.sensors.{name}"
            if not isinstance(spec, dict):
                raise ComponentConfigError(f"{here} must be an object")
            start = number(spec, "start", 20.0, here)
            self.walks[name] = _Walk(
                start,
                start,
                number(spec, "step", 0.2, here, minimum=0),
                number(spec, "min", start - 50, here),
                number(spec, "max", start + 50, here),
                str(spec.get("unit", "")),
            )
        if not self.walks:
            raise ComponentConfigError(f"{where}.sensors must name at least one sensor")
        self.probability = number(anomaly, "probability", 0.0, f"{where}.anomaly", minimum=0)
        self.offset = number(anomaly, "offset", 15.0, f"{where}.anomaly")
        self.duration_ms = number(anomaly, "durationSeconds", 10.0, f"{where}.anomaly", minimum=0) * 1000
        self._anomaly: tuple[str, float] | None = None  # (sensor, until ms)

    def sample(self) -> list[dict[str, Any]]:
        ts = int(self.clock() * 1000)
        if self._anomaly and ts >= self._anomaly[1]:
            self._anomaly = None
        if self._anomaly is None and self.rng.random() < self.probability:
            self._anomaly = (self.rng.choice(sorted(self.walks)), ts + self.duration_ms)
        readings = []
        for name, walk in self.walks.items():
            pull = 0.1 * (walk.centre - walk.value)
            walk.value = min(walk.high, max(walk.low, walk.value + pull + self.rng.gauss(0.0, walk.step)))
            value = walk.value + (self.offset if self._anomaly and self._anomaly[0] == name else 0.0)
            readings.append({"sensor": name, "value": round(value, 4), "unit": walk.unit, "ts": ts})
        return readings


class FileSource:
    """JSON lines from a regular file (read from its start and followed as it grows; a restart reads it
    again from the start) or a named pipe (kept open across writers)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def lines(self, stop: threading.Event) -> Iterator[tuple[int, str]]:
        while not stop.is_set():
            if not self.path.exists():
                stop.wait(0.5)
                continue
            fifo = stat.S_ISFIFO(self.path.stat().st_mode)
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            with os.fdopen(fd, "rb", buffering=0) as handle:
                yield from self._read(handle, stop, fifo)
            if not fifo:
                return

    def _read(self, handle: Any, stop: threading.Event, fifo: bool) -> Iterator[tuple[int, str]]:
        pending, number_ = b"", 0
        while not stop.is_set():
            chunk = handle.read(65536)
            if chunk:
                pending += chunk
                *complete, pending = pending.split(b"\n")
                for line in complete:
                    number_ += 1
                    if line.strip():
                        yield number_, line.decode("utf-8", "replace")
                continue
            stop.wait(0.1)  # nothing yet: the file may grow, the pipe may get a writer


def parse_line(line: str, where: str) -> Any:
    """A line's JSON, or a ValueError naming the line."""
    try:
        return json.loads(line)
    except ValueError as exc:
        raise ValueError(f"{where}: not JSON: {exc.args[0]}") from None


def build_source(
    raw: Any, where: str, clock: Clock = time.time
) -> LinuxSource | SimulatedSource | FileSource:
    if not isinstance(raw, dict):
        raise ComponentConfigError(f"{where} must be an object")
    kind = raw.get("type")
    if kind == "linux":
        return LinuxSource(text(raw, "diskPath", "/", where), clock=clock)
    if kind == "simulated":
        sensors = raw.get("sensors", {})
        anomaly = raw.get("anomaly", {})
        if not isinstance(sensors, dict) or not isinstance(anomaly, dict):
            raise ComponentConfigError(f"{where}.sensors and {where}.anomaly must be objects")
        seed = number(raw, "seed", 1, where)
        return SimulatedSource(sensors, anomaly, int(seed), clock, where)
    if kind == "file":
        return FileSource(Path(text(raw, "path", None, where)))
    raise ComponentConfigError(f"{where}.type must be linux, simulated or file, got {kind!r}")
