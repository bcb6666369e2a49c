"""Client authentication for the core's local broker: each client device has a username (its client id)
and a password, stored only as a salted scrypt hash (`scrypt$<salt hex>$<hash hex>`), so the
component's configuration never holds a password. A client must connect with its own id as username.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from amqtt.plugins.base import BaseAuthPlugin

log = logging.getLogger("edgeway.local_broker")
_N, _R, _P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, salt, expected = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=_N, r=_R, p=_P)
    return hmac.compare_digest(digest.hex(), expected)


class ClientPasswordPlugin(BaseAuthPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        clients: Any = None  # {client id: stored hash}

    async def authenticate(self, *, session: Any) -> bool | None:
        client_id = session.client_id or ""
        stored = (self.config.clients or {}).get(client_id)
        password = session.password or ""
        password = password.decode() if isinstance(password, bytes) else str(password)
        if stored is None or session.username != client_id or not check_password(password, stored):
            log.warning("client refused", extra={"client_id": client_id, "username": session.username})
            return False
        return True
