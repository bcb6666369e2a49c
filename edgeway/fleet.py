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

from device_client.simulator import Target, WorkerPlan, WorkerReport, make_receiver, run_worker, summary
from edgeway_common.gc_tuning import settle

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
    warmup: float = 5.0  # seconds between the last connect and the first reading


def _worker_main(plan: WorkerPlan, events: Any, start: Any, finish: Any) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)  # two sockets and threads per device
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Hundreds of device threads share one GIL: a shorter switch interval keeps one from holding a
    # ready sender back for the default 5 ms at a time.
    sys.setswitchinterval(0.0005)
    try:
        report = run_worker(
            plan, lambda kind, value: events.put((kind, plan.index, value)), settle, start.wait, finish.wait
        )
    except Exception as exc:  # told to the parent, which says so in its summary
        events.put(("failed", plan.index, f"{type(exc).__name__}: {exc}"))
        raise
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
    sys.setswitchinterval(0.0005)  # the receiver's thread shares this process with the progress loop
    things = [f"sim-{i:05d}" for i in range(settings.devices)]
    tokens, observer = _tokens(settings, things)
    target = Target(settings.host, settings.port)
    receiver = make_receiver(target, "fleet-observer", observer)
    if not receiver.ready.wait(20):
        receiver.close()
        raise SystemExit("the receiver could not subscribe to devices/+/telemetry")
    context = multiprocessing.get_context("spawn")
    events: Any = context.Queue()
    work = plans(settings, tokens)
    started = time.monotonic()
    start, finish = context.Event(), context.Event()
    processes = [
        context.Process(target=_worker_main, args=(plan, events, start, finish), daemon=True) for plan in work
    ]
    ready: set[int] = set()
    drained: set[int] = set()
    for process in processes:
        process.start()
    reports: dict[int, WorkerReport] = {}
    failures: list[str] = []
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
        elif kind == "ready":
            ready.add(index)
            if len(ready) == len(work):  # every device is connected: let the broker settle, then go
                time.sleep(settings.warmup)
                start.set()
        elif kind == "drained":
            drained.add(index)
            if len(drained) == len(work):
                finish.set()
        elif kind == "done":
            reports[index] = value
        elif kind == "failed":
            failures.append(f"worker {index}: {value}")
            break
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
    result["warmup_s"] = settings.warmup
    result["workers_failed"] = len(work) - len(reports)
    result["failures"] = failures
    return result
