"""A whole device: samples its sensors and publishes the readings through the durable outbox, follows
its shadow's desired sampling interval (`samplingSeconds`) and reports it back, and runs jobs.

Where the readings go depends on where the device connects: straight to IoT Core (or the stand-in),
each reading is a stream record on `chat/stream` (`{"thing", "readings": [...]}`); through a core's
local broker, it goes to `devices/<thing>/telemetry`, which the core's bridge and uplink carry on.
Either way every reading has an id, so a resent one is dropped downstream. The shadow and jobs are IoT
Core's: a device behind a core (route "core") sends telemetry only, as a core's local broker serves
no `$aws/...` topics.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .client import DeviceClient
from .jobs import JobFailed, JobsClient
from .shadow import LocalShadowCopy, ShadowClient

log = logging.getLogger("edgeway.device.agent")
MIN_INTERVAL, MAX_INTERVAL = 0.05, 3600.0
Route = Literal["cloud", "core"]


@dataclass(frozen=True)
class AgentSettings:
    thing: str
    state_dir: Path
    route: Route = "cloud"
    interval: float = 5.0


class SyntheticSensors:
    """A temperature and a humidity that drift slowly and wobble a little: readings a dashboard can show."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()

    def read(self, now: float) -> list[tuple[str, float, str]]:
        temperature = 21.0 + 3.0 * math.sin(now / 600.0) + self.rng.gauss(0, 0.1)
        humidity = 45.0 + 5.0 * math.cos(now / 900.0) + self.rng.gauss(0, 0.3)
        return [("temperature", round(temperature, 2), "degC"), ("humidity", round(humidity, 1), "%")]


def check_interval(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not MIN_INTERVAL <= value <= MAX_INTERVAL
    ):
        raise JobFailed(
            f"samplingSeconds must be a number from {MIN_INTERVAL:g} to {MAX_INTERVAL:g}, got {value!r}"
        )
    return float(value)


class DeviceAgent:
    def __init__(
        self,
        settings: AgentSettings,
        client: DeviceClient,
        *,
        sensors: SyntheticSensors | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings, self.client, self.clock = settings, client, clock
        self.sensors = sensors or SyntheticSensors()
        self.thing = settings.thing
        self._changed = threading.Event()
        self.interval = settings.interval
        self.shadow: ShadowClient | None = None
        self.jobs: JobsClient | None = None
        if settings.route == "cloud":
            copy = LocalShadowCopy(settings.state_dir / "shadow.sqlite3", self.thing)
            self.shadow = ShadowClient(client, self.thing, copy, self._on_delta)
            handlers = {"set-interval": self._job_interval, "report": self._job_report}
            self.jobs = JobsClient(client, self.thing, handlers)
            remembered = (self.shadow.state.get("reported") or {}).get("samplingSeconds")
            with contextlib.suppress(JobFailed):  # what it last reported, unless that is no longer valid
                self.interval = check_interval(remembered) if remembered is not None else settings.interval
            client.add_state_listener(lambda connected, reason: self._on_connection(connected))

    # -- readings ------------------------------------------------------------------------------

    def sample(self) -> int:
        now = self.clock()
        readings = self.sensors.read(now)
        for sensor, value, unit in readings:
            self.client.publish(*self._record(sensor, value, unit, int(now * 1000)))
        return len(readings)

    def _record(
        self, sensor: str, value: float, unit: str, ts: int
    ) -> tuple[str, Callable[[str], dict[str, Any]]]:
        thing = self.thing
        if self.settings.route == "core":
            return f"devices/{thing}/telemetry", lambda rid: {
                "id": rid, "thing": thing, "sensor": sensor, "value": value, "unit": unit, "ts": ts
            }  # fmt: skip
        return "chat/stream", lambda rid: {
            "thing": thing,
            "readings": [{"id": rid, "sensor": sensor, "value": value, "unit": unit, "ts": ts}],
        }

    def run(self, stop: threading.Event) -> None:
        self.client.start()
        try:
            while not stop.is_set():
                self.sample()
                self._changed.clear()
                deadline = self.clock() + self.interval
                while not stop.is_set() and not self._changed.is_set() and self.clock() < deadline:
                    stop.wait(min(0.2, max(0.0, deadline - self.clock())))
        finally:
            self.client.stop()
            if self.shadow is not None:
                self.shadow.copy.close()

    # -- the shadow ----------------------------------------------------------------------------

    def _adopt(self, seconds: float, why: str) -> None:
        if seconds != self.interval:
            log.info("sampling interval changed", extra={"seconds": seconds, "why": why})
        self.interval = seconds
        self._changed.set()
        if self.shadow is not None:
            self.shadow.report({"samplingSeconds": seconds})

    def _on_delta(self, change: Mapping[str, Any], version: int) -> None:
        if "samplingSeconds" not in change:
            return
        try:
            self._adopt(check_interval(change["samplingSeconds"]), f"shadow version {version}")
        except JobFailed as exc:
            log.warning("desired state refused", extra={"reason": str(exc)})

    def _on_connection(self, connected: bool) -> None:
        if connected:  # what was desired while this device was away
            threading.Thread(target=self._sync_shadow, name="shadow-sync", daemon=True).start()

    def _sync_shadow(self) -> None:
        shadow = self.shadow
        if shadow is None:
            return
        try:
            answer = shadow.get(timeout=10)
        except Exception as exc:  # no shadow yet (404), or the connection went again
            log.info("shadow not read", extra={"reason": str(exc)})
            shadow.report({"samplingSeconds": self.interval})
            return
        desired = (answer.get("state") or {}).get("desired") or {}
        reported = (answer.get("state") or {}).get("reported") or {}
        wanted = desired.get("samplingSeconds")
        if wanted is not None and wanted != reported.get("samplingSeconds"):
            self._on_delta({"samplingSeconds": wanted}, int(answer.get("version", 0)))
        elif reported.get("samplingSeconds") != self.interval:
            shadow.report({"samplingSeconds": self.interval})

    # -- jobs ----------------------------------------------------------------------------------

    def _job_interval(self, document: dict[str, Any]) -> Mapping[str, str]:
        seconds = check_interval(document.get("samplingSeconds"))
        self._adopt(seconds, "job")
        return {"samplingSeconds": f"{seconds:g}"}

    def _job_report(self, document: dict[str, Any]) -> Mapping[str, str]:
        stats = self.client.outbox.stats()
        return {
            "queued": str(stats.count),
            "dropped": str(stats.dropped_total),
            "interval": f"{self.interval:g}",
        }
