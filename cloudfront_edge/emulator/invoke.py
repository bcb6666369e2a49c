"""One invocation of one function with a CloudFront-built event, and CloudFront's verdict on it: what
`edgeway edge invoke` prints."""

from __future__ import annotations

import copy
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cloudfront_edge.deploy.packaging import FUNCTIONS_DIR, load_configs, package, stage
from cloudfront_edge.emulator import events
from cloudfront_edge.emulator.function_host import FunctionHost
from cloudfront_edge.emulator.messages import Headers, ViewerRequest
from cloudfront_edge.emulator.verdicts import FunctionFailed, judge
from cloudfront_edge.model.distribution import Distribution, Origin
from cloudfront_edge.model.triggers import Trigger

SAMPLE_ORIGIN = Origin("origin", "custom", "origin.example.com", port=443, protocol="https")
SAMPLE_DISTRIBUTION = Distribution(origins={"origin": SAMPLE_ORIGIN}, behaviours=())


@dataclass(frozen=True)
class Verdict:
    event: dict[str, Any]
    result: Any
    status: int  # what CloudFront would answer because of this result: 200 when it is valid
    verdict: str

    def as_json(self) -> dict[str, Any]:
        return {"event": self.event, "result": self.result, "status": self.status, "verdict": self.verdict}


def build_event(
    trigger: Trigger,
    request: ViewerRequest,
    response_status: int = 200,
    response_headers: Headers | None = None,
    request_id: str = "local-invoke-0000000000000000000000000000000000000000000",
) -> dict[str, Any]:
    cf: dict[str, Any] = {
        "config": events.config_object(SAMPLE_DISTRIBUTION, trigger, request_id),
        "request": events.viewer_request_object(request),
    }
    if trigger in (Trigger.ORIGIN_REQUEST, Trigger.ORIGIN_RESPONSE):
        viewer_headers = {"CloudFront-Viewer-Country": "US", "CloudFront-Is-Desktop-Viewer": "true"}
        cf["request"] = events.origin_request_object(cf["request"], SAMPLE_ORIGIN, viewer_headers, request_id)
    if not trigger.is_request:
        headers = response_headers or [("Content-Type", "text/html"), ("Server", "origin")]
        cf["response"] = events.response_object(response_status, "OK", headers)
    return events.event(cf)


async def invoke_once(
    function: str,
    trigger: Trigger,
    event: dict[str, Any],
    function_config: Path | None,
    *,
    source_dir: Path = FUNCTIONS_DIR,
    handler: str = "handler",
) -> Verdict:
    """`function` is a module in `source_dir`; `handler` the function in it that Lambda calls."""
    with tempfile.TemporaryDirectory(prefix="edgeway-invoke-") as folder:
        built = package(function, load_configs(function_config).get(function), {trigger}, source_dir)
        stage(built, Path(folder))
        host = FunctionHost(Path(folder), handlers={function: handler})
        try:
            before = copy.deepcopy(event["Records"][0]["cf"])
            invocation = await host.invoke(function, trigger, copy.deepcopy(event), "local-invoke")
        finally:
            host.close()
    try:
        outcome = judge(function, trigger, before, invocation)
    except FunctionFailed as failed:
        return Verdict(event, _printable(invocation.result), failed.status, failed.message)
    what = "generated response" if outcome.generated else outcome.kind
    return Verdict(event, outcome.value, 200, f"valid {what} ({invocation.elapsed_ms:.3f} ms)")


def _printable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
