"""Helpers for the Lambda@Edge tests: sample events, functions packaged with a configuration, JWTs."""

from __future__ import annotations

import base64
import copy
import json
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cloudfront_edge.deploy.packaging import package, stage
from cloudfront_edge.emulator.function_host import FunctionHost
from cloudfront_edge.model.triggers import Trigger

EVENTS = Path(__file__).parent / "events"


def sample_event(trigger: Trigger | str) -> dict[str, Any]:
    return copy.deepcopy(json.loads((EVENTS / f"{trigger}.json").read_text()))


def load_function(directory: Path, name: str, config: dict[str, Any] | None = None) -> ModuleType:
    """The function as it deploys: packaged with `config` embedded, unpacked, imported."""
    folder = directory / f"{name}-{len(list(directory.glob(name + '-*')))}"
    stage(package(name, config), folder)
    return FunctionHost(folder).load(name)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    """An RSA key that signs JWTs, with its JWKS, as Cognito or the local stand-in would publish it."""

    def __init__(
        self, kid: str = "test-key", issuer: str = "https://issuer.example", bits: int = 2048
    ) -> None:
        self.kid, self.issuer = kid, issuer
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    def jwks(self) -> dict[str, Any]:
        numbers = self.key.public_key().public_numbers()
        size = (numbers.n.bit_length() + 7) // 8
        return {
            "keys": [
                {
                    "kty": "RSA",
                    "alg": "RS256",
                    "use": "sig",
                    "kid": self.kid,
                    "n": b64url(numbers.n.to_bytes(size, "big")),
                    "e": b64url(numbers.e.to_bytes(3, "big")),
                }
            ]
        }

    def token(self, header: dict[str, Any] | None = None, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.issuer, "sub": "user-1", "aud": "web", "iat": now, "exp": now + 300, **claims}
        head = {"alg": "RS256", "typ": "JWT", "kid": self.kid, **(header or {})}
        signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(body).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def auth_config(self, **more: Any) -> dict[str, Any]:
        return {"jwks": self.jwks(), "issuer": self.issuer, "audience": ["web"], **more}
