"""The cloud stand-in for benchmarks: `edgeway cloud run` on free loopback ports, stopped on exit."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.fakes.broker import free_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class StandIn:
    process: subprocess.Popen[bytes]
    data_dir: Path
    mqtt_port: int
    ws_port: int
    http_port: int


@contextlib.contextmanager
def running_stand_in(
    folder: Path, template: Path | None = None, start_seconds: float = 60
) -> Iterator[StandIn]:
    mqtt_port, ws_port, http_port = free_port(), free_port(), free_port()
    command = [sys.executable, "-m", "edgeway.cli", "cloud", "run", "--data-dir", str(folder / "data"),
               "--mqtt-port", str(mqtt_port), "--ws-port", str(ws_port), "--http-port", str(http_port),
               "--discovery-port", "0"]  # fmt: skip
    if template is not None:
        command += ["--template", str(template)]
    log_path = folder / "cloud.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, cwd=ROOT)
    try:
        deadline = time.monotonic() + start_seconds
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit(f"the stand-in did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield StandIn(process, folder / "data", mqtt_port, ws_port, http_port)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(30)
