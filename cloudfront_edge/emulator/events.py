"""Lambda@Edge events built as CloudFront builds them. Pure: no I/O.

`Records[0].cf` holds `config` and `request` (and `response` for the response triggers). Header maps are
keyed by the lowercase name, each a list of `{key, value}`; disallowed headers are never exposed; the
querystring has no leading `?`; the origin object appears from origin-request on; the body object only
with IncludeBody, base64 and truncated at the trigger's limit.
"""

from __future__ import annotations

import base64
import json
import pickle
from typing import Any

from cloudfront_edge.emulator.messages import Headers, ViewerRequest
from cloudfront_edge.emulator.validation import FLAT_ENTRY, is_disallowed
from cloudfront_edge.model.distribution import Distribution, Origin
from cloudfront_edge.model.triggers import Trigger

CfHeaders = dict[str, list[dict[str, str]]]


def to_cf_headers(headers: Headers) -> CfHeaders:
    mapped: CfHeaders = {}
    for key, value in headers:
        name = key.lower()
        if not is_disallowed(name):
            mapped.setdefault(name, []).append({"key": key, "value": value})
    return mapped


def from_cf_headers(headers: CfHeaders, leaving_out: str = "") -> Headers:
    """(key, value) pairs in the map's order; `leaving_out` is a lowercase name to drop."""
    return [
        (entry.get("key") or name, entry["value"])
        for name, entries in headers.items()
        if name != leaving_out
        for entry in entries
    ]


def config_object(distribution: Distribution, trigger: Trigger, request_id: str) -> dict[str, Any]:
    return {
        "distributionDomainName": distribution.domain_name,
        "distributionId": distribution.id,
        "eventType": str(trigger),
        "requestId": request_id,
    }


def viewer_request_object(request: ViewerRequest) -> dict[str, Any]:
    return {
        "clientIp": request.client_ip,
        "headers": to_cf_headers(request.headers),
        "method": request.method,
        "querystring": request.querystring,
        "uri": request.uri,
    }


def origin_object(origin: Origin) -> dict[str, Any]:
    custom_headers = to_cf_headers(list(origin.custom_headers))
    if origin.kind == "s3":
        return {
            "s3": {
                "authMethod": "origin-access-identity",
                "customHeaders": custom_headers,
                "domainName": origin.domain_name,
                "path": origin.path,
                "region": "us-east-1",
            }
        }
    return {
        "custom": {
            "customHeaders": custom_headers,
            "domainName": origin.domain_name,
            "keepaliveTimeout": origin.keepalive_timeout,
            "path": origin.path,
            "port": origin.port,
            "protocol": origin.protocol,
            "readTimeout": origin.read_timeout,
            "sslProtocols": ["TLSv1.2"],
        }
    }


def body_object(body: bytes, trigger: Trigger) -> dict[str, Any]:
    limit = trigger.generated_response_limit
    return {
        "inputTruncated": len(body) > limit,
        "action": "read-only",
        "encoding": "base64",
        "data": base64.b64encode(body[:limit]).decode("ascii"),
    }


def origin_request_object(
    viewer_side: dict[str, Any],
    origin: Origin,
    viewer_headers: dict[str, str],
    request_id: str,
) -> dict[str, Any]:
    """The request as the origin-request trigger sees it: CloudFront's headers added, Host the origin's."""
    request: dict[str, Any] = json.loads(json.dumps(viewer_side))
    headers: CfHeaders = request["headers"]
    for name, value in viewer_headers.items():
        headers[name.lower()] = [{"key": name, "value": value}]
    headers["host"] = [{"key": "Host", "value": origin.domain_name}]
    headers["via"] = [{"key": "Via", "value": f"2.0 {request_id[:32]}.cloudfront.net (CloudFront)"}]
    forwarded = [e["value"] for e in headers.get("x-forwarded-for", [])] + [request["clientIp"]]
    headers["x-forwarded-for"] = [{"key": "X-Forwarded-For", "value": ", ".join(forwarded)}]
    request["origin"] = origin_object(origin)
    return request


def response_object(status: int, reason: str, headers: Headers) -> dict[str, Any]:
    return {"headers": to_cf_headers(headers), "status": str(status), "statusDescription": reason}


def event(cf: dict[str, Any]) -> dict[str, Any]:
    return {"Records": [{"cf": cf}]}


def copied(cf: dict[str, Any], part: str) -> dict[str, Any]:
    """The `cf` object a function is sent, with `part` (the one its result is judged against) deep-copied
    for the function to own as it would over the wire: the part and its header map copied by their
    known shape, in a third of pickle's time. A header entry holds only strings (or a null key) once built
    or validated; one with other fields, and any other nested value (a body, an origin), is copied through
    pickle. The other parts go as they are: `config` is built for each call, and the request a response
    trigger is shown is not read again once the function has run."""
    return {**cf, part: _copied_part(cf[part])}


def _copied_part(part: dict[str, Any]) -> dict[str, Any]:
    out = dict(part)
    for key, value in part.items():
        if key == "headers":
            out[key] = {
                name: [dict(entry) if entry.keys() <= FLAT_ENTRY else _deep(entry) for entry in entries]
                for name, entries in value.items()
            }
        elif isinstance(value, (dict, list)):
            out[key] = _deep(value)
    return out


def _deep(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
