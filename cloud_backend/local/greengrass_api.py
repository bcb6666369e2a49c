"""The Greengrass calls the stand-in serves for client devices, in botocore's `greengrassv2` shapes
(UpdateConnectivityInfo, GetConnectivityInfo, BatchAssociateClientDeviceWithCoreDevice,
ListClientDevicesAssociatedWithCoreDevice), and the discovery API a device calls with its certificate:
`GET /greengrass/discover/thing/{thing}` on its own TLS port (8443, as AWS serves it), where the
certificate's subject must be the thing asked about.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web

from cloud_backend.local.greengrass_registry import Endpoint, GreengrassRegistry, discover_response
from edgeway_common.certificates import common_name

log = logging.getLogger("edgeway.discovery")
THING = re.compile(r"[a-zA-Z0-9:_-]{1,128}")


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status, headers={"x-amzn-ErrorType": code})


async def _json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"{}")
    except ValueError:
        return None


def greengrass_routes(registry: GreengrassRegistry) -> Callable[[web.Application], None]:
    async def update_connectivity(request: web.Request) -> web.Response:
        thing = request.match_info["thing"]
        body = await _json(request)
        entries = body.get("ConnectivityInfo") if isinstance(body, dict) else None
        if not THING.fullmatch(thing) or not isinstance(entries, list):
            return _error(
                400, "ValidationException", "ConnectivityInfo must be a list; thingName a thing name"
            )
        endpoints = []
        for index, entry in enumerate(entries):
            try:
                endpoints.append(
                    Endpoint(
                        str(entry["Id"]),
                        str(entry["HostAddress"]),
                        int(entry["PortNumber"]),
                        str(entry.get("Metadata", "")),
                    )
                )
            except (KeyError, TypeError, ValueError):
                return _error(
                    400,
                    "ValidationException",
                    f"ConnectivityInfo[{index}] needs Id, HostAddress and PortNumber",
                )
        version = registry.set_connectivity(thing, endpoints)
        return web.json_response({"Version": str(version), "Message": "Connectivity info updated"})

    async def get_connectivity(request: web.Request) -> web.Response:
        core = registry.core(request.match_info["thing"])
        if core is None:
            return _error(
                404,
                "ResourceNotFoundException",
                f"no connectivity information for {request.match_info['thing']}",
            )
        return web.json_response(
            {
                "ConnectivityInfo": [
                    {"Id": e.id, "HostAddress": e.host, "PortNumber": e.port, "Metadata": e.metadata}
                    for e in core.connectivity
                ]
            }
        )

    async def associate(request: web.Request) -> web.Response:
        body = await _json(request)
        entries = body.get("entries") if isinstance(body, dict) else None
        if not isinstance(entries, list):
            return _error(400, "ValidationException", "entries must be a list of {thingName}")
        good, errors = [], []
        for entry in entries:
            name = entry.get("thingName") if isinstance(entry, dict) else None
            if isinstance(name, str) and THING.fullmatch(name):
                good.append(name)
            else:
                errors.append(
                    {"thingName": str(name), "code": "ValidationException", "message": "not a thing name"}
                )
        registry.associate(request.match_info["core"], good)
        return web.json_response({"errorEntries": errors})

    async def associated(request: web.Request) -> web.Response:
        clients = registry.associated_with(request.match_info["core"])
        return web.json_response(
            {"associatedClientDevices": [{"thingName": c, "associationTimestamp": at} for c, at in clients]}
        )

    def add(app: web.Application) -> None:
        app.router.add_put("/greengrass/things/{thing}/connectivityInfo", update_connectivity)
        app.router.add_get("/greengrass/things/{thing}/connectivityInfo", get_connectivity)
        app.router.add_post("/greengrass/v2/coreDevices/{core}/associateClientDevices", associate)
        app.router.add_get("/greengrass/v2/coreDevices/{core}/associatedClientDevices", associated)

    return add


def discovery_app(registry: GreengrassRegistry) -> web.Application:
    async def discover(request: web.Request) -> web.Response:
        thing = request.match_info["thing"]
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return web.json_response({"errorMessage": "a client certificate is required"}, status=401)
        caller = common_name(der)
        if caller != thing:
            log.info(
                "discovery refused",
                extra={"thing": thing, "certificate": caller, "reason": "not its certificate"},
            )
            return web.json_response(
                {
                    "errorMessage": f"the certificate is {caller!r}'s; it may discover only for itself,"
                    f" not {thing!r}"
                },
                status=403,
            )
        cores = registry.cores_of(thing)
        if not cores:
            return web.json_response(
                {"errorMessage": f"{thing} is associated with no core device"}, status=404
            )
        log.info("discovered", extra={"thing": thing, "cores": [c.thing for c in cores]})
        return web.json_response(discover_response(cores))

    app = web.Application(client_max_size=1024)
    app.router.add_get("/greengrass/discover/thing/{thing}", discover)
    return app


def server_context(ca_file: str, cert: str, key: str) -> ssl.SSLContext:
    """TLS that requires a client certificate signed by the stand-in's CA, as AWS's discovery port does."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=ca_file)
    context.load_cert_chain(cert, key)
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["x-amzn-http-ca", "http/1.1"])
    return context
