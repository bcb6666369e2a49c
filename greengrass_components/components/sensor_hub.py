"""The sensor hub component: samples its sources, runs the sensor handler, publishes on local topics.

    python3 -m greengrass_components.components.sensor_hub

Configuration (see recipes/com.edgeway.SensorHub.yaml): `Sources` (each `linux`, `simulated` or `file`,
with `intervalSeconds` for the first two), `Handler` (the sensor handler's configuration), and the
topics. Each sample becomes one message per kind: `{"thing", "source", "records": [...]}` on the
telemetry and alert topics. A line that is not JSON and a reading that is not usable go to the error
topic and the log, counted; the loop goes on.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

from edge_functions.sensors import ConfigError, SensorConfig, SensorProcessor

from . import local_topics
from .component_main import ComponentConfigError, run_component
from .ipc_client import CoreLink, thing_name
from .sensor_sources import FileSource, LinuxSource, SimulatedSource, build_source, parse_line
from .settings import items, number, section, text


@dataclass(frozen=True)
class _Work:
    source: str
    readings: Any  # a sampled batch, or one parsed line
    error: str | None = None


class SensorHub:
    def __init__(self, link: CoreLink, config: dict[str, Any], log: logging.Logger) -> None:
        self.link, self.log = link, log
        self.thing = thing_name()
        try:
            self.processor = SensorProcessor(SensorConfig.from_dict(section(config, "Handler"), "Handler"))
        except ConfigError as exc:
            raise ComponentConfigError(str(exc)) from exc
        self.topics = {
            "telemetry": text(config, "TelemetryTopic", local_topics.TELEMETRY),
            "alerts": text(config, "AlertsTopic", local_topics.ALERTS),
            "errors": text(config, "ErrorsTopic", local_topics.ERRORS),
        }
        self.sources: list[tuple[str, Any, float]] = []
        for i, raw in enumerate(items(config, "Sources")):
            where = f"Sources[{i}]"
            source = build_source(raw, where)
            interval = (
                0.0
                if isinstance(source, FileSource)
                else number(raw, "intervalSeconds", 5, where, minimum=0.01)
            )
            self.sources.append((str(raw.get("name") or f"{raw['type']}-{i}"), source, interval))
        if not self.sources:
            raise ComponentConfigError("Sources must list at least one source")
        self._queue: queue.Queue[_Work] = queue.Queue(maxsize=10_000)
        self.counts = {"readings": 0, "alerts": 0, "errors": 0}

    def run(self, stop: threading.Event) -> None:
        for name, source, interval in self.sources:
            target = self._follow if isinstance(source, FileSource) else self._sample
            threading.Thread(
                target=target, args=(name, source, interval, stop), name=name, daemon=True
            ).start()
        while not stop.is_set():
            try:
                work = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            self._handle(work)

    def _sample(
        self, name: str, source: LinuxSource | SimulatedSource, interval: float, stop: threading.Event
    ) -> None:
        next_at = time.monotonic()
        while not stop.is_set():
            self._queue.put(_Work(name, {"readings": source.sample()}))
            next_at += interval
            stop.wait(max(0.0, next_at - time.monotonic()))

    def _follow(self, name: str, source: FileSource, interval: float, stop: threading.Event) -> None:
        for number_, line in source.lines(stop):
            where = f"{source.path}:{number_}"
            try:
                self._queue.put(_Work(name, parse_line(line, where)))
            except ValueError as exc:
                self._queue.put(_Work(name, None, str(exc)))

    def _handle(self, work: _Work) -> None:
        errors: list[dict[str, Any]]
        if work.error is not None:
            out: dict[str, list[dict[str, Any]]] = {"telemetry": [], "alerts": []}
            errors = [{"kind": "error", "where": work.source, "error": work.error}]
        else:
            out = self.processor.process(work.readings)
            errors = out.get("errors", [])
        for kind in ("telemetry", "alerts"):
            if out[kind]:
                self.link.publish_records(self.topics[kind], self.thing, work.source, out[kind])
        self.counts["readings"] += len(out["telemetry"])
        self.counts["alerts"] += len(out["alerts"])
        if errors:
            self.counts["errors"] += len(errors)
            for error in errors:
                self.log.warning("reading-refused", extra={"source": work.source, **error})
            self.link.publish_records(self.topics["errors"], self.thing, work.source, errors)

    def close(self) -> None:
        self.log.info("sensor-hub-counts", extra=dict(self.counts))


def main() -> int:
    return run_component("sensor_hub", SensorHub)


if __name__ == "__main__":
    sys.exit(main())
