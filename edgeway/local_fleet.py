"""`edgeway up --cores N`: the extra cores of a local fleet, as `edgeway core run` processes that take
deployments from the stand-in (their things in one thing group with the main core), so a fleet
deployment, its rollout and its rollback can be tried on one machine. Started after the stand-in,
stopped (by their pids, SIGTERM, then SIGKILL after a grace) before it."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

GROUP = "edgeway-fleet"
STOP_SECONDS = 20.0


def fleet_things(first: str, count: int) -> list[str]:
    """gateway-1 -> gateway-1 ... gateway-N; another first name gets -2 ... -N after it."""
    base = first[: -len("-1")] if first.endswith("-1") else first
    return [first, *(f"{base}-{i}" for i in range(2, count + 1))]


@dataclass
class LocalFleet:
    state_dir: Path
    things: list[str]
    mqtt_port: int
    http_port: int
    tokens: dict[str, str]
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(self) -> None:
        for thing in self.things[1:]:
            root = self.state_dir / f"core-{thing}"
            root.mkdir(parents=True, exist_ok=True)
            log = (self.state_dir / f"core-{thing}.log").open("ab")
            self.processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "edgeway",
                    "core",
                    "run",
                    "--root",
                    str(root),
                    "--thing-name",
                    thing,
                    "--iot-endpoint",
                    f"mqtt://127.0.0.1:{self.mqtt_port}",
                    "--iot-token",
                    self.tokens[thing],
                    "--cloud-deployments",
                    "--greengrass-endpoint-url",
                    f"http://127.0.0.1:{self.http_port}",
                    "--reconnect-max",
                    "10",
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=log,
                )
            )
            log.close()

    async def stop(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), STOP_SECONDS)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
