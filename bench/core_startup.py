"""Time from `edgeway core run` to every component RUNNING, for 1, 5 and 20 trivial components.

Each run starts a fresh core (new root) as its own process with N recipes whose
Run is `exec sleep 600`, polls the control socket every 5 ms until all N are
RUNNING, then stops the core with SIGTERM and times that too. Prints JSON.

    python bench/core_startup.py [--runs 5] [--counts 1,5,20]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine
from greengrass_components.runtime.control_client import (
    CoreNotRunningError,
    control_request,
)
from greengrass_components.runtime.core_paths import CorePaths

RECIPE = """\
RecipeFormatVersion: '2020-01-25'
ComponentName: bench.Trivial{index:02d}
ComponentVersion: '1.0.0'
Manifests:
  - Lifecycle:
      Run: exec sleep 600
"""
POLL_S = 0.005
LIMIT_S = 120.0


def one_run(count: int, workdir: Path) -> dict[str, float]:
    recipes = workdir / "recipes"
    recipes.mkdir(parents=True)
    for index in range(count):
        (recipes / f"bench.Trivial{index:02d}.yaml").write_text(RECIPE.format(index=index))
    root = workdir / "core"
    socket_path = CorePaths(root.resolve()).control_socket
    started = time.perf_counter()
    core = subprocess.Popen(
        [sys.executable, "-m", "edgeway", "core", "run", "--root", str(root), "--recipes", str(recipes)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        socket_at = None
        while True:
            now = time.perf_counter()
            if now - started > LIMIT_S or core.poll() is not None:
                raise RuntimeError(f"{count} components were not RUNNING within {LIMIT_S}s")
            if socket_path.exists():
                socket_at = socket_at or now
                try:
                    components = control_request(socket_path, {"op": "list"}, 5.0)["components"]
                except (OSError, CoreNotRunningError):  # the socket file is there, not yet listening
                    components = []
                if len(components) == count and all(c["state"] == "RUNNING" for c in components):
                    running_at = time.perf_counter()
                    break
            time.sleep(POLL_S)
        core.send_signal(signal.SIGTERM)
        core.wait(LIMIT_S)
        stopped_at = time.perf_counter()
    finally:
        if core.poll() is None:
            core.kill()
            core.wait()
    return {
        "to_control_socket_s": socket_at - started,
        "to_all_running_s": running_at - started,
        "shutdown_s": stopped_at - running_at,
    }


def summarize(samples: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(samples), 4),
        "min": round(min(samples), 4),
        "max": round(max(samples), 4),
    }


def main() -> None:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--counts", default="1,5,20")
    args = parser.parse_args()
    results = []
    for count in (int(c) for c in args.counts.split(",")):
        runs = []
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(prefix="edgeway-bench-") as tmp:
                runs.append(one_run(count, Path(tmp)))
        results.append(
            {
                "components": count,
                "runs": args.runs,
                **{key: summarize([r[key] for r in runs]) for key in runs[0]},
            }
        )
    print(json.dumps({"benchmark": "core_startup", "machine": machine(), "results": results}, indent=2))


if __name__ == "__main__":
    main()
