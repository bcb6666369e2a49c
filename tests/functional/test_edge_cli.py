"""`edgeway edge invoke` and `edgeway edge serve` as a user runs them."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner

from cloudfront_edge.emulator.local import EdgeSettings
from edgeway.cli import cli
from tests.edge_support import EVENTS
from tests.fakes.broker import free_port, port_open
from tests.fakes.edge import LoopThread, RunningEdge, TestOrigin
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


def serve_a_folder(tmp_path: Path, stderr: Any) -> tuple[subprocess.Popen[bytes], int]:
    """`edgeway edge serve` in its own process, the origin a folder with one page, stderr to `stderr`."""
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<!doctype html><title>served</title>")
    port = free_port()
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
        stderr=stderr,
        env=os.environ.copy(),
    )
    return serve, port


def test_serve_runs_the_distribution_until_sigterm(tmp_path):
    stderr = tmp_path / "serve.stderr"
    with stderr.open("wb") as err:
        serve, port = serve_a_folder(tmp_path, err)
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


def test_serve_on_a_terminal_logs_lines_for_people(tmp_path):
    terminal, its_end = os.openpty()  # stderr a terminal, as in a shell
    serve, port = serve_a_folder(tmp_path, its_end)
    os.close(its_end)
    shown = bytearray()

    def logged(text: bytes) -> bool:
        while select.select([terminal], [], [], 0)[0]:
            try:
                shown.extend(os.read(terminal, 65536))
            except OSError:  # the other end closed
                break
        return text in shown

    try:
        wait_for(lambda: port_open(port) or serve.poll() is not None, 30, "edge serve to listen")
        assert serve.poll() is None, shown.decode(errors="replace")
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        wait_for(lambda: logged(b"edge-request"), 30, "the request's log line")
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(30) == 0
        os.close(terminal)
    line = next(line for line in shown.decode().splitlines() if "edge-request" in line).strip()
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d INFO    edge-request requestId=\S+ method=GET uri=/ status=200 resultType=Miss "
        r"bytes=\d+ ms=[\d.]+",
        line,
    ), line


def test_serve_refuses_an_unknown_origin(tmp_path):
    result = CliRunner().invoke(cli, ["edge", "serve", "--port", "0", "--origin", f"Nope={tmp_path}"])
    assert result.exit_code == 1
    assert "--origin Nope: the distribution has no such origin (it has ApiOrigin, WebOrigin)" in result.output


# -- a user's own functions -----------------------------------------------------------------------

USER_FUNCTION = """
def lambda_handler(event, context):
    request = event["Records"][0]["cf"]["request"]
    request["headers"]["x-greeting"] = [{"key": "X-Greeting", "value": "hello from " + context.function_name}]
    return request
"""

USER_TEMPLATE = """
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Handler: lambda_function.lambda_handler
      Runtime: python3.12
      Code: {{ZipFile: "# packaged locally"}}
  FnVersion:
    Type: AWS::Lambda::Version
    Properties:
      FunctionName: !Ref Fn
  Distribution:
    Type: AWS::CloudFront::Distribution
    Properties:
      DistributionConfig:
        Origins:
          - Id: Api
            DomainName: 127.0.0.1
            CustomOriginConfig: {{HTTPPort: {port}, OriginProtocolPolicy: http-only}}
        DefaultCacheBehavior:
          TargetOriginId: Api
          LambdaFunctionAssociations:
            - EventType: viewer-request
              LambdaFunctionARN: !Ref FnVersion
"""


def user_functions(tmp_path):
    folder = tmp_path / "my-functions"
    folder.mkdir()
    (folder / "lambda_function.py").write_text(USER_FUNCTION)
    return folder


def test_invoke_runs_a_users_function_with_the_handler_name_aws_examples_use(tmp_path):
    folder = user_functions(tmp_path)
    args = ["edge", "invoke", "lambda_function.lambda_handler", "--functions", str(folder)]
    result = CliRunner().invoke(cli, [*args, "--trigger", "viewer-request"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["result"]["headers"]["x-greeting"][0]["value"] == "hello from lambda_function"


def test_invoke_replays_an_event_file_and_takes_the_trigger_from_it(tmp_path):
    folder = user_functions(tmp_path)
    event = json.loads((EVENTS / "viewer-request.json").read_text())
    event["Records"][0]["cf"]["request"]["uri"] = "/replayed"
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    args = ["edge", "invoke", "lambda_function.lambda_handler", "--functions", str(folder)]
    result = CliRunner().invoke(cli, [*args, "--event", str(path)])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["event"]["Records"][0]["cf"]["request"]["uri"] == "/replayed"
    assert printed["result"]["uri"] == "/replayed" and printed["verdict"].startswith("valid request")


def test_invoke_names_what_is_wrong_with_an_event_file_or_a_function(tmp_path):
    folder = user_functions(tmp_path)
    base = ["edge", "invoke", "lambda_function.lambda_handler", "--functions", str(folder)]
    broken = tmp_path / "broken.json"
    broken.write_text('{"Records": [{"cf": {}}]}')
    result = CliRunner().invoke(cli, [*base, "--event", str(broken)])
    assert result.exit_code == 1 and f"--event {broken}: expected a Lambda@Edge event" in result.output
    response_event = tmp_path / "response.json"
    response_event.write_text((EVENTS / "viewer-response.json").read_text())
    result = CliRunner().invoke(cli, [*base, "--event", str(response_event), "--trigger", "viewer-request"])
    assert result.exit_code == 1 and "is a viewer-response event" in result.output
    result = CliRunner().invoke(
        cli, ["edge", "invoke", "nope", "--functions", str(folder), "--trigger", "viewer-request"]
    )
    assert result.exit_code == 1 and f"no nope.py in {folder}" in result.output
    result = CliRunner().invoke(
        cli, [*base[:2], "lambda_function.missing", "--functions", str(folder), "--trigger", "viewer-request"]
    )
    assert result.exit_code == 1 and "lambda_function.py has no missing(event, context)" in result.output


def test_serve_runs_a_users_distribution_and_functions(tmp_path):
    """`edge serve --config T --functions F`: the user's template, handler names and modules."""
    folder = user_functions(tmp_path)
    origin = RunningOrigin()
    template = tmp_path / "template.yaml"
    template.write_text(USER_TEMPLATE.format(port=origin.port))
    edge = RunningEdge(EdgeSettings(port=0, config=template, functions_dir=folder))
    try:
        echoed = requests.get(edge.url + "/echo", timeout=10).json()
        assert echoed["headers"]["X-Greeting"] == "hello from lambda_function"
    finally:
        edge.close()
        origin.close()


class RunningOrigin:
    """The test origin on a loop thread of its own."""

    def __init__(self) -> None:
        self.loop = LoopThread()
        self.origin = TestOrigin()
        self.loop.run(self.origin.start())
        self.port = self.origin.port

    def close(self) -> None:
        self.loop.run(self.origin.stop())
        self.loop.close()
