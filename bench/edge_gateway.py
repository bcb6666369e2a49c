"""The local CloudFront's own work per request, in process, without HTTP: `EdgeGateway.handle` for a
cache hit (viewer-request and viewer-response functions, the cache) and a miss (all three functions and
the origin fetch from a folder origin served in the same process), in CPU microseconds per request
from `time.process_time`.

    python bench/edge_gateway.py [--requests 3000] [--repeat 3]

This is the part of a request the project's code decides; `bench/edge_proxy.py` measures the whole
request over HTTP. Prints JSON with min/median/max over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.measure import spread  # noqa: E402
from cloudfront_edge.emulator.gateway import EdgeGateway  # noqa: E402
from cloudfront_edge.emulator.local import EdgeSettings, LocalEdge  # noqa: E402
from cloudfront_edge.emulator.messages import ViewerRequest  # noqa: E402
from tests.fakes.broker import free_port  # noqa: E402

HEADERS = [("Host", "localhost"), ("User-Agent", "bench"), ("Accept", "*/*")]


async def get(gateway: EdgeGateway, query: str = "") -> None:
    request = ViewerRequest("GET", "/index.html", query, HEADERS, "127.0.0.1", b"")
    response = await gateway.handle(request)
    if response.status != 200:
        raise SystemExit(f"GET /index.html?{query}: {response.status} {response.detail}")
    if response.stream is not None:
        async for _ in response.stream:  # a miss is cached as it streams to the viewer
            pass


async def measure(web: Path, requests: int, repeat: int) -> dict[str, Any]:
    edge = LocalEdge(EdgeSettings(port=free_port(), origins={"WebOrigin": f"dir:{web}"}))
    await edge.start()
    assert edge.server is not None
    gateway = edge.server.gateway
    try:
        for n in range(200):  # warm-up: the functions' first calls, the cache entry for the hit
            await get(gateway)
            await get(gateway, f"warm={n}")
        hits: list[float] = []
        misses: list[float] = []
        for run in range(repeat):
            started = time.process_time()
            for _ in range(requests):
                await get(gateway)
            hits.append(1e6 * (time.process_time() - started) / requests)
            started = time.process_time()
            for n in range(requests):
                await get(gateway, f"run={run}&n={n}")
            misses.append(1e6 * (time.process_time() - started) / requests)
        return {"hit_cpu_us": spread(hits, 1), "miss_cpu_us": spread(misses, 1)}
    finally:
        await edge.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        web = Path(folder)
        (web / "index.html").write_text("<!doctype html><title>bench</title>" + "<p>edge</p>" * 180)
        results = asyncio.run(measure(web, args.requests, args.repeat))
    print(json.dumps({"benchmark": "edge_gateway", "machine": machine(), "requests": args.requests,
                      "repeat": args.repeat, **results}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
