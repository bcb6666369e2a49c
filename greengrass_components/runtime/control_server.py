"""The core's local control socket: one JSON request per line, one JSON answer per line.

The socket is created owner-only (mode 0600, inside the 0700 root), so only the
user running the core can deploy to it. Requests are `{"op": NAME, ...}`; every
answer has `ok`, and a failed one carries `error` saying what was wrong.
Operations come from one table; a bad request is answered and the connection
stays usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from edgeway_common.json_logs import log

from .errors import CoreError

Operation = Callable[[Mapping[str, Any]], Awaitable[dict[str, Any]]]
MAX_REQUEST_BYTES = 1024 * 1024


async def dispatch(operations: Mapping[str, Operation], line: bytes) -> dict[str, Any]:
    try:
        request = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return {"ok": False, "error": f"request is not JSON: {exc}"}
    if not isinstance(request, dict):
        return {"ok": False, "error": "request must be a JSON object with an 'op'"}
    op = request.get("op")
    handler = operations.get(op) if isinstance(op, str) else None
    if handler is None:
        return {"ok": False, "error": f"unknown op {op!r}; known: {', '.join(sorted(operations))}"}
    try:
        answer = await handler(request)
    except CoreError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, **answer}


async def start_control_server(
    path: Path, operations: Mapping[str, Operation], logger: logging.Logger
) -> asyncio.Server:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                answer = await dispatch(operations, line)
                if not answer["ok"]:
                    log(logger, logging.WARNING, "control-request-rejected", error=answer["error"])
                writer.write(json.dumps(answer, default=str).encode() + b"\n")
                await writer.drain()
        except (ValueError, asyncio.LimitOverrunError):
            writer.write(json.dumps({"ok": False, "error": "request line too long"}).encode() + b"\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()

    path.unlink(missing_ok=True)
    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(serve, path=str(path), limit=MAX_REQUEST_BYTES)
    finally:
        os.umask(old_umask)
    path.chmod(0o600)
    return server
