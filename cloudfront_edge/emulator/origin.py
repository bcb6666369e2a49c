"""Fetching from the origin over real HTTP (aiohttp), streaming the body back.

The gateway sees only `OriginTransport.fetch`; tests may pass any other transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import aiohttp

from cloudfront_edge.emulator.messages import OriginRequest, OriginResponse
from cloudfront_edge.errors import OriginError as OriginError

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "content-length",
    }
)
CHUNK = 64 * 1024


class OriginTransport(Protocol):
    async def fetch(self, request: OriginRequest) -> OriginResponse: ...


class HttpOrigin:
    """Keeps one pool of keep-alive connections to the local origins."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                auto_decompress=False,
                connector=aiohttp.TCPConnector(limit=256, keepalive_timeout=5),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept"),
            )
        return self._session

    async def fetch(self, request: OriginRequest) -> OriginResponse:
        url = request.base_url + request.path + ("?" + request.querystring if request.querystring else "")
        headers = [(k, v) for k, v in request.headers if k.lower() not in HOP_BY_HOP]
        timeout = aiohttp.ClientTimeout(sock_connect=request.connect_timeout, sock_read=request.read_timeout)
        try:
            response = await self._client().request(
                request.method,
                url,
                headers=headers,
                data=request.body or None,
                allow_redirects=False,
                timeout=timeout,
            )
        except TimeoutError as exc:
            raise OriginError(504, f"the origin {request.base_url} did not answer in time") from exc
        except aiohttp.ClientError as exc:
            raise OriginError(
                502, f"CloudFront wasn't able to connect to the origin {request.base_url}: {exc}"
            ) from exc
        raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in response.raw_headers]
        return OriginResponse(response.status, response.reason or "", raw, stream=_body(response))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


async def _body(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    try:
        async for chunk in response.content.iter_chunked(CHUNK):
            yield chunk
    finally:
        response.release()
