"""The custom authorizer with tokens from the stand-in's identity: the same code IoT Core would call."""

from __future__ import annotations

import base64
import json
import os
import stat

import jwt
import pytest

from cloud_backend.handlers.authorizer import AuthorizerConfig, handle
from cloud_backend.handlers.tokens import JwksKeys
from cloud_backend.local.identity import Identity, load_or_create_key
from cloud_backend.local.policies import role_policies
from edgeway_common import cfn
from tests.backend_support import TEMPLATE

TEMPLATE_DATA = cfn.load_template(TEMPLATE)
POLICIES = role_policies(TEMPLATE_DATA, cfn.LocalResolver(TEMPLATE_DATA))


@pytest.fixture
def identity(tmp_path) -> Identity:
    return Identity(load_or_create_key(tmp_path), now=lambda: 1_700_000_000)


def event(token: str, client_id: str) -> dict:
    password = base64.b64encode(token.encode()).decode()
    return {
        "protocols": ["mqtt"],
        "protocolData": {"mqtt": {"username": "ada", "password": password, "clientId": client_id}},
        "connectionMetadata": {"id": "c-1"},
    }


def config(identity: Identity, now: float = 1_700_000_000) -> AuthorizerConfig:
    return AuthorizerConfig(JwksKeys(identity.jwks()), identity.issuer, POLICIES, now=lambda: now)


def test_a_valid_token_gets_its_roles_policy_bound_to_its_client_id(identity):
    response = handle(config(identity), event(identity.issue("user-abc", "user", "ada"), "user-abc"))
    assert response["isAuthenticated"] is True
    assert response["principalId"].startswith("user") and response["principalId"].isalnum()
    assert response["refreshAfterInSeconds"] == 300
    assert response["disconnectAfterInSeconds"] == 3600
    (document,) = response["policyDocuments"]
    assert "${iot:ClientId}" not in document
    assert "client/user-abc" in document and "chat/in/user-abc" in document
    assert json.loads(document)["Statement"]


def test_the_signing_key_is_owner_only_and_reused(tmp_path):
    first = Identity(load_or_create_key(tmp_path))
    assert stat.S_IMODE(os.stat(tmp_path / "identity-key.pem").st_mode) == 0o600
    assert Identity(load_or_create_key(tmp_path)).key_id == first.key_id
    os.chmod(tmp_path / "identity-key.pem", 0o644)
    with pytest.raises(PermissionError, match="owner only"):
        load_or_create_key(tmp_path)


def forged(identity: Identity, tmp_path) -> str:
    other = Identity(load_or_create_key(tmp_path / "other"), now=identity.now)
    token = other.issue("user-abc", "user", "ada")
    return jwt.encode(
        jwt.decode(token, options={"verify_signature": False}),
        other.key,
        algorithm="RS256",
        headers={"kid": identity.key_id},
    )


@pytest.mark.parametrize(
    "case",
    ["other client id", "expired", "wrong issuer", "forged signature", "not a token", "empty", "bad role"],
)
def test_refused_connections(identity, tmp_path, case):
    token, client_id, now = identity.issue("user-abc", "user", "ada"), "user-abc", 1_700_000_000
    if case == "other client id":
        client_id = "user-xyz"
    elif case == "expired":
        now += 3600 + 31
    elif case == "wrong issuer":
        token = Identity(identity.key, issuer="someone-else", now=identity.now).issue("user-abc", "user", "a")
    elif case == "forged signature":
        token = forged(identity, tmp_path)
    elif case == "not a token":
        token = "hello"
    elif case == "empty":
        token = ""
    elif case == "bad role":
        token = identity.issue("user-abc", "admin", "ada")
    assert handle(config(identity, now), event(token, client_id)) == {"isAuthenticated": False}
