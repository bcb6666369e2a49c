"""A request body that must be a JSON object, for the stand-in's AWS-shaped REST APIs: each API says
what to raise (its own error type and code), and the message names what was wrong."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from aiohttp import web


async def json_object(request: web.Request, refuse: Callable[[str], Exception]) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise refuse(f"the body is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise refuse("the body must be a JSON object")
    return body
