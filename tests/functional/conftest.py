"""Fixtures several functional test modules share."""

from __future__ import annotations

import json

import pytest

from cloudfront_edge.emulator.local import EdgeSettings
from tests.edge_support import Issuer
from tests.fakes.edge import RunningEdge


@pytest.fixture
def site(tmp_path):
    """The project's distribution and functions through the local CloudFront, over a small site."""
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>edgeway</title><h1>edgeway</h1>")
    (web / "dash").mkdir()
    (web / "dash" / "index.html").write_text("<!doctype html><title>dash</title>")
    issuer = Issuer()
    config = tmp_path / "function-config"
    config.mkdir()
    (config / "auth.json").write_text(json.dumps(issuer.auth_config()))
    (config / "security_headers.json").write_text(json.dumps({"connectSrc": ["ws://127.0.0.1:8083"]}))
    running = RunningEdge(EdgeSettings(port=0, origins={"WebOrigin": str(web)}, function_config=config))
    running.issuer = issuer
    yield running
    running.close()
