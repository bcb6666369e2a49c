"""The local CloudFront's HTTP server (aiohttp): viewer requests in, `EdgeGateway.handle`, responses out,
streamed from the origin, with one JSON access-log line per request on stderr."""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.web import BaseRequest, RequestHandler

from cloudfront_edge.emulator.gateway import MAX_URI_BYTES, EdgeGateway
from cloudfront_edge.emulator.messages import EdgeResponse, ViewerRequest
from cloudfront_edge.emulator.origin import HOP_BY_HOP

MAX_REQUEST_BODY = 8 * 1024 * 1024
MAX_HEADER_BYTES = 20_480  # CloudFront: the total size of a request's headers
_HOP_BY_HOP_STREAMED = HOP_BY_HOP - {"content-length"}  # a streamed body keeps its declared length


class _EdgeStreamResponse(web.StreamResponse):
    """aiohttp adds `Server: Python/... aiohttp/...`; a response carries only the Server header its
    origin or function gave it (the policy and the security-headers function remove that one)."""

    has_server = False
    _send_headers_immediately = False  # the head goes out with the first body bytes: one write, not two

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        if not self.has_server:
            self.headers.popall("Server", None)


class _EdgeErrorResponse(web.Response):
    """What the server answers a request it could not parse with: CloudFront's error, no Server."""

    async def _prepare_headers(self) -> None:
        await super()._prepare_headers()
        self.headers.popall("Server", None)


class _EdgeRequestHandler(RequestHandler):
    """aiohttp answers a malformed request itself (`handle_error`); here the gateway does, as CloudFront
    would: a 400 with the response headers policy, not aiohttp's page and Server header."""

    gateway: EdgeGateway

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        super().handle_error(request, status, exc, message)  # logs, and checks nothing was sent yet
        refused = self.gateway.refuse(status if status < 500 else 400, "The request could not be satisfied.")
        response = _EdgeErrorResponse(status=refused.status, body=refused.body)
        for key, value in refused.headers:
            if key.lower() not in HOP_BY_HOP:
                response.headers.add(key, value)
        return response


class _EdgeHttpServer(web.Server):
    def __init__(self, gateway: EdgeGateway, handler: Any, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._gateway = gateway

    def __call__(self) -> RequestHandler:
        protocol = _EdgeRequestHandler(self, loop=self._loop, **self._kwargs)
        protocol.gateway = self._gateway
        return protocol


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
        self._runner: web.BaseRunner | None = None

    async def start(self) -> None:
        server = _EdgeHttpServer(
            self.gateway,
            self._handle,
            # CloudFront limits a request's headers by their total size, not their number.
            max_headers=MAX_HEADER_BYTES // 4,
            max_line_size=MAX_URI_BYTES + 64,
            max_field_size=MAX_HEADER_BYTES,
            access_log=None,
        )
        self._runner = web.ServerRunner(server, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            sockets = getattr(site._server, "sockets", None) or []
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: BaseRequest) -> web.StreamResponse:
        started = time.monotonic()
        path, _, query = request.raw_path.partition("?")
        header_bytes = sum(len(k) + len(v) + 4 for k, v in request.raw_headers)
        if header_bytes > MAX_HEADER_BYTES:
            response = self.gateway.refuse(494, f"The request's headers exceed {MAX_HEADER_BYTES} bytes.")
        else:
            body = await _read_body(request)
            if body is None:
                response = self.gateway.refuse(413, f"The request body exceeds {MAX_REQUEST_BODY} bytes.")
            else:
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
            "edge-request",
            extra={
                "requestId": response.request_id,
                "method": request.method,
                "uri": path,
                "status": response.status,
                "resultType": response.result_type,
                "detail": response.detail or None,
                "bytes": sent,
                "ms": round((time.monotonic() - started) * 1000, 3),
            },
        )
        return out

    async def _send(self, request: BaseRequest, response: EdgeResponse) -> tuple[web.StreamResponse, int]:
        streaming = response.stream is not None
        dropped = _HOP_BY_HOP_STREAMED if streaming else HOP_BY_HOP
        headers = [(key, value) for key, value in response.headers if key.lower() not in dropped]
        # the multidict made in one call (C), not a header at a time
        out = _EdgeStreamResponse(status=response.status, reason=response.reason or None, headers=headers)
        out.has_server = "Server" in out.headers
        if not streaming:
            out.content_length = len(response.body)
            await out.prepare(request)
            await out.write_eof(response.body if request.method != "HEAD" else b"")  # with the head
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


async def _read_body(request: BaseRequest) -> bytes | None:
    """The whole body, or None when it is larger than CloudFront takes (what is left is not read)."""
    if not request.body_exists:
        return b""
    declared = request.content_length
    if declared is not None and declared > MAX_REQUEST_BODY:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(65536):
        size += len(chunk)
        if size > MAX_REQUEST_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
