"""Greengrass IPC pub/sub through the local core, and the same through Mosquitto, in one run.

Publisher and subscribers are separate processes: over IPC they are components
the core starts from recipes, using the official awsiotsdk client; over MQTT
they use paho against Debian's mosquitto on a loopback port (skipped if
mosquitto is not installed). Messages are 200 bytes of JSON.

    python bench/ipc_pubsub.py [--burst 20000] [--paced-rate 1000] [--paced-seconds 10]
                               [--fanout 10] [--fanout-count 5000] [--repeat 3]

Scenarios: burst (one subscriber, messages/s from the first send to the last
receipt), paced (median and p99 latency), fan-out (deliveries/s to N subscribers).
For each, CPU time per message of the core (or Mosquitto), the publisher and the
subscribers; --repeat runs, side by side, as min/median/max. Prints JSON with
both transports and the ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.machine import machine  # noqa: E402
from bench.measure import cpu_seconds, spread  # noqa: E402
from greengrass_components.runtime.control_client import control_request  # noqa: E402
from greengrass_components.runtime.core_paths import CorePaths  # noqa: E402
from tests.fakes.broker import free_port  # noqa: E402

PEER = REPO / "bench" / "pubsub_peer.py"
LIMIT_S = 300.0


def wait_files(paths: list[Path], limit: float = LIMIT_S) -> None:
    deadline = time.monotonic() + limit
    while not all(p.exists() and p.stat().st_size > 0 for p in paths):
        if time.monotonic() > deadline:
            missing = [str(p) for p in paths if not p.exists()]
            raise RuntimeError(f"no result after {limit}s: {missing}")
        time.sleep(0.05)


def wait_measuring(outs: list[Path], ready: Path, subscribers: int, pid: int) -> float:
    """Waits for every result file; returns the broker's (or core's) CPU seconds from the moment every
    subscriber was ready (the publisher starts then) to the last result."""
    deadline = time.monotonic() + LIMIT_S
    while len(list(ready.glob("*.ready"))) < subscribers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"subscribers not ready after {LIMIT_S}s")
        time.sleep(0.005)
    before = cpu_seconds(pid)
    wait_files(outs)
    return cpu_seconds(pid) - before


def summarize(start_ns: int, subscribers: list[dict[str, Any]], count: int) -> dict[str, Any]:
    latencies = sorted(latency for s in subscribers for latency in s["latencies"])
    delivered = len(latencies)
    span_s = (max(s["last"] for s in subscribers) - start_ns) / 1e9 if delivered else float("nan")
    return {
        "sent": count,
        "delivered": delivered,
        "expected": count * len(subscribers),
        "deliveries_per_s": round(delivered / span_s, 1) if delivered else 0,
        "latency_ms_p50": round(statistics.median(latencies) / 1e6, 3) if latencies else None,
        "latency_ms_p99": round(latencies[int(len(latencies) * 0.99) - 1] / 1e6, 3) if latencies else None,
    }


def peer_args(role: str, count: int, rate: float | None, out: Path, ready: Path, subs: int) -> list[str]:
    args = [
        "--role",
        role,
        "--count",
        str(count),
        "--out",
        str(out),
        "--ready-dir",
        str(ready),
        "--subscribers",
        str(subs),
    ]
    return args + (["--rate", str(rate)] if rate else [])


def run_ipc(work: Path, count: int, rate: float | None, subs: int) -> dict[str, Any]:
    recipes, artifacts, ready = work / "recipes", work / "artifacts", work / "ready"
    for folder in (recipes, ready):
        folder.mkdir(parents=True)
    access = {"aws.greengrass.ipc.pubsub": {"bench": {"operations": ["*"], "resources": ["*"]}}}
    outs = []
    for index in range(subs + 1):
        role = "pub" if index == subs else "sub"
        name = "bench.Publisher" if role == "pub" else f"bench.Subscriber{index:02d}"
        out = work / f"{name}.json"
        outs.append(out)
        (artifacts / name / "1.0.0").mkdir(parents=True)
        shutil.copy(PEER, artifacts / name / "1.0.0" / "pubsub_peer.py")
        command = " ".join(
            [
                "python3",
                "{artifacts:path}/pubsub_peer.py",
                "--transport",
                "ipc",
                *peer_args(role, count, rate, out, ready, subs),
            ]
        )
        (recipes / f"{name}.json").write_text(
            json.dumps(
                {
                    "RecipeFormatVersion": "2020-01-25",
                    "ComponentName": name,
                    "ComponentVersion": "1.0.0",
                    "ComponentConfiguration": {"DefaultConfiguration": {"accessControl": access}},
                    "Manifests": [{"Lifecycle": {"Run": command}}],
                }
            )
        )
    root = work / "core"
    core = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edgeway",
            "core",
            "run",
            "--root",
            str(root),
            "--recipes",
            str(recipes),
            "--artifacts",
            str(artifacts),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        core_cpu = wait_measuring(outs, ready, subs, core.pid)
    finally:
        with_socket = CorePaths(root.resolve()).control_socket
        if with_socket.exists():
            control_request(with_socket, {"op": "list"})
        core.send_signal(signal.SIGTERM)
        core.wait(60)
    return collect(outs, count, core_cpu)


def collect(outs: list[Path], count: int, broker_cpu: float) -> dict[str, Any]:
    publisher = json.loads(outs[-1].read_text())
    subscribers = [json.loads(p.read_text()) for p in outs[:-1]]
    found = summarize(publisher["start"], subscribers, count)
    found["cpu_us_per_message"] = {
        "broker_or_core": round(1e6 * broker_cpu / count, 1),
        "publisher": round(1e6 * publisher["cpu_s"] / count, 1),
        "subscribers": round(1e6 * sum(s["cpu_s"] for s in subscribers) / count, 1),
    }
    return found


def run_mqtt(work: Path, count: int, rate: float | None, subs: int) -> dict[str, Any]:
    ready = work / "ready"
    ready.mkdir(parents=True)
    port = free_port()
    config = work / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "mosquitto", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peers = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        outs = [work / f"sub{i}.json" for i in range(subs)] + [work / "pub.json"]
        for index, out in enumerate(outs):
            role = "pub" if index == subs else "sub"
            peers.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        str(PEER),
                        "--transport",
                        "mqtt",
                        "--port",
                        str(port),
                        *peer_args(role, count, rate, out, ready, subs),
                    ],
                    stdout=subprocess.DEVNULL,
                )
            )
        broker_cpu = wait_measuring(outs, ready, subs, broker.pid)
        for peer in peers:
            peer.wait(60)
    finally:
        for peer in peers:
            if peer.poll() is None:
                peer.kill()
        broker.terminate()
        broker.wait(10)
    return collect(outs, count, broker_cpu)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--paced-rate", type=float, default=1000.0)
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--fanout", type=int, default=10)
    parser.add_argument("--fanout-count", type=int, default=5_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scenarios = {
        "burst": (args.burst, None, 1),
        "paced": (int(args.paced_rate * args.paced_seconds), args.paced_rate, 1),
        "fanout": (args.fanout_count, None, args.fanout),
    }
    have_mosquitto = shutil.which("mosquitto") is not None
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in scenarios}
    for _ in range(args.repeat):  # side by side: each repeat runs every scenario on both transports
        for name, (count, rate, subs) in scenarios.items():
            with tempfile.TemporaryDirectory(prefix="edgeway-bench-") as tmp:
                entry: dict[str, Any] = {"ipc": run_ipc(Path(tmp) / "ipc", count, rate, subs)}
            if have_mosquitto:
                with tempfile.TemporaryDirectory(prefix="edgeway-bench-") as tmp:
                    entry["mosquitto"] = run_mqtt(Path(tmp) / "mqtt", count, rate, subs)
            runs[name].append(entry)
    results: dict[str, Any] = {}
    for name, (count, rate, subs) in scenarios.items():
        entry = {"messages": count, "rate": rate, "subscribers": subs, "runs": runs[name]}
        for transport in ("ipc", "mosquitto") if have_mosquitto else ("ipc",):
            found = [run[transport] for run in runs[name]]
            entry[transport] = {
                "deliveries_per_s": spread([f["deliveries_per_s"] for f in found], 1),
                "latency_ms_p50": spread([f["latency_ms_p50"] for f in found]),
                "latency_ms_p99": spread([f["latency_ms_p99"] for f in found]),
                "cpu_us_per_message": {
                    process: spread([f["cpu_us_per_message"][process] for f in found], 1)
                    for process in ("broker_or_core", "publisher", "subscribers")
                },
            }
        if have_mosquitto:
            entry["ratio_ipc_to_mosquitto"] = {
                figure: ratio(entry["ipc"][figure]["median"], entry["mosquitto"][figure]["median"])
                for figure in ("deliveries_per_s", "latency_ms_p99")
            }
        results[name] = entry
    print(
        json.dumps(
            {
                "benchmark": "ipc_pubsub",
                "machine": machine(),
                "message_bytes": 200,
                "repeat": args.repeat,
                "mosquitto": have_mosquitto,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
