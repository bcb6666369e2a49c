"""The IoT custom authorizer: a JWT as the MQTT password becomes the policy for its role.

Event (IoT Core's): {"protocols": ["mqtt"], "protocolData": {"mqtt": {"username", "password": <base64>,
"clientId"}}, "connectionMetadata": {"id"}}. Response: {"isAuthenticated", "principalId",
"disconnectAfterInSeconds", "refreshAfterInSeconds", "policyDocuments": [<json>]}.

The client id a client connects with must be the token's subject, and `${iot:ClientId}` in the role's
policy is bound to it, so a token lets its holder connect only as itself. The policies are the
template's AWS::IoT::Policy documents: fetched by name with iot:GetPolicy in AWS, read from the
template locally.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloud_backend.handlers.tokens import JwksUrlKeys, KeySource, TokenError, verify

log = logging.getLogger("edgeway.authorizer")
REFRESH_SECONDS = 300
DENY: dict[str, Any] = {"isAuthenticated": False}


@dataclass
class AuthorizerConfig:
    keys: KeySource
    issuer: str
    policies: dict[str, str]  # role -> policy document (JSON text with ${iot:ClientId})
    now: Callable[[], float] = field(default=time.time)


def principal_for(role: str, client_id: str) -> str:
    """Alphanumeric as IoT Core requires; starts with the role, so lifecycle consumers can tell."""
    return role + hashlib.sha256(client_id.encode()).hexdigest()[:24]


def _password(event: dict[str, Any]) -> tuple[str, str]:
    mqtt = event.get("protocolData", {}).get("mqtt", {})
    try:
        password = base64.b64decode(mqtt.get("password") or "", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise TokenError("the MQTT password is not a token") from exc
    if not password:
        raise TokenError("no token in the MQTT password")
    return password, str(mqtt.get("clientId", ""))


def handle(config: AuthorizerConfig, event: dict[str, Any]) -> dict[str, Any]:
    try:
        token, client_id = _password(event)
        claims = verify(token, config.keys, config.issuer, config.now())
        if client_id != claims.client_id:
            raise TokenError(f"client id {client_id[:128]!r} is not the token's subject")
    except TokenError as exc:
        log.info("refused a connection", extra={"reason": str(exc)})
        return dict(DENY)
    document = config.policies[claims.role].replace("${iot:ClientId}", claims.client_id)
    remaining = max(0, int(claims.expires - config.now()))
    return {
        "isAuthenticated": True,
        "principalId": principal_for(claims.role, claims.client_id),
        "disconnectAfterInSeconds": max(300, min(remaining, 86400)),
        "refreshAfterInSeconds": REFRESH_SECONDS,
        "policyDocuments": [document],
    }


_config: AuthorizerConfig | None = None
_lock = threading.Lock()


def install(config: AuthorizerConfig | None) -> None:
    global _config
    with _lock:
        _config = config


def _from_environment() -> AuthorizerConfig:
    import boto3

    iot = boto3.client("iot")
    policies = {
        role: json.dumps(json.loads(iot.get_policy(policyName=os.environ[variable])["policyDocument"]))
        for role, variable in (
            ("user", "USER_POLICY"),
            ("device", "DEVICE_POLICY"),
            ("observer", "OBSERVER_POLICY"),
        )
    }
    return AuthorizerConfig(JwksUrlKeys(os.environ["JWKS_URL"]), os.environ["TOKEN_ISSUER"], policies)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _config
    with _lock:
        if _config is None:
            _config = _from_environment()
        config = _config
    return handle(config, event)
