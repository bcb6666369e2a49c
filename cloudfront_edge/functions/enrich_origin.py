"""Lambda@Edge, origin-request: CloudFront's viewer headers as simple headers for the origin, and
country rules.

CloudFront adds `CloudFront-Viewer-Country`, `CloudFront-Is-Mobile-Viewer` and the like only after the
viewer-request trigger, and only when the origin request policy forwards them, so this runs at
origin-request. Standard library only; `enrich_origin.json` beside it (embedded at packaging time) may
set:

    {"blockCountries": ["KP"],                                        # 403, generated here, cached
     "routeCountries": {"DE": {"domainName": "eu.example.com"}}}      # another custom origin
"""

from __future__ import annotations

import json
import os
from typing import Any

_SIMPLE = {
    "cloudfront-viewer-country": "X-Viewer-Country",
    "cloudfront-viewer-country-region": "X-Viewer-Region",
    "cloudfront-viewer-city": "X-Viewer-City",
    "cloudfront-viewer-time-zone": "X-Viewer-Time-Zone",
    "cloudfront-viewer-address": "X-Viewer-Address",
    "cloudfront-forwarded-proto": "X-Viewer-Proto",
    "cloudfront-viewer-http-version": "X-Viewer-Http-Version",
}
_DEVICE_FLAGS = (
    ("cloudfront-is-smarttv-viewer", "smarttv"),
    ("cloudfront-is-tablet-viewer", "tablet"),
    ("cloudfront-is-mobile-viewer", "mobile"),
    ("cloudfront-is-desktop-viewer", "desktop"),
)
_OURS = (*(name.lower() for name in _SIMPLE.values()), "x-viewer-device")


def _load_config() -> dict[str, Any]:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "enrich_origin.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as file:
        loaded: dict[str, Any] = json.load(file)
    return loaded


_CONFIG = _load_config()
_BLOCKED = frozenset(code.upper() for code in _CONFIG.get("blockCountries", []))
_ROUTES: dict[str, dict[str, Any]] = {k.upper(): v for k, v in _CONFIG.get("routeCountries", {}).items()}


def _first(headers: dict[str, list[dict[str, str]]], name: str) -> str | None:
    values = headers.get(name)
    return values[0].get("value") if values else None


def _blocked(country: str) -> dict[str, Any]:
    body = json.dumps({"error": "not available in your country", "country": country})
    return {
        "status": "403",
        "statusDescription": "Forbidden",
        "headers": {
            "content-type": [{"key": "Content-Type", "value": "application/json"}],
            "cache-control": [{"key": "Cache-Control", "value": "max-age=300"}],
        },
        "body": body,
    }


def _route(request: dict[str, Any], target: dict[str, Any]) -> None:
    custom = request.get("origin", {}).get("custom")
    if custom is None:
        return  # only a custom origin can be rerouted by domain name
    custom.update({key: target[key] for key in ("domainName", "port", "protocol", "path") if key in target})
    request["headers"]["host"] = [{"key": "Host", "value": custom["domainName"]}]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request: dict[str, Any] = event["Records"][0]["cf"]["request"]
    headers: dict[str, list[dict[str, str]]] = request["headers"]
    for name in _OURS:
        headers.pop(name, None)  # a viewer must not forge what the edge asserts
    for source, simple in _SIMPLE.items():
        value = _first(headers, source)
        if value is not None:
            headers[simple.lower()] = [{"key": simple, "value": value}]
    for flag, device in _DEVICE_FLAGS:
        if _first(headers, flag) == "true":
            headers["x-viewer-device"] = [{"key": "X-Viewer-Device", "value": device}]
            break
    country = (_first(headers, "cloudfront-viewer-country") or "").upper()
    if country in _BLOCKED:
        return _blocked(country)
    if country in _ROUTES:
        _route(request, _ROUTES[country])
    return request
