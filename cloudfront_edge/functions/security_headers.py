"""Lambda@Edge, origin-response or viewer-response: security headers on every response.

Standard library only; deployable as this one file plus an optional `security_headers.json` beside it,
embedded at packaging time (Lambda@Edge has no environment variables). The JSON may set:

    {"hsts": {"maxAge": 63072000, "includeSubDomains": true, "preload": false},
     "connectSrc": ["wss://<iot-endpoint>"],          # the MQTT WebSocket endpoint the web app uses
     "policies": {"/api/": {"csp": {"default-src": ["'none'"]}}}}   # per path prefix, longest wins

A policy per prefix overrides the default directive by directive. At viewer-response it also sets the
A/B cookie that `enrich_request` chose, when the viewer did not send one (only a viewer response may set
cookies: an origin response is cached and shared).
"""

from __future__ import annotations

import json
import os
from typing import Any

_DEFAULT_CSP: dict[str, list[str]] = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "manifest-src": ["'self'"],
    "worker-src": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
    "base-uri": ["'none'"],
    "object-src": ["'none'"],
}
_DEFAULT_POLICY: dict[str, Any] = {
    "referrerPolicy": "strict-origin-when-cross-origin",
    "permissionsPolicy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
    "frameOptions": "DENY",
    "crossOriginOpenerPolicy": "same-origin",
    "crossOriginResourcePolicy": "same-origin",
}
_REMOVED = ("server", "x-powered-by")
AB_COOKIE = "ab"
AB_COOKIE_MAX_AGE = 30 * 24 * 3600


def _load_config() -> dict[str, Any]:
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "security_headers.json")
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as file:
        loaded = json.load(file)
    if not isinstance(loaded, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return loaded


def _csp_text(directives: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def _hsts_text(hsts: dict[str, Any]) -> str:
    value = f"max-age={int(hsts.get('maxAge', 63072000))}"
    if hsts.get("includeSubDomains", True):
        value += "; includeSubDomains"
    if hsts.get("preload", False):
        value += "; preload"
    return value


def _build_policies(config: dict[str, Any]) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """Every prefix's complete header list, computed once at import: longest prefix first; each header
    as (lowercase name, name, value)."""
    base_csp = {name: list(sources) for name, sources in _DEFAULT_CSP.items()}
    base_csp["connect-src"] = base_csp["connect-src"] + list(config.get("connectSrc", []))
    prefixes: dict[str, dict[str, Any]] = {"/": {}}
    prefixes.update(config.get("policies", {}))
    hsts = _hsts_text(config.get("hsts", {}))
    built = []
    for prefix, override in prefixes.items():
        csp = dict(base_csp)
        csp.update(override.get("csp", {}))
        policy = dict(_DEFAULT_POLICY)
        policy.update({key: value for key, value in override.items() if key != "csp"})
        headers = [
            ("Strict-Transport-Security", hsts),
            ("Content-Security-Policy", _csp_text(csp)),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", policy["frameOptions"]),
            ("Referrer-Policy", policy["referrerPolicy"]),
            ("Permissions-Policy", policy["permissionsPolicy"]),
            ("Cross-Origin-Opener-Policy", policy["crossOriginOpenerPolicy"]),
            ("Cross-Origin-Resource-Policy", policy["crossOriginResourcePolicy"]),
        ]
        built.append((prefix, [(key.lower(), key, value) for key, value in headers]))
    built.sort(key=lambda item: len(item[0]), reverse=True)
    return built


_POLICIES = _build_policies(_load_config())


def headers_for(uri: str) -> list[tuple[str, str, str]]:
    """(lowercase name, name, value) of each header the longest matching prefix's policy sets."""
    for prefix, headers in _POLICIES:
        if uri.startswith(prefix):
            return headers
    return _POLICIES[-1][1]


def _ab_cookie(request: dict[str, Any]) -> str | None:
    chosen = request.get("headers", {}).get("x-ab-set")
    if not chosen:
        return None
    bucket = chosen[0].get("value", "")
    if not bucket.isalnum():
        return None
    return f"{AB_COOKIE}={bucket}; Path=/; Max-Age={AB_COOKIE_MAX_AGE}; Secure; HttpOnly; SameSite=Lax"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    cf = event["Records"][0]["cf"]
    request, response = cf["request"], cf["response"]
    headers = response["headers"]
    for name in _REMOVED:
        headers.pop(name, None)
    for name, key, value in headers_for(request.get("uri", "/")):
        headers[name] = [{"key": key, "value": value}]
    if cf.get("config", {}).get("eventType") == "viewer-response":
        cookie = _ab_cookie(request)
        if cookie is not None:
            headers.setdefault("set-cookie", []).append({"key": "Set-Cookie", "value": cookie})
    return response  # type: ignore[no-any-return]
