"""Lambda@Edge, viewer-request: give every request an id, an A/B bucket, a device class, a cache-friendly
query string, and the single-page app's page for its client-side routes.

Standard library only; `enrich_request.json` beside it (embedded at packaging time) may set:

    {"buckets": {"A": 50, "B": 50},                       # weights of the sticky A/B split
     "spaRoutes": ["^/room/[^/]+/?$"], "spaPage": "/index.html",
     "dropParams": ["utm_*", "fbclid", "gclid"]}          # a trailing * matches a prefix

The bucket is sticky: the `ab` cookie if the viewer sent a known one, else a deterministic choice from
the viewer's address and User-Agent, marked `x-ab-set` so the viewer-response function sets the cookie.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import uuid
from typing import Any
from urllib.parse import parse_qsl, quote

_DEFAULTS: dict[str, Any] = {
    "buckets": {"A": 50, "B": 50},
    "spaRoutes": [r"^/room/[^/]+/?$"],
    "spaPage": "/index.html",
    "dropParams": [
        "utm_*",
        "fbclid",
        "gclid",
        "dclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "yclid",
        "_ga",
        "igshid",
    ],
}
# Headers only the edge may set: a viewer must not be able to choose its own id, bucket or class.
_EDGE_HEADERS = ("x-request-id", "x-ab-bucket", "x-ab-set", "x-device-class", "x-original-uri")

_BOTS = re.compile(r"bot|crawl|spider|slurp|facebookexternalhit|bingpreview|headless|curl|wget|python-", re.I)
_TABLETS = re.compile(r"ipad|tablet|kindle|silk|playbook|android(?!.*mobile)", re.I)
_MOBILES = re.compile(r"mobi|iphone|ipod|windows phone|blackberry|opera mini|android.*mobile", re.I)


def _load_config() -> dict[str, Any]:
    config = dict(_DEFAULTS)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "enrich_request.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            config.update(json.load(file))
    return config


_CONFIG = _load_config()
_BUCKETS: list[tuple[str, int]] = sorted((str(k), int(v)) for k, v in _CONFIG["buckets"].items())
_TOTAL_WEIGHT = sum(weight for _, weight in _BUCKETS)
_BUCKET_NAMES = frozenset(name for name, _ in _BUCKETS)
_SPA = [re.compile(pattern) for pattern in _CONFIG["spaRoutes"]]
_DROP_EXACT = frozenset(p for p in _CONFIG["dropParams"] if not p.endswith("*"))
_DROP_PREFIXES = tuple(p[:-1] for p in _CONFIG["dropParams"] if p.endswith("*"))


# A site's viewers send a few User-Agents over and over, and a viewer's requests come one after
# another: the answers are kept for the last 256 (at most ~10 MB even if each came with 20 KB of
# headers, well within a viewer function's 128 MB).
@functools.lru_cache(maxsize=256)
def device_class(user_agent: str) -> str:
    if not user_agent or _BOTS.search(user_agent):
        return "bot"
    if _TABLETS.search(user_agent):
        return "tablet"
    if _MOBILES.search(user_agent):
        return "mobile"
    return "desktop"


@functools.lru_cache(maxsize=256)
def choose_bucket(client_ip: str, user_agent: str) -> str:
    """A stable, even split, not a secret: BLAKE2b (CPython's own, 8 bytes) rather than OpenSSL's
    SHA-256, which costs several times as much on a request that finds its caches cold."""
    digest = hashlib.blake2b(f"{client_ip}|{user_agent}".encode(), digest_size=8).digest()
    point = int.from_bytes(digest, "big") % _TOTAL_WEIGHT
    for name, weight in _BUCKETS:
        if point < weight:
            return name
        point -= weight
    return _BUCKETS[-1][0]


def normalise_query(querystring: str) -> str:
    """Sorted, tracking parameters dropped, encoded one way, so equal queries share one cache entry."""
    if not querystring:
        return ""
    pairs = [
        (key, value)
        for key, value in parse_qsl(querystring, keep_blank_values=True)
        if key not in _DROP_EXACT and not key.startswith(_DROP_PREFIXES)
    ]
    pairs.sort()
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in pairs)


def rewrite_uri(uri: str) -> str:
    for route in _SPA:
        if route.match(uri):
            return str(_CONFIG["spaPage"])
    if uri.endswith("/"):
        return uri + "index.html"
    return uri


def _cookie_bucket(headers: dict[str, list[dict[str, str]]]) -> str | None:
    for entry in headers.get("cookie", []):
        for part in entry.get("value", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == "ab" and value in _BUCKET_NAMES:
                return value
    return None


def _first(headers: dict[str, list[dict[str, str]]], name: str) -> str:
    values = headers.get(name)
    return values[0].get("value", "") if values else ""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cf = event["Records"][0]["cf"]
    request: dict[str, Any] = cf["request"]
    headers: dict[str, list[dict[str, str]]] = request["headers"]
    for name in _EDGE_HEADERS:
        headers.pop(name, None)
    user_agent = _first(headers, "user-agent")
    request_id = cf.get("config", {}).get("requestId") or uuid.uuid4().hex
    headers["x-request-id"] = [{"key": "X-Request-Id", "value": request_id}]
    bucket = _cookie_bucket(headers)
    if bucket is None:
        bucket = choose_bucket(request.get("clientIp", ""), user_agent)
        headers["x-ab-set"] = [{"key": "X-Ab-Set", "value": bucket}]
    headers["x-ab-bucket"] = [{"key": "X-Ab-Bucket", "value": bucket}]
    headers["x-device-class"] = [{"key": "X-Device-Class", "value": device_class(user_agent)}]
    request["querystring"] = normalise_query(request.get("querystring", ""))
    uri = request["uri"]
    rewritten = rewrite_uri(uri)
    if rewritten != uri:
        headers["x-original-uri"] = [{"key": "X-Original-Uri", "value": uri}]
        request["uri"] = rewritten
    return request
