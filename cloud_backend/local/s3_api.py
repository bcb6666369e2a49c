"""The few S3 calls the Greengrass workflow makes, for the stand-in: PutObject, GetObject, HeadObject
(path-style, under `/s3`: boto3's `s3` client with `endpoint_url=http://127.0.0.1:8081/s3`). Objects
are files under the stand-in's folder, their user metadata (`x-amz-meta-*`, where the operator CLI
keeps an artifact's SHA-256) beside them. Errors are S3's XML errors."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from xml.sax.saxutils import escape

from aiohttp import web

BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_OBJECT = 512 * 1024 * 1024


def _error(status: int, code: str, message: str) -> web.Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message></Error>"
    )
    return web.Response(status=status, body=body.encode(), content_type="application/xml")


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, bucket: str, key: str) -> Path:
        if not BUCKET.fullmatch(bucket) or not key or ".." in key.split("/"):
            raise ValueError(f"{bucket}/{key}: not a bucket and key this store takes")
        return self.root / bucket / key

    def exists(self, uri: str) -> bool:
        """`s3://bucket/key` is stored here."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            return self.path(bucket, key).is_file()
        except ValueError:
            return False


def s3_routes(store: ObjectStore) -> Callable[[web.Application], None]:
    async def put(request: web.Request) -> web.Response:
        try:
            target = store.path(request.match_info["bucket"], request.match_info["key"])
        except ValueError as exc:
            return _error(400, "InvalidArgument", str(exc))
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.md5(usedforsecurity=False), 0
        partial = target.with_name(target.name + ".partial")
        with partial.open("wb") as out:
            async for chunk in request.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_OBJECT:
                    partial.unlink(missing_ok=True)
                    return _error(400, "EntityTooLarge", f"objects here are at most {MAX_OBJECT} bytes")
                digest.update(chunk)
                out.write(chunk)
        partial.replace(target)
        metadata = {
            k[len("x-amz-meta-") :]: v
            for k, v in request.headers.items()
            if k.lower().startswith("x-amz-meta-")
        }
        target.with_name(target.name + ".meta.json").write_text(
            json.dumps({"metadata": metadata, "etag": digest.hexdigest()})
        )
        return web.Response(headers={"ETag": f'"{digest.hexdigest()}"'})

    def _found(request: web.Request) -> tuple[Path, dict[str, str]] | web.Response:
        try:
            path = store.path(request.match_info["bucket"], request.match_info["key"])
        except ValueError as exc:
            return _error(400, "InvalidArgument", str(exc))
        if not path.is_file():
            return _error(404, "NoSuchKey", "The specified key does not exist.")
        meta = json.loads(path.with_name(path.name + ".meta.json").read_text())
        headers = {f"x-amz-meta-{k}": v for k, v in meta["metadata"].items()}
        headers["ETag"] = f'"{meta["etag"]}"'
        headers["Content-Length"] = str(path.stat().st_size)
        return path, headers

    async def get(request: web.Request) -> web.StreamResponse:
        found = _found(request)
        if isinstance(found, web.Response):
            return found
        path, headers = found
        return web.FileResponse(path, headers=headers)

    async def head(request: web.Request) -> web.Response:
        found = _found(request)
        if isinstance(found, web.Response):
            return web.Response(status=found.status)
        return web.Response(headers=found[1])

    def add(app: web.Application) -> None:
        app.router.add_put("/s3/{bucket}/{key:.+}", put)
        app.router.add_get("/s3/{bucket}/{key:.+}", get, allow_head=False)
        app.router.add_head("/s3/{bucket}/{key:.+}", head)

    return add
