"""The stand-in's HTTP side: `POST /api/session` signs a person in, `POST /api/session/renew` gives a
signed-in person a fresh token for the same client id, `GET /.well-known/jwks.json` gives
the public key, `GET /healthz` says it is up. Requests are parsed and checked here, once; errors are
JSON bodies that say what was wrong."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web

from cloud_backend.handlers.chat_commands import NICK
from cloud_backend.handlers.tokens import JwksKeys, TokenError, verify
from cloud_backend.local.identity import Identity, new_client_id

log = logging.getLogger("edgeway.session")
MAX_BODY = 4096


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


Health = Callable[[], tuple[bool, dict[str, Any]]]
Routes = Callable[[web.Application], None]  # more routes, added by whoever composes the stand-in


def make_app(identity: Identity, mqtt_url: str, health: Health | None = None) -> web.Application:
    async def session(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, f"the body is over {MAX_BODY} bytes")
        try:
            body: Any = json.loads(await request.read())
        except ValueError as exc:
            return _error(400, f"the body is not JSON: {exc}")
        nick = body.get("nick") if isinstance(body, dict) else None
        if not isinstance(nick, str) or not NICK.match(nick):
            return _error(400, "nick must be 1 to 32 letters, digits, _ . or -")
        client_id = new_client_id("user")
        token = identity.issue(client_id, "user", nick)
        log.info("session issued", extra={"client_id": client_id, "nick": nick})
        return web.json_response(
            {"token": token, "clientId": client_id, "mqttUrl": mqtt_url, "expiresIn": identity.token_seconds},
            headers={"Cache-Control": "no-store"},
        )

    async def renew(request: web.Request) -> web.Response:
        """A fresh token for the same client id and nick, for a client whose token still holds."""
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _error(401, "send the current token as Authorization: Bearer <token>")
        try:
            claims = verify(token, JwksKeys(identity.jwks()), identity.issuer, identity.now())
        except TokenError as exc:
            return _error(401, str(exc))
        if claims.role != "user":
            return _error(403, "only a browser session is renewed here")
        fresh = identity.issue(claims.client_id, claims.role, claims.nick)
        log.info("session renewed", extra={"client_id": claims.client_id})
        return web.json_response(
            {
                "token": fresh,
                "clientId": claims.client_id,
                "mqttUrl": mqtt_url,
                "expiresIn": identity.token_seconds,
            },
            headers={"Cache-Control": "no-store"},
        )

    async def jwks(request: web.Request) -> web.Response:
        return web.json_response(identity.jwks(), headers={"Cache-Control": "max-age=300"})

    async def healthz(request: web.Request) -> web.Response:
        """200 when everything answers, 503 with what does not; `edgeway up` adds its core's
        components and the local CloudFront to the stand-in's own answer."""
        if health is None:
            return web.json_response({"ok": True})
        ok, document = health()
        return web.json_response({"ok": ok, **document}, status=200 if ok else 503)

    app = web.Application(client_max_size=64 * 1024)  # the session routes check their own 4 KB
    app.router.add_post("/api/session", session)
    app.router.add_post("/api/session/renew", renew)
    app.router.add_get("/.well-known/jwks.json", jwks)
    app.router.add_get("/healthz", healthz)
    return app
