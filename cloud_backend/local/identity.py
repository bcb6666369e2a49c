"""The stand-in's identity provider: one RSA key made on first run, kept owner-only under the data
directory; short-lived RS256 tokens for `POST /api/session`; the public half as a JWKS."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

KEY_FILE = "identity-key.pem"
ISSUER = "edgeway"
TOKEN_SECONDS = 3600


def _b64(number: int) -> str:
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_or_create_key(directory: Path) -> rsa.RSAPrivateKey:
    path = directory / KEY_FILE
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise PermissionError(f"{path}: the signing key must be readable by its owner only (chmod 600)")
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: not an RSA private key")
        return key
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    return key


@dataclass
class Identity:
    key: rsa.RSAPrivateKey
    issuer: str = ISSUER
    token_seconds: int = TOKEN_SECONDS
    now: Callable[[], float] = field(default=time.time)

    @property
    def key_id(self) -> str:
        numbers = self.key.public_key().public_numbers()
        return hashlib.sha256(f"{numbers.n}:{numbers.e}".encode()).hexdigest()[:16]

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "use": "sig",
                    "alg": "RS256",
                    "kid": self.key_id,
                    "n": _b64(numbers.n),
                    "e": _b64(numbers.e),
                }
            ]
        }

    def issue(self, client_id: str, role: str, nick: str) -> str:
        now = int(self.now())
        claims = {
            "iss": self.issuer,
            "sub": client_id,
            "role": role,
            "nick": nick,
            "iat": now,
            "exp": now + self.token_seconds,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.key_id})


def new_client_id(role: str) -> str:
    return f"{role}-{secrets.token_hex(6)}"
