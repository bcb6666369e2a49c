"""`edgeway fleet simulate`: the composition. Issues the devices' and the receiver's tokens with the
stand-in's key, starts the receiver, spreads the devices over worker processes, shows progress on
stderr, and returns the summary."""

from __future__ import annotations

import multiprocessing
import queue
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device_client.simulator import Receiver, Target, WorkerPlan, WorkerReport, run_worker, summary

PROGRESS_SECONDS = 2.0


@dataclass(frozen=True)
class FleetSettings:
    devices: int
    rate: float
    duration: float
    offline_share: float
    offline_seconds: float
    host: str
    port: int
    workers: int
    data_dir: Path | None  # the stand-in's folder (its key signs tokens); None: no tokens
    seed: int = 1


def _worker_main(plan: WorkerPlan, events: Any) -> None:
    report = run_worker(plan, lambda kind, value: events.put((kind, plan.index, value)))
    events.put(("done", plan.index, report))


def _tokens(settings: FleetSettings, things: list[str]) -> tuple[dict[str, str | None], str | None]:
    if settings.data_dir is None:
        return {thing: None for thing in things}, None
    from cloud_backend.local.identity import Identity, load_or_create_key

    identity = Identity(load_or_create_key(settings.data_dir), token_seconds=86400)
    tokens: dict[str, str | None] = {thing: identity.issue(thing, "device", thing) for thing in things}
    return tokens, identity.issue("fleet-observer", "observer", "fleet-observer")


def plans(settings: FleetSettings, tokens: dict[str, str | None]) -> list[WorkerPlan]:
    things = sorted(tokens)
    rng = random.Random(settings.seed)
    offline = set(rng.sample(things, round(settings.offline_share * len(things))))
    built = []
    for index in range(settings.workers):
        mine = things[index :: settings.workers]
        built.append(
            WorkerPlan(
                index,
                Target(settings.host, settings.port),
                tuple((t, tokens[t]) for t in mine),
                settings.rate * len(mine) / len(things),
                settings.duration,
                tuple(t for t in mine if t in offline),
                settings.offline_seconds,
                settings.seed * 1000 + index,
            )
        )
    return built


def run_fleet(settings: FleetSettings) -> dict[str, Any]:
    things = [f"sim-{i:05d}" for i in range(settings.devices)]
    tokens, observer = _tokens(settings, things)
    target = Target(settings.host, settings.port)
    receiver = Receiver(target, "fleet-observer", observer)
    if not receiver.ready.wait(20):
        receiver.close()
        raise SystemExit("the receiver could not subscribe to devices/+/telemetry")
    context = multiprocessing.get_context("spawn")
    events: Any = context.Queue()
    work = plans(settings, tokens)
    started = time.monotonic()
    processes = [context.Process(target=_worker_main, args=(plan, events), daemon=True) for plan in work]
    for process in processes:
        process.start()
    reports: dict[int, WorkerReport] = {}
    connected, shown = 0, started
    while len(reports) < len(work):
        try:
            kind, index, value = events.get(timeout=0.5)
        except queue.Empty:
            if not any(p.is_alive() for p in processes) and len(reports) < len(work):
                break
            kind = ""
        if kind == "connected":
            connected += int(value)
        elif kind == "done":
            reports[index] = value
        if time.monotonic() - shown >= PROGRESS_SECONDS:
            shown = time.monotonic()
            print(
                f"fleet: {connected}/{settings.devices} connected, {receiver.unique()} received,"
                f" {shown - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    for process in processes:
        process.join(10)
    sent = sum(sum(r.sent.values()) for r in reports.values())
    deadline = time.monotonic() + 30
    while receiver.unique() < sent and time.monotonic() < deadline:
        time.sleep(0.1)
    wall = time.monotonic() - started
    receiver.close()
    offline = round(settings.offline_share * settings.devices)
    result = summary(list(reports.values()), receiver, settings.devices, settings.duration, offline, wall)
    result["workers"] = settings.workers
    result["workers_failed"] = len(work) - len(reports)
    return result
