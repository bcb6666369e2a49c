"""The operator console's HTTP API, on the stand-in's HTTP side under `/api/console/` (so the page
reaches it through the local CloudFront, on its own origin): the core's components with state, version
and configuration; restart and stop; a log tail per component; deployments; and the broker's decisions.

Every request carries the console's token (`Authorization: Bearer ...`, printed by `edgeway up` in the
console's address) and comes from loopback; anything else is a 401 or 403 JSON body. Answers are data.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from cloud_backend.broker.monitor import Monitor
from greengrass_components.local_core import Core

NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
MAX_LINES = 200
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _tail(path: Path, lines: int) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 256 * 1024))
        text = handle.read().decode(errors="replace")
    entries = []
    for line in text.splitlines()[-lines:]:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            entries.append(entry)
    return entries


def console_routes(core: Core, monitor: Monitor, token: str) -> Callable[[web.Application], None]:
    def guarded(handler: Handler) -> Handler:
        async def check(request: web.Request) -> web.StreamResponse:
            if request.remote not in ("127.0.0.1", "::1"):
                return _error(403, "the console answers loopback only")
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.encode()):
                return _error(401, "the console needs the token edgeway up printed (Authorization: Bearer)")
            return await handler(request)

        return check

    async def components(request: web.Request) -> web.StreamResponse:
        listed = [
            {**c, "configuration": core.configs.get(c["name"]) or {}} for c in core.supervisor.snapshot()
        ]
        return web.json_response({"thing": core.settings.thing_name, "components": listed})

    async def act(request: web.Request) -> web.StreamResponse:
        name, action = request.match_info["name"], request.match_info["action"]
        if not NAME.match(name) or name not in core.supervisor.runners:
            return _error(404, f"no component named {name[:128]!r}")
        done = core.supervisor.restart(name) if action == "restart" else core.supervisor.halt(name)
        if not done:
            return _error(409, f"{name} cannot {action} now (it is {core.board.state(name)})")
        return web.json_response({"name": name, "action": action})

    async def logs(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if not NAME.match(name) or (name != "greengrass" and name not in core.supervisor.runners):
            return _error(404, f"no component named {name[:128]!r}")
        try:
            lines = min(MAX_LINES, max(1, int(request.query.get("lines", "50"))))
        except ValueError:
            return _error(400, "lines must be a whole number")
        return web.json_response({"name": name, "lines": _tail(core.paths.logs / f"{name}.log", lines)})

    async def deployments(request: web.Request) -> web.StreamResponse:
        return web.json_response({"deployments": [d.to_json() for d in core.store.deployments()[-20:]]})

    async def decisions(request: web.Request) -> web.StreamResponse:
        try:
            after = int(request.query.get("after", "0"))
        except ValueError:
            return _error(400, "after must be a whole number")
        return web.json_response({"events": monitor.since(after)})

    def add(app: web.Application) -> None:
        app.router.add_get("/api/console/components", guarded(components))
        app.router.add_post("/api/console/components/{name}/{action:restart|stop}", guarded(act))
        app.router.add_get("/api/console/logs/{name}", guarded(logs))
        app.router.add_get("/api/console/deployments", guarded(deployments))
        app.router.add_get("/api/console/monitor", guarded(decisions))

    return add
