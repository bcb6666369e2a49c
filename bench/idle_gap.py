"""The same work back to back and after an idle gap: what a message costs when it comes alone.

    python bench/idle_gap.py [--gap-ms 5] [--operations 400] [--repeat 3]

Paced at 200 messages a second, every message finds the process asleep for 5 ms and its caches taken
by whatever ran meanwhile; flat out, each follows the last. This measures that difference on the
pieces the chat path and the local CloudFront are made of, in one process: the stand-in's SQLite store
putting one chat message (its WAL file, as the writer thread does it), the rules engine taking one
well-formed chat message (the template's rules, compiled, actions handed to nothing), the local
CloudFront's gateway serving one cache hit (both viewer functions, in process, no HTTP), and, on its
own, the CPU a thread spends being woken from the sleep; and, as the smallest piece, `json.dumps` of a
chat message's item (C code and a small dict). Each operation is timed alone, CPU from
`time.thread_time`; per repeat, `--operations` back to back, as many each after `--gap-ms` asleep, and
as many each after `--gap-ms` spinning in a tight loop that touches nothing the operation uses (the
thread awake all along: what is lost in the gap is lost to whatever else the machine runs, not to
the sleep), the three blocks taking turns so a slower moment of the machine falls on all. Prints JSON:
per piece, the median CPU microseconds per operation in each block and the ratios to back to back,
as min/median/max over the repeats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.edge_gateway import get  # noqa: E402
from bench.machine import machine  # noqa: E402
from bench.measure import spread  # noqa: E402
from bench.rules import NoActions, template_rules  # noqa: E402
from cloud_backend.rules.engine import RulesEngine  # noqa: E402
from cloud_backend.store.records import ChatMessage  # noqa: E402
from cloud_backend.store.sqlite import SqliteDatabase, SqliteMessageStore  # noqa: E402
from cloudfront_edge.emulator.local import EdgeSettings, LocalEdge  # noqa: E402
from tests.fakes.broker import free_port  # noqa: E402

Operation = Callable[[], Awaitable[None]]


def _store_put(folder: Path) -> Operation:
    store = SqliteMessageStore(SqliteDatabase(folder / "backend.sqlite3"))
    count = 0

    async def put() -> None:
        nonlocal count
        count += 1
        ts = 1_800_000_000_000 + count
        store.put(
            ChatMessage(
                room="lobby", sk=f"{ts}#m-{count}#{count:032x}", id=f"m-{count}", user="ada",
                text="hello there, how is the weather at the site", ts=ts, client_id="user-1",
            )
        )  # fmt: skip

    return put


def _rules() -> Operation:
    engine = RulesEngine(template_rules(), NoActions(), lambda: 1_800_000_000_000, lambda: "u")
    count = 0

    async def process() -> None:
        nonlocal count
        count += 1
        body = {"type": "message", "room": "lobby", "text": "hello there", "id": f"m-{count}", "user": "ada"}
        engine.process("chat/out", json.dumps(body).encode(), "user-1")

    return process


def _json_dumps() -> Operation:
    item = {"room": "lobby", "sk": "1800000000000#m-1#0", "id": "m-1", "user": "ada", "text": "hello there"}

    async def dumps() -> None:
        json.dumps(item)

    return dumps


def _spin(seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        pass


GAPS: dict[str, Callable[[float], None]] = {
    "asleep": time.sleep,  # the whole thread, the event loop included, as between paced messages
    "spinning": _spin,
}


async def _measure(
    operation: Operation, gap: float, count: int, wait: Callable[[float], None] = time.sleep
) -> tuple[list[float], list[float]]:
    """Per operation: CPU microseconds of the operation, and of the wait before it (0 without a gap)."""
    work, wake = [], []
    for _ in range(count):
        slept = time.thread_time()
        if gap:
            wait(gap)
        started = time.thread_time()
        await operation()
        ended = time.thread_time()
        work.append(1e6 * (ended - started))
        wake.append(1e6 * (started - slept))
    return work, wake


async def run(gap: float, operations: int, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        web = Path(folder) / "web"
        web.mkdir()
        (web / "index.html").write_text("<!doctype html><title>bench</title>" + "<p>edge</p>" * 180)
        edge = LocalEdge(EdgeSettings(port=free_port(), origins={"WebOrigin": f"dir:{web}"}))
        await edge.start()
        assert edge.server is not None
        gateway = edge.server.gateway

        async def hit() -> None:
            await get(gateway)

        pieces: dict[str, Operation] = {
            "json_dumps": _json_dumps(),
            "sqlite_put": _store_put(Path(folder)),
            "rules_chat_message": _rules(),
            "edge_hit": hit,
        }
        try:
            for operation in pieces.values():  # first calls, the cache entry for the hit
                await _measure(operation, 0.0, 200)
            found: dict[str, dict[str, list[float]]] = {name: {} for name in pieces}
            wakes: list[float] = []
            for _ in range(repeat):
                for name, operation in pieces.items():
                    warm, _ = await _measure(operation, 0.0, operations)
                    warm_us = statistics.median(warm)
                    found[name].setdefault("back_to_back_cpu_us", []).append(warm_us)
                    for kind, wait in GAPS.items():
                        cold, woken = await _measure(operation, gap, operations, wait)
                        cold_us = statistics.median(cold)
                        found[name].setdefault(f"after_gap_{kind}_cpu_us", []).append(cold_us)
                        found[name].setdefault(f"after_gap_{kind}_to_back_to_back", []).append(
                            cold_us / warm_us
                        )
                        if wait is time.sleep:
                            wakes.append(statistics.median(woken))
        finally:
            await edge.stop()
    report: dict[str, Any] = {
        name: {
            figure: spread(values, 2 if figure.endswith("back") else 1) for figure, values in figures.items()
        }
        for name, figures in found.items()
    }
    report["wake_from_sleep_cpu_us"] = spread(wakes, 1)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gap-ms", type=float, default=5.0)
    parser.add_argument("--operations", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results = asyncio.run(run(args.gap_ms / 1000, args.operations, args.repeat))
    report = {"benchmark": "idle_gap", "machine": machine(), "gap_ms": args.gap_ms}
    report.update(operations=args.operations, repeat=args.repeat, **results)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
