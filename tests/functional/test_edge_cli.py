"""`edgeway edge invoke` and `edgeway edge serve` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import requests
from click.testing import CliRunner

from edgeway.cli import cli
from tests.fakes.broker import free_port, port_open
from tests.waiting import wait_for


def test_invoke_prints_event_result_and_verdict():
    result = CliRunner().invoke(
        cli,
        [
            "edge",
            "invoke",
            "enrich_request",
            "--trigger",
            "viewer-request",
            "--uri",
            "/room/lobby",
            "--querystring",
            "utm_source=x&b=1",
            "--header",
            "User-Agent: Mozilla/5.0 (iPad)",
        ],
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["event"]["Records"][0]["cf"]["config"]["eventType"] == "viewer-request"
    assert printed["result"]["uri"] == "/index.html" and printed["result"]["querystring"] == "b=1"
    assert printed["result"]["headers"]["x-device-class"][0]["value"] == "tablet"
    assert printed["status"] == 200 and printed["verdict"].startswith("valid request")


def test_invoke_a_generated_response():
    result = CliRunner().invoke(
        cli, ["edge", "invoke", "auth", "--trigger", "viewer-request", "--uri", "/api/rooms"]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["result"]["status"] == "401" and printed["verdict"].startswith("valid generated response")


def test_invoke_bad_header_argument_is_named():
    result = CliRunner().invoke(
        cli, ["edge", "invoke", "auth", "--trigger", "viewer-request", "--header", "nocolon"]
    )
    assert result.exit_code == 1 and "--header 'nocolon': use NAME:VALUE" in result.output


def test_serve_runs_the_distribution_until_sigterm(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>served</title>")
    port = free_port()
    stderr = tmp_path / "serve.stderr"
    with stderr.open("wb") as err:
        serve = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edgeway",
                "edge",
                "serve",
                "--port",
                str(port),
                "--origin",
                f"WebOrigin={web}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=os.environ.copy(),
        )
    try:
        wait_for(lambda: port_open(port) or serve.poll() is not None, 30, "edge serve to listen")
        assert serve.poll() is None, stderr.read_text()
        response = requests.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert response.status_code == 200 and "<title>served</title>" in response.text
        assert response.headers["X-Frame-Options"] == "DENY"
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0
    access = [json.loads(line) for line in stderr.read_text().splitlines() if line.startswith("{")]
    assert access[-1]["event"] == "edge-request" and access[-1]["uri"] == "/" and access[-1]["status"] == 200


def test_serve_refuses_an_unknown_origin(tmp_path):
    result = CliRunner().invoke(cli, ["edge", "serve", "--port", "0", "--origin", f"Nope={tmp_path}"])
    assert result.exit_code == 1
    assert "--origin Nope: the distribution has no such origin (it has WebOrigin)" in result.output
