"""A local CloudFront and a test origin on loopback, run on an event loop in a background thread so
tests can talk to them with a plain HTTP client."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections import Counter
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web

from cloudfront_edge.emulator.local import EdgeSettings, LocalEdge
from edgeway_common.json_logs import JsonFormatter
from tests.waiting import wait_for

T = TypeVar("T")


class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class TestOrigin:
    """An origin whose answers depend on the path, and which counts what it was asked."""

    __test__ = False

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] += 1
        if path.startswith("/cache/"):
            seconds = path.rsplit("/", 1)[-1]
            return web.Response(
                text=f"cached for {seconds}",
                headers={
                    "Cache-Control": f"max-age={seconds}",
                    "Server": "origin/1.0",
                    "X-Powered-By": "test",
                },
            )
        if path == "/nostore":
            return web.Response(text="fresh", headers={"Cache-Control": "no-store"})
        if path == "/error":
            return web.Response(status=500, text="origin failed")
        if path == "/echo":
            received = {k: v for k, v in request.headers.items()}
            return web.json_response(
                {
                    "headers": received,
                    "query": request.query_string,
                    "path": request.path_qs,
                    "body": (await request.read()).decode(),
                },
                headers={"Cache-Control": "no-store"},
            )
        if path == "/big":
            response = web.StreamResponse(
                headers={"Content-Type": "application/octet-stream", "Cache-Control": "no-store"}
            )
            await response.prepare(request)
            for index in range(48):
                await response.write(bytes([index]) * 65536)
            await response.write_eof()
            return response
        return web.Response(status=404, text="no such thing")


class RunningEdge:
    def __init__(self, settings: EdgeSettings, origin: TestOrigin | None = None) -> None:
        self.loop = LoopThread()
        self.origin = origin
        self.records: list[dict[str, Any]] = []
        logger = logging.getLogger(f"edgeway.edge.test.{id(self)}")
        logger.setLevel(logging.INFO)
        logger.propagate = False
        logger.addHandler(_Collect(self.records))
        if origin is not None:
            self.loop.run(origin.start())
            settings.origins.setdefault("api", f"http://127.0.0.1:{origin.port}")
        self.edge = LocalEdge(settings, logger)
        self.loop.run(self.edge.start())
        self.url = self.edge.url
        self.port = int(self.url.rsplit(":", 1)[1].rstrip("/"))

    def log_for(self, request_id: str) -> dict[str, Any]:
        """The access-log line of a request; it is written once the response has gone, so wait for it."""

        def logged() -> dict[str, Any] | None:
            return next((r for r in list(self.records) if r.get("requestId") == request_id), None)

        found: dict[str, Any] = wait_for(logged, 10, f"the access-log line of {request_id}")
        return found

    def close(self) -> None:
        self.loop.run(self.edge.stop())
        if self.origin is not None:
            self.loop.run(self.origin.stop())
        self.loop.close()


class _Collect(logging.Handler):
    def __init__(self, records: list[dict[str, Any]]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(json.loads(JsonFormatter().format(record)))
