"""Microseconds per invocation of each Lambda@Edge function, and its cold import time.

Each function is packaged and loaded as it deploys (zip, configuration embedded). Invocations run on fresh
copies of a representative CloudFront event, made outside the timed region, in batches of 1,000, for
--calls calls in all. Import time is measured in fresh interpreters (median of 5). Prints JSON.

    python bench/edge_functions.py [--calls 100000]

Goals: headers and enrichment <= 50 us, JWT verification <= 300 us, import <= 30 ms.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine
from cloudfront_edge.deploy.packaging import package, stage
from cloudfront_edge.emulator import events
from cloudfront_edge.emulator.function_host import FunctionHost
from cloudfront_edge.emulator.messages import ViewerRequest
from cloudfront_edge.model.distribution import Distribution, Origin
from cloudfront_edge.model.triggers import Trigger

BATCH = 1000
UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
ORIGIN = Origin("web", "custom", "origin.example.org")
DISTRIBUTION = Distribution(origins={"web": ORIGIN}, behaviours=())
IMPORT_PROBE = """
import importlib.util, sys, time
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("probe", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print((time.perf_counter() - started) * 1000)
"""


def viewer_request(extra: list[tuple[str, str]]) -> ViewerRequest:
    headers = [
        ("Host", "d111111abcdef8.cloudfront.net"),
        ("User-Agent", UA),
        ("Accept", "text/html"),
        ("Accept-Language", "en-GB"),
        ("Cookie", "theme=dark"),
        *extra,
    ]
    return ViewerRequest("GET", "/room/lobby", "utm_source=mail&b=2&a=1&fbclid=x", headers, "203.0.113.7")


def cf_for(trigger: Trigger, request: ViewerRequest) -> dict[str, Any]:
    cf: dict[str, Any] = {
        "config": events.config_object(DISTRIBUTION, trigger, "bench"),
        "request": events.viewer_request_object(request),
    }
    if trigger is Trigger.ORIGIN_REQUEST:
        viewer = {"CloudFront-Viewer-Country": "DE", "CloudFront-Is-Mobile-Viewer": "true"}
        cf["request"] = events.origin_request_object(cf["request"], ORIGIN, viewer, "bench")
    if not trigger.is_request:
        headers = [("Content-Type", "text/html"), ("Content-Length", "9593"), ("Server", "AmazonS3")]
        cf["response"] = events.response_object(200, "OK", headers)
    return events.event(cf)


def per_call_us(handler: Any, event: dict[str, Any], calls: int) -> float:
    total = 0.0
    done = 0
    while done < calls:
        batch = [copy.deepcopy(event) for _ in range(min(BATCH, calls - done))]
        started = time.perf_counter()
        for item in batch:
            handler(item, None)
        total += time.perf_counter() - started
        done += len(batch)
    return total / calls * 1e6


def import_ms(path: Path) -> float:
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", IMPORT_PROBE, str(path)], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(5)
    ]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args()
    from tests.edge_support import Issuer  # a signing key and its JWKS, as the stand-in publishes them

    issuer = Issuer()
    token = issuer.token()
    cases = [
        ("security_headers", Trigger.VIEWER_RESPONSE, {"connectSrc": ["wss://iot.example.com"]}, []),
        ("enrich_request", Trigger.VIEWER_REQUEST, None, []),
        ("enrich_origin", Trigger.ORIGIN_REQUEST, {"blockCountries": ["KP"]}, []),
        (
            "auth",
            Trigger.VIEWER_REQUEST,
            issuer.auth_config(protected=["/"], public=[]),
            [("Authorization", f"Bearer {token}")],
        ),
    ]
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, trigger, config, extra in cases:
            staged = stage(package(name, config, {trigger}), Path(folder) / name)
            module = FunctionHost(staged).load(name)
            event = cf_for(trigger, viewer_request(extra))
            result = module.handler(copy.deepcopy(event), None)
            assert not trigger.is_request or "status" not in result, f"{name} refused the request: {result}"
            results[name] = {
                "trigger": str(trigger),
                "us_per_call": round(per_call_us(module.handler, event, args.calls), 2),
                "calls": args.calls,
                "cold_import_ms": round(import_ms(staged / f"{name}.py"), 2),
            }
        auth = FunctionHost(Path(folder) / "auth").load("auth")
        started = time.perf_counter()
        verifications = min(args.calls, 20_000)
        for _ in range(verifications):
            auth.verify(token)
        results["auth"]["jwt_verify_us"] = round((time.perf_counter() - started) / verifications * 1e6, 2)
    goals = {
        "headers_and_enrichment_us": 50,
        "jwt_verify_us": 300,
        "import_ms": 30,
    }
    met = {
        "headers_and_enrichment": all(
            results[n]["us_per_call"] <= 50 for n in ("security_headers", "enrich_request", "enrich_origin")
        ),
        "jwt_verify": results["auth"]["us_per_call"] <= 300,
        "import": all(r["cold_import_ms"] <= 30 for r in results.values()),
    }
    print(
        json.dumps(
            {
                "benchmark": "edge_functions",
                "machine": machine(),
                "functions": results,
                "goals": goals,
                "met": met,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
