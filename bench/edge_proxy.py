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
made to wait 5 ms before each answer (an origin across a network). Latency: after a warm-up, --requests
rounds of one request to each path in turn (side by side, so a slower moment of the machine falls on
all three alike), p50 and p99, and each run's ratio of a path's p50 to the direct one's. CPU per request
of the edge and of the origin from /proc, in separate sequential loops of --requests; and the CPU the
client itself (http.client) spends reading a direct answer and a hit, replayed from recorded bytes:
part of both latencies, and more for a hit, which carries the headers CloudFront adds. Throughput
(loopback only): --concurrency connections for --seconds. --repeat runs, as min/median/max; the goals
are judged on the median of the runs' own ratios. Prints JSON.

    python bench/edge_proxy.py [--requests 2000] [--concurrency 8] [--seconds 5] [--repeat 3]

Goals (issue 18): a hit's p50 at most 1.3x the direct origin's; a miss adds at most 1 ms at p50 to the
loopback origin and is at most 1.3x the 5 ms origin.
"""

from __future__ import annotations

import argparse
import http.client
import io
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
from tests.fakes.broker import free_port  # noqa: E402

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


def raw_response(port: int, path: str) -> bytes:
    """One response as bytes off the wire (head and a Content-Length body), read without parsing it."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


class _Replay:
    """A socket that gives http.client one recorded response."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


def client_parse_us(data: bytes, count: int = 5000) -> float:
    """CPU microseconds http.client (this benchmark's client) spends reading one such response: part of
    every latency it measures, and more for a response with more headers."""
    started = time.process_time()
    for _ in range(count):
        response = http.client.HTTPResponse(_Replay(data))  # type: ignore[arg-type]
        response.begin()
        response.read()
    return round(1e6 * (time.process_time() - started) / count, 1)


def latencies(targets: dict[str, tuple[int, bool]], count: int) -> dict[str, dict[str, float]]:
    """p50 and p99 of each target (name -> (port, a new query string each time)), measured side by
    side: one request to each in turn, `count` rounds, so a moment when the machine is slower falls on
    all of them alike. Each target has its own keep-alive connection."""
    unique = itertools.count()
    connections = {
        name: http.client.HTTPConnection("127.0.0.1", port, timeout=10) for name, (port, _) in targets.items()
    }

    def path(name: str, key: str) -> str:
        return f"/index.html?{key}={next(unique)}" if targets[name][1] else "/index.html"

    for _ in range(min(200, count)):
        for name, connection in connections.items():
            fetch(connection, path(name, "warm"))
    samples: dict[str, list[float]] = {name: [] for name in targets}
    for _ in range(count):
        for name, connection in connections.items():
            samples[name].append(fetch(connection, path(name, "n")))
    for connection in connections.values():
        connection.close()
    found = {}
    for name, values in samples.items():
        quantiles = statistics.quantiles(values, n=100)
        found[name] = {"p50_ms": round(statistics.median(values), 3), "p99_ms": round(quantiles[98], 3)}
    return found


_CPU_PATHS = itertools.count()  # query strings never used before: every one a miss


def cpu_per_request(port: int, unique: bool, count: int, pid: int) -> float:
    """The CPU microseconds process `pid` spends per request, requests one after another."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    paths = (f"/index.html?cpu={next(_CPU_PATHS)}" if unique else "/index.html" for _ in itertools.count())
    for _ in range(min(200, count)):
        fetch(connection, next(paths))
    cpu = cpu_seconds(pid)
    for _ in range(count):
        fetch(connection, next(paths))
    used = cpu_seconds(pid) - cpu
    connection.close()
    return round(1e6 * used / count, 1)


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
        results: dict[str, Any] = latencies(
            {"direct": (origin_port, False), "edge-hit": (edge_port, False), "edge-miss": (edge_port, True)},
            args.requests,
        )
        results["direct"]["origin_cpu_us_per_request"] = cpu_per_request(
            origin_port, False, args.requests, origin.pid
        )
        for name, unique in (("edge-hit", False), ("edge-miss", True)):
            results[name]["edge_cpu_us_per_request"] = cpu_per_request(
                edge_port, unique, args.requests, edge.pid
            )
            results[name]["origin_cpu_us_per_request"] = cpu_per_request(
                edge_port, unique, args.requests, origin.pid
            )
        for name, port in (("direct", origin_port), ("edge-hit", edge_port)):
            results[name]["client_parse_us"] = client_parse_us(raw_response(port, "/index.html"))
        for name in ("edge-hit", "edge-miss"):  # this run's own ratio: measured side by side
            results[name]["p50_to_direct"] = round(results[name]["p50_ms"] / results["direct"]["p50_ms"], 3)
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
        summary["hit_p50_to_direct"] = summary["edge-hit"]["p50_to_direct"]["median"]
        summary["miss_p50_to_direct"] = summary["edge-miss"]["p50_to_direct"]["median"]
        summary["miss_p50_added_ms"] = round(
            statistics.median(run["edge-miss"]["p50_ms"] - run["direct"]["p50_ms"] for run in found), 3
        )
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
