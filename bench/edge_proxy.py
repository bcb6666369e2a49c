"""Latency and throughput through the local CloudFront, and directly to its origin, in the same run.

Three processes on loopback: an origin (the S3 stand-in serving a 2 KB page), `edgeway edge serve` with
the project's distribution (enrich_request on viewer-request, enrich_origin on origin-request,
security_headers on viewer-response: three functions) pointed at it, and this client. Paths measured,
each with keep-alive connections:

  direct      GET origin /index.html
  edge-hit    GET edge /index.html (served from the edge cache after the first request; the two
              viewer functions still run, as at CloudFront)
  edge-miss   GET edge /index.html?n=<unique> (every request runs all three functions and the origin fetch)

All of it twice: against the origin as it is (about 0.3 ms on loopback) and against the same origin
made to wait 5 ms before each answer (an origin across a network). Latency: --requests sequential
requests after a warm-up, p50 and p99, and the edge process's CPU per request from /proc; throughput
(loopback only): --concurrency connections for --seconds. --repeat runs, as min/median/max. Prints JSON.

    python bench/edge_proxy.py [--requests 2000] [--concurrency 8] [--seconds 5] [--repeat 3]

Goals (issue 18): a hit's p50 at most 1.3x the direct origin's; a miss adds at most 1 ms at p50 to the
loopback origin and is at most 1.3x the 5 ms origin.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.measure import cpu_seconds, spread  # noqa: E402

ORIGIN = """
import asyncio, sys
from pathlib import Path
from cloudfront_edge.emulator.static_origin import StaticOrigin
class Waiting(StaticOrigin):
    async def _object(self, request):
        if DELAY:
            await asyncio.sleep(DELAY)
        return await super()._object(request)
DELAY = float(sys.argv[3])
async def main():
    origin = Waiting(Path(sys.argv[1]), port=int(sys.argv[2]))
    await origin.start()
    await asyncio.Event().wait()
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"a benchmark server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def fetch(connection: http.client.HTTPConnection, path: str) -> float:
    started = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        raise SystemExit(f"GET {path}: {response.status}")
    return (time.perf_counter() - started) * 1000


def latency(
    port: int, paths: itertools.count[int] | None, path: str, count: int, pid: int | None = None
) -> dict[str, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for index in range(min(200, count)):
        fetch(connection, path if paths is None else f"{path}?warm={index}")
    cpu = cpu_seconds(pid) if pid is not None else 0.0
    samples = [fetch(connection, path if paths is None else f"{path}?n={next(paths)}") for _ in range(count)]
    connection.close()
    quantiles = statistics.quantiles(samples, n=100)
    found = {"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(quantiles[98], 3)}
    if pid is not None:
        found["edge_cpu_us_per_request"] = round(1e6 * (cpu_seconds(pid) - cpu) / count, 1)
    return found


def throughput(port: int, path: str, unique: bool, concurrency: int, seconds: float) -> float:
    counter = itertools.count(10_000_000)
    done = [0] * concurrency
    deadline = time.monotonic() + seconds

    def worker(slot: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < deadline:
            fetch(connection, f"{path}?n={next(counter)}" if unique else path)
            done[slot] += 1
        connection.close()

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 30)
    return round(sum(done) / (time.monotonic() - started), 1)


def one_run(web: Path, delay: float, args: argparse.Namespace, with_throughput: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    origin_port, edge_port = free_port(), free_port()
    origin = subprocess.Popen([sys.executable, "-c", ORIGIN, str(web), str(origin_port), str(delay)], env=env)
    edge = subprocess.Popen(
        [sys.executable, "-m", "edgeway", "edge", "serve", "--port", str(edge_port),
         "--origin", f"WebOrigin=http://127.0.0.1:{origin_port}"],
        env=env, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_listening(origin_port, origin)
        wait_listening(edge_port, edge)
        unique = itertools.count()
        results: dict[str, Any] = {
            "direct": latency(origin_port, None, "/index.html", args.requests),
            "edge-hit": latency(edge_port, None, "/index.html", args.requests, edge.pid),
            "edge-miss": latency(edge_port, unique, "/index.html", args.requests, edge.pid),
        }
        if with_throughput:
            for name, port, unique_paths in (
                ("direct", origin_port, False),
                ("edge-hit", edge_port, False),
                ("edge-miss", edge_port, True),
            ):
                results[name]["requests_per_s"] = throughput(
                    port, "/index.html", unique_paths, args.concurrency, args.seconds
                )
        return results
    finally:
        for process in (edge, origin):
            process.send_signal(signal.SIGTERM)
            process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--origin-delay-ms", type=float, default=5.0)
    args = parser.parse_args()
    origins = {"loopback": 0.0, f"origin_{args.origin_delay_ms:g}ms": args.origin_delay_ms / 1000}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in origins}
    with tempfile.TemporaryDirectory() as folder:
        web = Path(folder)
        (web / "index.html").write_text("<!doctype html><title>bench</title>" + "<p>edge</p>" * 180)
        for _ in range(args.repeat):  # side by side: each repeat measures both origins
            for name, delay in origins.items():
                runs[name].append(one_run(web, delay, args, with_throughput=delay == 0.0))
    report: dict[str, Any] = {
        "benchmark": "edge_proxy",
        "machine": machine(),
        "requests": args.requests,
        "concurrency": args.concurrency,
        "repeat": args.repeat,
    }
    for name, found in runs.items():
        summary: dict[str, Any] = {}
        for path in ("direct", "edge-hit", "edge-miss"):
            summary[path] = {
                figure: spread([run[path][figure] for run in found]) for figure in found[0][path]
            }
        direct = summary["direct"]["p50_ms"]["median"]
        summary["hit_p50_to_direct"] = round(summary["edge-hit"]["p50_ms"]["median"] / direct, 2)
        summary["miss_p50_to_direct"] = round(summary["edge-miss"]["p50_ms"]["median"] / direct, 2)
        summary["miss_p50_added_ms"] = round(summary["edge-miss"]["p50_ms"]["median"] - direct, 3)
        summary["runs"] = found
        report[name] = summary
    slow = report[f"origin_{args.origin_delay_ms:g}ms"]
    report["goals"] = {
        "hit_p50_at_most_1_3x_direct": report["loopback"]["hit_p50_to_direct"] <= 1.3,
        "miss_adds_at_most_1ms_to_loopback": report["loopback"]["miss_p50_added_ms"] <= 1.0,
        "miss_at_most_1_3x_slow_origin": slow["miss_p50_to_direct"] <= 1.3,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
