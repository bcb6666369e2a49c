"""`edgeway up` from start to ready, and from Ctrl-C to exit, with the default components, printing
JSON (goals: under 5 s each). The virtual environment is already built; each run has a fresh state
folder, so the core stages and installs everything as a first `make up` does after its set-up.

    python bench/up.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine
from tests.fakes.broker import free_port


def one_run(folder: Path) -> tuple[float, float]:
    env = {
        **os.environ,
        "EDGEWAY_STATE_DIR": str(folder / "state"),
        "EDGEWAY_HTTP_PORT": str(free_port()),
        "EDGEWAY_MQTT_PORT": str(free_port()),
        "EDGEWAY_WS_PORT": str(free_port()),
        "EDGEWAY_CLOUD_HTTP_PORT": str(free_port()),
        "EDGEWAY_DISCOVERY_PORT": str(free_port()),
        "EDGEWAY_DEVICE_PORT": str(free_port()),
        "EDGEWAY_LOG_FORMAT": "json",
    }
    started = time.monotonic()
    up = subprocess.Popen(
        [sys.executable, "-m", "edgeway", "up"],
        cwd=folder,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert up.stdout is not None
    for line in up.stdout:
        if line.startswith("ready in "):
            break
    else:
        raise SystemExit(f"edgeway up ended before it was ready (exit {up.wait()})")
    ready = time.monotonic() - started
    stopping = time.monotonic()
    up.send_signal(signal.SIGINT)
    code = up.wait(60)
    stopped = time.monotonic() - stopping
    up.stdout.close()
    if code != 0:
        raise SystemExit(f"edgeway up exited {code} after Ctrl-C")
    return ready, stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ready, stopped = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="edgeway-bench-up-") as folder:
            to_ready, to_exit = one_run(Path(folder))
            ready.append(to_ready)
            stopped.append(to_exit)
    print(
        json.dumps(
            {
                "machine": machine(),
                "runs": args.runs,
                "start_to_ready_s": {
                    "median": round(statistics.median(ready), 2),
                    "max": round(max(ready), 2),
                },
                "ctrl_c_to_exit_s": {
                    "median": round(statistics.median(stopped), 2),
                    "max": round(max(stopped), 2),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
