"""Client tokens: RS256 JWTs whose subject is the MQTT client id. Verified with PyJWT.

Claims: `sub` (the client id the token binds), `role` ("user", "device" or "observer"), `nick`, `iss`,
`iat`, `exp`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

import jwt

from cloud_backend.errors import TokenError as TokenError

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
ROLES = ("user", "device", "observer")


class KeySource(Protocol):
    def signing_key(self, token: str) -> Any: ...


class JwksKeys:
    """Keys from a JWKS document already in hand (locally: the stand-in's own key set)."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self._keys = {key.key_id: key for key in jwt.PyJWKSet.from_dict(jwks).keys}

    def signing_key(self, token: str) -> Any:
        kid = jwt.get_unverified_header(token).get("kid")
        if kid not in self._keys:
            raise TokenError(f"the token is signed by an unknown key {kid!r}")
        return self._keys[kid].key


class JwksUrlKeys:
    """Keys fetched from a JWKS URL and cached (in AWS: the identity provider's)."""

    def __init__(self, url: str) -> None:
        self._client = jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)

    def signing_key(self, token: str) -> Any:
        return self._client.get_signing_key_from_jwt(token).key


@dataclass(frozen=True)
class Claims:
    client_id: str
    role: str
    nick: str
    expires: int


def verify(token: str, keys: KeySource, issuer: str, now: float, leeway: int = 30) -> Claims:
    """The token's claims if its signature, issuer and lifetime hold at `now` (passed in, not read)."""
    try:
        claims = jwt.decode(
            token,
            keys.signing_key(token),
            algorithms=["RS256"],
            issuer=issuer,
            options={"require": ["exp", "iat", "sub", "iss"], "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise TokenError(f"the token was refused: {exc}") from exc
    expires, issued = claims["exp"], claims["iat"]
    if not isinstance(expires, int) or not isinstance(issued, int):
        raise TokenError("the token's exp and iat must be whole seconds")
    if now > expires + leeway:
        raise TokenError("the token has expired")
    if issued > now + leeway:
        raise TokenError("the token was issued in the future")
    client_id, role = claims.get("sub"), claims.get("role", "user")
    if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
        raise TokenError("the token's sub is not a valid client id")
    if role not in ROLES:
        raise TokenError(f"the token's role must be one of {', '.join(ROLES)}")
    return Claims(client_id, role, str(claims.get("nick", client_id))[:32], int(claims["exp"]))
