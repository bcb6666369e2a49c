"""Latency and throughput through the local CloudFront, and directly to its origin, in the same run.

Three processes on loopback: an origin (the S3 stand-in serving a 2 KB page), `edgeway edge serve` with
the project's distribution (enrich_request, enrich_origin, security_headers) pointed at it, and this
client. Paths measured, each with keep-alive connections:

  direct      GET origin /index.html
  edge-hit    GET edge /index.html (served from the edge cache after the first request)
  edge-miss   GET edge /index.html?n=<unique> (every request runs viewer-request, origin-request,
              the origin fetch and viewer-response)

Latency: --requests sequential requests after a warm-up, p50 and p99. Throughput: --concurrency
connections for --seconds. Prints JSON.

    python bench/edge_proxy.py [--requests 2000] [--concurrency 8] [--seconds 5]

Goal: edge p50 no more than 1.3 times the direct origin's.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine

ORIGIN = """
import asyncio, sys
from pathlib import Path
from cloudfront_edge.emulator.static_origin import StaticOrigin
async def main():
    origin = StaticOrigin(Path(sys.argv[1]), port=int(sys.argv[2]))
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


def latency(port: int, paths: itertools.count[int] | None, path: str, count: int) -> dict[str, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for index in range(min(200, count)):
        fetch(connection, path if paths is None else f"{path}?warm={index}")
    samples = [fetch(connection, path if paths is None else f"{path}?n={next(paths)}") for _ in range(count)]
    connection.close()
    quantiles = statistics.quantiles(samples, n=100)
    return {"p50_ms": round(statistics.median(samples), 3), "p99_ms": round(quantiles[98], 3)}


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as folder:
        web = Path(folder)
        (web / "index.html").write_text("<!doctype html><title>bench</title>" + "<p>edge</p>" * 180)
        origin_port, edge_port = free_port(), free_port()
        origin = subprocess.Popen([sys.executable, "-c", ORIGIN, str(web), str(origin_port)], env=env)
        edge = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgeway",
                "edge",
                "serve",
                "--port",
                str(edge_port),
                "--origin",
                f"WebOrigin=http://127.0.0.1:{origin_port}",
            ],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_listening(origin_port, origin)
            wait_listening(edge_port, edge)
            unique = itertools.count()
            results = {
                "direct": latency(origin_port, None, "/index.html", args.requests),
                "edge-hit": latency(edge_port, None, "/index.html", args.requests),
                "edge-miss": latency(edge_port, unique, "/index.html", args.requests),
            }
            results["direct"]["requests_per_s"] = throughput(
                origin_port, "/index.html", False, args.concurrency, args.seconds
            )
            results["edge-hit"]["requests_per_s"] = throughput(
                edge_port, "/index.html", False, args.concurrency, args.seconds
            )
            results["edge-miss"]["requests_per_s"] = throughput(
                edge_port, "/index.html", True, args.concurrency, args.seconds
            )
        finally:
            for process in (edge, origin):
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    direct = results["direct"]["p50_ms"]
    ratios = {name: round(results[name]["p50_ms"] / direct, 2) for name in ("edge-hit", "edge-miss")}
    print(
        json.dumps(
            {
                "benchmark": "edge_proxy",
                "machine": machine(),
                "requests": args.requests,
                "concurrency": args.concurrency,
                "results": results,
                "p50_ratio_to_direct": ratios,
                "goal": "p50 <= 1.3 x direct",
                "met": {name: ratio <= 1.3 for name, ratio in ratios.items()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
