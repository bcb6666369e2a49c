"""Local device shadows over IPC (aws.greengrass.ShadowManager).

Resources are the shadow topics' prefixes, as the ShadowManager component
authorizes them: `$aws/things/<thing>/shadow` for the classic shadow,
`$aws/things/<thing>/shadow/name/<name>` for a named one, and `$aws/things/<thing>`
for listing. Payloads are shadow documents, base64 in the IPC JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from edgeway_common.shadow_document import (
    Shadow,
    ShadowDocumentError,
    ShadowVersionConflict,
    apply_update,
    delete,
    get_document,
    parse_update,
)
from edgeway_common.shadow_store import ShadowStore
from greengrass_components.cloud.shadow_sync import ShadowSync
from greengrass_components.cloud.spool import SpoolFullError

from ..authorization import SHADOW_MANAGER, Authorizer
from ..errors import ConflictError, InvalidArgumentsError, ResourceNotFoundError
from ..server import CallContext, Operation

GET = "aws.greengrass#GetThingShadow"
UPDATE = "aws.greengrass#UpdateThingShadow"
DELETE = "aws.greengrass#DeleteThingShadow"
LIST = "aws.greengrass#ListNamedShadowsForThing"
NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,128}$")
SHADOW_NAME = re.compile(r"^[a-zA-Z0-9:_-]{1,64}$")


def _names(request: dict[str, Any]) -> tuple[str, str]:
    thing = request.get("thingName")
    if not isinstance(thing, str) or not NAME.match(thing):
        raise InvalidArgumentsError("thingName is required: 1 to 128 of a-z A-Z 0-9 : _ -")
    name = request.get("shadowName") or ""
    if name and (not isinstance(name, str) or not SHADOW_NAME.match(name)):
        raise InvalidArgumentsError("shadowName must be 1 to 64 of a-z A-Z 0-9 : _ -")
    return thing, name


def _resource(thing: str, name: str) -> str:
    return f"$aws/things/{thing}/shadow" + (f"/name/{name}" if name else "")


def _encoded(document: dict[str, Any]) -> dict[str, Any]:
    return {"payload": base64.b64encode(json.dumps(document, separators=(",", ":")).encode()).decode()}


async def _tell_cloud(publish: Awaitable[None]) -> None:
    """The local change stands even when the cloud cannot be told now (a full spool): say so in the log."""
    try:
        await publish
    except SpoolFullError as exc:
        logging.getLogger("edgeway").warning("shadow-sync-not-spooled", extra={"fields": {"error": str(exc)}})


def _existing(store: ShadowStore, thing: str, name: str) -> Shadow:
    """The shadow, or the ResourceNotFoundError IoT Core gives for a shadow that does not exist."""
    shadow = store.get(thing, name)
    if not shadow.exists:
        raise ResourceNotFoundError(
            f"No shadow exists with name: '{name or thing}'",
            resourceType="Shadow",
            resourceName=name or thing,
        )
    return shadow


def operations(
    store: ShadowStore,
    authorizer: Authorizer,
    clock: Callable[[], float] = time.time,
    sync: ShadowSync | None = None,
) -> list[Operation]:
    def now() -> int:
        return int(clock())

    def get_thing_shadow(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        thing, name = _names(request)
        authorizer.check(ctx.component, SHADOW_MANAGER, GET, _resource(thing, name))
        shadow = _existing(store, thing, name)
        return _encoded(get_document(shadow, now()))

    async def update_thing_shadow(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        thing, name = _names(request)
        authorizer.check(ctx.component, SHADOW_MANAGER, UPDATE, _resource(thing, name))
        try:
            payload = base64.b64decode(request.get("payload") or "", validate=True)
            updated, response = apply_update(store.get(thing, name), parse_update(payload), now())
        except (binascii.Error, ShadowDocumentError) as exc:
            raise InvalidArgumentsError(str(exc)) from exc
        except ShadowVersionConflict as exc:
            raise ConflictError(str(exc)) from exc
        store.put(thing, name, updated)
        if sync is not None:
            await _tell_cloud(sync.local_update(thing, name, response))
        return _encoded(response)

    async def delete_thing_shadow(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        thing, name = _names(request)
        authorizer.check(ctx.component, SHADOW_MANAGER, DELETE, _resource(thing, name))
        shadow = _existing(store, thing, name)
        deleted, response = delete(shadow, now())
        store.put(thing, name, deleted)
        if sync is not None:
            await _tell_cloud(sync.local_delete(thing, name))
        return _encoded(response)

    def list_named_shadows(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
        thing, _ = _names({"thingName": request.get("thingName")})
        authorizer.check(ctx.component, SHADOW_MANAGER, LIST, f"$aws/things/{thing}")
        size = request.get("pageSize") or 25
        if not isinstance(size, int) or not 1 <= size <= 100:
            raise InvalidArgumentsError("pageSize must be from 1 to 100")
        token = request.get("nextToken")
        try:
            start = int(base64.b64decode(token).decode()) if token else 0
        except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
            raise InvalidArgumentsError("nextToken is not one this core gave out") from exc
        names = store.named(thing)
        page = names[start : start + size]
        answer: dict[str, Any] = {"results": page, "timestamp": now()}
        if start + size < len(names):
            answer["nextToken"] = base64.b64encode(str(start + size).encode()).decode()
        return answer

    return [
        Operation(GET, get_thing_shadow),
        Operation(UPDATE, update_thing_shadow),
        Operation(DELETE, delete_thing_shadow),
        Operation(LIST, list_named_shadows),
    ]
