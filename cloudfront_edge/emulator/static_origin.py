"""A local stand-in for an S3 origin: serves a folder's files as S3 serves objects (GET and HEAD by key,
ETag, Last-Modified, Content-Type; no directory listings, no index documents: those are CloudFront's and
the viewer-request function's business)."""

from __future__ import annotations

import hashlib
import mimetypes
from email.utils import formatdate
from pathlib import Path

from aiohttp import web


class StaticOrigin:
    def __init__(self, root: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root.resolve()
        self.host, self.port = host, port
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/{key:.*}", self._object)
        app.router.add_route("HEAD", "/{key:.*}", self._object)
        # S3 limits a request's headers by size (8 KB), not by number: no count limit of aiohttp's 128.
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, max_headers=2048)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _object(self, request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        if len(key.encode()) > MAX_KEY_BYTES:
            return _error(400, "KeyTooLongError", "Your key is too long")
        if "\0" in key:
            return _error(400, "InvalidArgument", "The key holds a NUL character")
        try:
            path = (self.root / key).resolve()
            found = bool(key) and path.is_relative_to(self.root) and path.is_file()
        except (OSError, ValueError):  # a key no file may be named by, on this file system
            found = False
        if not found:
            return _error(404, "NoSuchKey", "The specified key does not exist.", key)
        data = path.read_bytes()
        etag = '"' + hashlib.md5(data, usedforsecurity=False).hexdigest() + '"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(path.stat().st_mtime, usegmt=True),
            "Server": "AmazonS3",
        }
        return web.Response(body=data, headers=headers, content_type=content_type)


MAX_KEY_BYTES = 1024  # S3's limit on an object key


def _error(status: int, code: str, message: str, key: str | None = None) -> web.Response:
    key_element = "" if key is None else f"<Key>{_xml_escape(key)}</Key>"
    return web.Response(
        status=status,
        text=f"<Error><Code>{code}</Code><Message>{message}</Message>{key_element}</Error>",
        content_type="application/xml",
        headers={"Server": "AmazonS3"},
    )


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
