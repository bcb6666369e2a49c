"""The local CloudFront's HTTP server (aiohttp): viewer requests in, `EdgeGateway.handle`, responses out,
streamed from the origin, with one JSON access-log line per request on stderr."""

from __future__ import annotations

import json
import logging
import time

from aiohttp import web

from cloudfront_edge.emulator.gateway import EdgeGateway
from cloudfront_edge.emulator.messages import EdgeResponse, ViewerRequest
from cloudfront_edge.emulator.origin import HOP_BY_HOP

MAX_REQUEST_BODY = 8 * 1024 * 1024


class _EdgeStreamResponse(web.StreamResponse):
    """aiohttp adds `Server: Python/... aiohttp/...`; a response carries only the Server header its
    origin or function gave it (the security-headers function removes that one on purpose)."""

    has_server = False

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        if not self.has_server:
            self.headers.popall("Server", None)


class EdgeServer:
    def __init__(
        self,
        gateway: EdgeGateway,
        host: str = "127.0.0.1",
        port: int = 8080,
        logger: logging.Logger | None = None,
    ) -> None:
        self.gateway = gateway
        self.host, self.port = host, port
        self._log = logger or logging.getLogger("edgeway.edge")
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_REQUEST_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            server = site._server
            sockets = getattr(server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        path, _, query = request.raw_path.partition("?")
        body = await request.read() if request.body_exists else b""
        viewer = ViewerRequest(
            method=request.method,
            uri=path,
            querystring=query,
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.raw_headers],
            client_ip=request.remote or "127.0.0.1",
            body=body,
        )
        response = await self.gateway.handle(viewer)
        out, sent = await self._send(request, response)
        self._log.info(
            json.dumps(
                {
                    "event": "edge-request",
                    "requestId": response.request_id,
                    "method": request.method,
                    "uri": path,
                    "status": response.status,
                    "resultType": response.result_type,
                    "detail": response.detail or None,
                    "bytes": sent,
                    "ms": round((time.monotonic() - started) * 1000, 3),
                }
            )
        )
        return out

    async def _send(self, request: web.Request, response: EdgeResponse) -> tuple[web.StreamResponse, int]:
        out = _EdgeStreamResponse(status=response.status, reason=response.reason or None)
        streaming = response.stream is not None
        for key, value in response.headers:
            lowered = key.lower()
            if lowered in HOP_BY_HOP and not (streaming and lowered == "content-length"):
                continue
            if lowered == "server":
                out.has_server = True
            out.headers.add(key, value)
        if not streaming:
            out.content_length = len(response.body)
            await out.prepare(request)
            if request.method != "HEAD":
                await out.write(response.body)
            await out.write_eof()
            return out, len(response.body)
        await out.prepare(request)
        sent = 0
        assert response.stream is not None
        async for chunk in response.stream:
            if request.method != "HEAD":
                await out.write(chunk)
            sent += len(chunk)
        await out.write_eof()
        return out, sent
