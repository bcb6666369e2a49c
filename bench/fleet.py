"""Fleet benchmark: simulated devices against the cloud stand-in, and the stand-in's CPU per message.

    python bench/fleet.py [--devices 1000] [--rate 1000] [--duration 60] [--offline-share 0.1]

Starts `edgeway cloud run` on free loopback ports, then runs `edgeway fleet simulate` against it: a
short priming run at a tenth of the rate (the stand-in's first sight of a thousand new things: their
first presence writes, its first full collections), then steady (every device online), then with a
share of the devices going offline for 10 s at a random moment (their readings wait in their outboxes).
Each run connects its devices anew and starts publishing 5 s after the last connect. The receiver is
Mosquitto's `mosquitto_sub` when it is installed (a C client that stamps each arrival itself).
Prints one JSON object: each run's summary (connect time, messages/s, publish-to-subscriber latency
percentiles and p99 per 10 s window, lost and duplicated), the stand-in's CPU seconds per message from
/proc, and the machine. Goals (issue 16): all 1,000 connected in under 10 s,
1,000 messages/s for 60 s with p99 under 50 ms, none lost.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.measure import cpu_seconds  # noqa: E402
from bench.stand_in import running_stand_in  # noqa: E402


def simulate(data: Path, port: int, devices: int, rate: float, duration: float, share: float) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "edgeway", "fleet", "simulate", "--devices", str(devices), "--rate", str(rate),
         "--duration", str(duration), "--offline-share", str(share), "--offline-seconds", "10",
         "--target", f"127.0.0.1:{port}", "--data-dir", str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=duration + 600,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"fleet simulate failed: {done.stderr[-2000:]}")
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--offline-share", type=float, default=0.1)
    args = parser.parse_args()
    runs = {}
    with tempfile.TemporaryDirectory() as folder_name, running_stand_in(Path(folder_name)) as stand_in:
        phases = (
            ("priming", 0.0, args.rate / 10, 10.0),
            ("steady", 0.0, args.rate, args.duration),
            ("with_outages", args.offline_share, args.rate, args.duration),
        )
        for name, share, rate, duration in phases:
            before = cpu_seconds(stand_in.process.pid)
            run = simulate(stand_in.data_dir, stand_in.mqtt_port, args.devices, rate, duration, share)
            used = cpu_seconds(stand_in.process.pid) - before
            run["stand_in_cpu_s"] = round(used, 2)
            run["stand_in_cpu_us_per_message"] = round(1e6 * used / max(1, run["sent"]), 1)
            runs[name] = run
    steady = runs["steady"]
    goals = {
        "all_connected_under_10s": steady["all_connected_s"] is not None and steady["all_connected_s"] < 10,
        "rate_sustained": steady["messages_per_s"] >= 0.98 * args.rate,
        "p99_under_50ms": steady["latency_ms"]["p99"] < 50,
        "none_lost": steady["lost"] == 0 and runs["with_outages"]["lost"] == 0,
    }
    print(json.dumps({"benchmark": "fleet", "machine": machine(), "runs": runs, "goals": goals}))


if __name__ == "__main__":
    main()
