"""How long the CLI takes to answer before it does any work: `edgeway --help`, and the import of
`edgeway.cli` that every command pays (the commands' own modules load only when they run).

    python bench/cli_startup.py [--runs 10]

Each figure is the wall time of a fresh process, as min/median/max over the runs. Goal (issue 18):
`edgeway --help` under 0.3 s. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.measure import spread  # noqa: E402

COMMANDS = {
    "edgeway --help": [sys.executable, "-m", "edgeway", "--help"],
    "edgeway core --help": [sys.executable, "-m", "edgeway", "core", "--help"],
    "import edgeway.cli": [sys.executable, "-c", "import edgeway.cli"],
    "python alone": [sys.executable, "-c", "pass"],
}


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    for command in COMMANDS.values():
        timed(command)  # warm the page cache and the byte-code files
    seconds: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for _ in range(args.runs):  # side by side: each run times every command once
        for name, command in COMMANDS.items():
            seconds[name].append(timed(command))
    results = {name: spread(found, 4) for name, found in seconds.items()}
    print(
        json.dumps(
            {
                "benchmark": "cli_startup",
                "machine": machine(),
                "runs": args.runs,
                "seconds": results,
                "goals": {"help_under_0_3s": results["edgeway --help"]["median"] < 0.3},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
