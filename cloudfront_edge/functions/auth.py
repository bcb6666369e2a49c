"""Lambda@Edge, viewer-request: only a valid JWT reaches protected paths.

RS256 is verified here by hand with the standard library (RSASSA-PKCS1-v1_5: `pow(signature, e, n)`
compared with the expected SHA-256 DigestInfo encoding), because a Lambda@Edge viewer function must stay
small and self-contained: no `cryptography` wheel, no layers. The JWKS (Cognito's or the local stand-in's)
is embedded at packaging time in `auth.json` beside this file, with the checks to make:

    {"jwks": {"keys": [...]}, "issuer": "https://...", "audience": ["client-id"], "tokenUse": "id",
     "cookie": "token", "protected": ["/api/", "/dash/"], "public": ["/api/session"],
     "api": ["/api/"], "login": "/login", "leeway": 30, "indexRewrite": true}

A page without a valid token gets a 302 to the login page; an API path gets a 401 with a JSON body.
A behaviour has one viewer-request function, so on protected pages this one also rewrites `/dash/` to
`/dash/index.html` (`indexRewrite`), as `enrich_request` does elsewhere.
Without a JWKS every protected path is refused: a deploy that forgot its keys fails closed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import time
from typing import Any
from urllib.parse import quote

_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_MIN_MODULUS_BYTES = 256  # 2048-bit keys at least
_DEFAULTS: dict[str, Any] = {
    "jwks": {"keys": []},
    "issuer": None,
    "audience": [],
    "tokenUse": None,
    "cookie": "token",
    "protected": ["/api/", "/dash/"],
    "public": ["/api/session"],
    "api": ["/api/"],
    "login": "/login",
    "leeway": 30,
    "indexRewrite": True,
}


class InvalidToken(Exception):
    """Why a token was refused; the reason goes to the viewer, the token never does."""


def _b64url(text: str) -> bytes:
    if not _B64URL.match(text):
        raise InvalidToken("token is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidToken("token is not base64url") from exc


def _load_config() -> dict[str, Any]:
    config = dict(_DEFAULTS)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "auth.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as file:
            config.update(json.load(file))
    return config


def _load_keys(jwks: dict[str, Any]) -> dict[str, tuple[int, int]]:
    keys = {}
    for key in jwks.get("keys", []):
        if key.get("kty") != "RSA" or key.get("alg", "RS256") != "RS256" or key.get("use", "sig") != "sig":
            continue
        n = int.from_bytes(_b64url(key["n"]), "big")
        e = int.from_bytes(_b64url(key["e"]), "big")
        if (n.bit_length() + 7) // 8 < _MIN_MODULUS_BYTES:
            raise ValueError(f"auth.json: key {key.get('kid')!r} is shorter than 2048 bits")
        keys[str(key.get("kid", ""))] = (n, e)
    return keys


_CONFIG = _load_config()
_KEYS = _load_keys(_CONFIG["jwks"])


def verify_rs256(n: int, e: int, signing_input: bytes, signature: bytes) -> bool:
    size = (n.bit_length() + 7) // 8
    if len(signature) != size:
        return False
    value = int.from_bytes(signature, "big")
    if value >= n:
        return False
    encoded = pow(value, e, n).to_bytes(size, "big")
    digest = hashlib.sha256(signing_input).digest()
    padding = size - 3 - len(_SHA256_DIGEST_INFO) - len(digest)
    expected = b"\x00\x01" + b"\xff" * padding + b"\x00" + _SHA256_DIGEST_INFO + digest
    return hmac.compare_digest(encoded, expected)


def _json_part(text: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64url(text))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidToken("token is not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken("token is not a JSON object")
    return value


def _check_claims(claims: dict[str, Any], now: float) -> None:
    leeway = float(_CONFIG["leeway"])
    exp = claims.get("exp")
    if not isinstance(exp, (int, float)) or isinstance(exp, bool):
        raise InvalidToken("token has no exp")
    if now > exp + leeway:
        raise InvalidToken("token expired")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or now + leeway < nbf):
        raise InvalidToken("token not yet valid")
    if _CONFIG["issuer"] is not None and claims.get("iss") != _CONFIG["issuer"]:
        raise InvalidToken("wrong issuer")
    token_use = _CONFIG["tokenUse"]
    if token_use is not None and claims.get("token_use") != token_use:
        raise InvalidToken("wrong token use")
    audiences = set(_CONFIG["audience"])
    if audiences:
        claimed = claims.get("client_id") if token_use == "access" else claims.get("aud")
        claimed_set = set(claimed) if isinstance(claimed, list) else {claimed}
        if not audiences & claimed_set:
            raise InvalidToken("wrong audience")


def verify(token: str, now: float | None = None) -> dict[str, Any]:
    """The token's claims if its signature and claims are valid; InvalidToken otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("token is not a JWS")
    header = _json_part(parts[0])
    if header.get("alg") != "RS256":
        raise InvalidToken("token algorithm must be RS256")
    key = _KEYS.get(str(header.get("kid", "")))
    if key is None:
        raise InvalidToken("token signed by an unknown key")
    if not verify_rs256(key[0], key[1], f"{parts[0]}.{parts[1]}".encode(), _b64url(parts[2])):
        raise InvalidToken("bad signature")
    claims = _json_part(parts[1])
    _check_claims(claims, time.time() if now is None else now)
    return claims


def _token(headers: dict[str, list[dict[str, str]]]) -> str | None:
    for entry in headers.get("authorization", []):
        scheme, _, value = entry.get("value", "").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    cookie_name = _CONFIG["cookie"]
    for entry in headers.get("cookie", []):
        for part in entry.get("value", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == cookie_name and value:
                return value
    return None


def _refuse(uri: str, querystring: str, reason: str) -> dict[str, Any]:
    no_store = [{"key": "Cache-Control", "value": "no-store"}]
    if uri.startswith(tuple(_CONFIG["api"])):
        return {
            "status": "401",
            "statusDescription": "Unauthorized",
            "headers": {
                "content-type": [{"key": "Content-Type", "value": "application/json"}],
                "www-authenticate": [{"key": "WWW-Authenticate", "value": 'Bearer error="invalid_token"'}],
                "cache-control": no_store,
            },
            "body": json.dumps({"error": "unauthorized", "reason": reason}),
        }
    target = uri + ("?" + querystring if querystring else "")
    return {
        "status": "302",
        "statusDescription": "Found",
        "headers": {
            "location": [{"key": "Location", "value": f"{_CONFIG['login']}?next={quote(target, safe='')}"}],
            "cache-control": no_store,
        },
    }


def _is_protected(uri: str) -> bool:
    if uri.startswith(tuple(_CONFIG["public"])):
        return False
    return uri.startswith(tuple(_CONFIG["protected"]))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    request: dict[str, Any] = event["Records"][0]["cf"]["request"]
    headers: dict[str, list[dict[str, str]]] = request["headers"]
    headers.pop("x-auth-sub", None)  # only this function may assert who the viewer is
    uri = request["uri"]
    if not _is_protected(uri):
        return request
    token = _token(headers)
    if token is None:
        return _refuse(uri, request.get("querystring", ""), "no token")
    try:
        claims = verify(token)
    except InvalidToken as exc:
        return _refuse(uri, request.get("querystring", ""), str(exc))
    subject = str(claims.get("sub", ""))
    headers["x-auth-sub"] = [{"key": "X-Auth-Sub", "value": subject}]
    if _CONFIG["indexRewrite"] and uri.endswith("/"):
        request["uri"] = uri + "index.html"
    return request
