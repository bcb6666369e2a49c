"""Real HTTP through the local CloudFront to a real origin: trigger order and skip rules, the cache,
CloudFront's verdicts on bad functions, streaming, and the project's own functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from cloudfront_edge.emulator.local import EdgeSettings
from cloudfront_edge.model.triggers import Trigger
from tests.fakes.edge import RunningEdge, TestOrigin

TEST_FUNCTIONS = Path(__file__).parents[1] / "edge_test_functions"


@pytest.fixture
def pipeline(tmp_path):
    log = tmp_path / "invocations.jsonl"
    log.touch()
    config = tmp_path / "function-config"
    config.mkdir()
    (config / "counter.json").write_text(json.dumps({"log": str(log)}))
    settings = EdgeSettings(
        port=0,
        config=TEST_FUNCTIONS / "pipeline.yaml",
        function_config=config,
        functions_dir=TEST_FUNCTIONS,
        timeouts={Trigger.VIEWER_REQUEST: 0.3},
    )
    running = RunningEdge(settings, TestOrigin())
    running.invocations = lambda: [tuple(json.loads(line)) for line in log.read_text().splitlines()]
    yield running
    running.close()


def get(edge, path, **kwargs):
    return requests.get(edge.url + path, timeout=10, allow_redirects=False, **kwargs)


def test_origin_triggers_run_only_on_a_miss(pipeline):
    first, second = get(pipeline, "/cache/60"), get(pipeline, "/cache/60")
    assert (first.status_code, first.text, second.text) == (200, "cached for 60", "cached for 60")
    assert (
        first.headers["X-Cache"] == "Miss from cloudfront"
        and second.headers["X-Cache"] == "Hit from cloudfront"
    )
    assert "Age" in second.headers and "Age" not in first.headers
    assert pipeline.origin.hits["/cache/60"] == 1
    assert pipeline.invocations() == [
        ("origin-request", "/cache/60"),
        ("origin-response", "/cache/60"),
        ("viewer-response", "/cache/60"),
        ("viewer-response", "/cache/60"),
    ]
    assert first.headers["X-Amz-Cf-Id"] != second.headers["X-Amz-Cf-Id"]


def test_no_store_is_never_served_from_cache(pipeline):
    for _ in range(3):
        assert get(pipeline, "/nostore").headers["X-Cache"] == "Miss from cloudfront"
    assert pipeline.origin.hits["/nostore"] == 3


def test_viewer_response_skipped_for_origin_errors(pipeline):
    response = get(pipeline, "/error")
    assert response.status_code == 500 and response.text == "origin failed"
    assert pipeline.invocations() == [("origin-request", "/error"), ("origin-response", "/error")]


def test_response_generated_at_origin_request_is_cached_and_skips_origin_response(pipeline):
    first, second = get(pipeline, "/gen/a"), get(pipeline, "/gen/a")
    assert first.text == second.text == "generated at origin-request"
    assert second.headers["X-Cache"] == "Hit from cloudfront"
    assert pipeline.origin.hits["/gen/a"] == 0
    assert pipeline.invocations() == [("viewer-response", "/gen/a"), ("viewer-response", "/gen/a")]


def test_response_generated_at_viewer_request_skips_viewer_response(pipeline):
    response = get(pipeline, "/vgen/a")
    assert response.text == "generated at viewer-request"
    assert response.headers["X-Cache"] == "LambdaGeneratedResponse from cloudfront"
    assert pipeline.invocations() == [] and pipeline.origin.hits["/vgen/a"] == 0


def test_invalid_result_is_a_502_that_names_the_rule_and_the_header(pipeline):
    response = get(pipeline, "/fail/connection/cache/60")
    assert response.status_code == 502
    assert "rule: disallowed-header, header connection" in response.text
    assert "adds_connection (origin-response)" in response.text
    logged = pipeline.log_for(response.headers["X-Amz-Cf-Id"])
    assert logged["resultType"] == "LambdaValidationError"
    assert logged["detail"] == "rule=disallowed-header header=connection function=adds_connection"


def test_none_returned_is_a_502(pipeline):
    response = get(pipeline, "/fail/none/x")
    assert response.status_code == 502 and "rule: not-an-object" in response.text
    assert "is a `return` missing?" in response.text


def test_exception_is_a_500_and_timeout_a_503_and_others_are_still_served(pipeline):
    raised = get(pipeline, "/fail/raise/x")
    assert raised.status_code == 500 and "KeyError: 'cookie'" in raised.text
    assert pipeline.log_for(raised.headers["X-Amz-Cf-Id"])["resultType"] == "LambdaExecutionError"
    slow = get(pipeline, "/fail/slow/x")
    assert slow.status_code == 503 and "timed out" in slow.text
    assert get(pipeline, "/cache/5").status_code == 200


def test_a_method_the_behaviour_does_not_allow_is_refused(pipeline):
    response = requests.post(pipeline.url + "/gen/x", data=b"x", timeout=10)
    assert response.status_code == 403 and "POST" in response.text
    assert get(pipeline, "/cache/7").status_code == 200


def test_large_bodies_stream_through_unchanged(pipeline):
    with requests.get(pipeline.url + "/big", stream=True, timeout=30) as response:
        chunks = list(response.iter_content(65536))
    body = b"".join(chunks)
    assert len(body) == 48 * 65536 and body[-1] == 47 and body[:3] == b"\x00\x00\x00"


def test_origin_sees_cloudfront_headers_and_the_request_body(pipeline):
    response = requests.post(pipeline.url + "/echo?b=1", data=b'{"x": 1}', timeout=10)
    seen = response.json()
    assert seen["body"] == '{"x": 1}' and seen["path"] == "/echo?b=1"
    assert seen["headers"]["Host"] == "api.example.org"
    assert seen["headers"]["X-Amz-Cf-Id"] == response.headers["X-Amz-Cf-Id"]
    assert seen["headers"]["Via"].endswith(".cloudfront.net (CloudFront)")
    assert seen["headers"]["CloudFront-Viewer-Country"] == "US"


def test_an_unreachable_origin_is_a_502_and_the_emulator_keeps_serving(tmp_path):
    settings = EdgeSettings(port=0, origins={"WebOrigin": "http://127.0.0.1:9"})
    running = RunningEdge(settings)
    try:
        response = get(running, "/index.html")
        assert response.status_code == 502 and "wasn't able to connect to the origin" in response.text
        assert response.headers["X-Cache"] == "Error from cloudfront"
        assert get(running, "/dash/").status_code == 302
    finally:
        running.close()


# -- the project's distribution and functions ---------------------------------------------------


def test_spa_route_and_query_normalisation_share_one_cache_entry(site):
    first = get(site, "/room/lobby?utm_source=mail&b=2&a=1")
    second = get(site, "/room/kitchen/?a=1&b=2&fbclid=xyz")
    assert first.status_code == second.status_code == 200
    assert "<h1>edgeway</h1>" in first.text
    assert first.headers["X-Cache"] == "Miss from cloudfront"
    assert get(site, "/?a=1&b=2").headers["X-Cache"] == "Hit from cloudfront"  # "/" is the index page too
    assert "Server" not in first.headers and "X-Powered-By" not in first.headers
    assert first.headers["Set-Cookie"].startswith("ab=")


def test_protected_pages_redirect_to_login_until_signed_in(site):
    refused = get(site, "/dash/")
    assert refused.status_code == 302 and refused.headers["Location"] == "/login?next=%2Fdash%2F"
    assert refused.headers["X-Cache"] == "LambdaGeneratedResponse from cloudfront"
    signed_in = get(site, "/dash/", cookies={"token": site.issuer.token()})
    assert signed_in.status_code == 200 and "<title>dash</title>" in signed_in.text
    assert "Content-Security-Policy" in signed_in.headers


def test_security_headers_score_a_plus_on_the_observatory_rules(site):
    from cloudfront_edge.model.distribution import load_distribution
    from tests.observatory import score

    template = load_distribution().source
    redirects = "ViewerProtocolPolicy: redirect-to-https" in Path(template).read_text()
    response = get(site, "/room/lobby")
    cookies = response.raw.headers.getlist("Set-Cookie")
    report = score(dict(response.headers), cookies, response.text, redirects)
    assert report.grade == "A+", report.results
    assert report.score >= 110, report.results
    bare = score({"Content-Type": "text/html"}, ["sid=1"], response.text, redirects)
    assert bare.grade == "F"  # the scorer does fail what it should


def test_on_the_main_thread_an_overrunning_function_is_interrupted_at_its_limit(tmp_path):
    """`edgeway edge serve` runs functions inline on the main thread; the alarm stops a slow one."""
    import asyncio
    import time

    from cloudfront_edge.deploy.packaging import package, stage
    from cloudfront_edge.emulator.function_host import FunctionHost

    folder = stage(package("sleeps", source_dir=TEST_FUNCTIONS), tmp_path / "staged")
    host = FunctionHost(folder, timeouts={Trigger.VIEWER_REQUEST: 0.2})
    started = time.monotonic()
    invocation = asyncio.run(host.invoke("sleeps", Trigger.VIEWER_REQUEST, {"Records": []}, "r"))
    assert invocation.kind == "timeout" and "ran longer than 0.2 s" in invocation.error
    assert time.monotonic() - started < 1.0  # interrupted, not waited out (the function sleeps 1.5 s)
    ok = asyncio.run(
        host.invoke("sleeps", Trigger.ORIGIN_REQUEST, {"Records": [{"cf": {"request": {"uri": "/"}}}]}, "r")
    )
    assert ok.kind == "ok" and ok.result == {"uri": "/"}
    host.close()


def test_on_the_main_thread_an_alarm_left_by_an_earlier_call_stops_nothing(tmp_path):
    """The timer is not cleared after a call (one system call less per invocation): when it goes off
    between calls nothing is disturbed, and an alarm arriving during a call that still has time left
    does not stop it."""
    import asyncio
    import signal
    import time

    from cloudfront_edge.deploy.packaging import package, stage
    from cloudfront_edge.emulator.function_host import FunctionHost

    folder = stage(package("stray_alarm", source_dir=TEST_FUNCTIONS), tmp_path / "staged")
    host = FunctionHost(folder, timeouts={Trigger.VIEWER_REQUEST: 0.2})
    event = {"Records": [{"cf": {"request": {"uri": "/"}}}]}
    first = asyncio.run(host.invoke("stray_alarm", Trigger.VIEWER_REQUEST, event, "r1"))
    assert first.kind == "ok" and first.result["total"] == 499500
    deadline = time.monotonic() + 10
    while signal.getitimer(signal.ITIMER_REAL) != (0.0, 0.0):  # the first call's timer goes off, idle
        assert time.monotonic() < deadline, "the timer never went off"
        time.sleep(0.01)
    second = asyncio.run(host.invoke("stray_alarm", Trigger.VIEWER_REQUEST, event, "r2"))
    assert second.kind == "ok", second.error
    host.close()


def test_on_the_main_thread_calls_share_a_timer_and_each_stops_at_its_own_limit(tmp_path):
    """Calls within a limit share one timer: a call whose deadline comes before the alarm already due
    sets it earlier, and one whose deadline comes after it is not stopped by it but at its own limit."""
    import asyncio
    import time

    from cloudfront_edge.deploy.packaging import package, stage
    from cloudfront_edge.emulator.function_host import FunctionHost

    staged = tmp_path / "staged"
    stage(package("returns_none", source_dir=TEST_FUNCTIONS), staged)
    folder = stage(package("sleeps", source_dir=TEST_FUNCTIONS), staged)
    limits = {Trigger.VIEWER_REQUEST: 0.3, Trigger.ORIGIN_REQUEST: 0.8, Trigger.ORIGIN_RESPONSE: 30.0}
    host = FunctionHost(folder, timeouts=limits)
    event = {"Records": [{"cf": {"request": {"uri": "/"}}}]}

    def timed(name: str, trigger: Trigger) -> tuple[str, float]:
        started = time.monotonic()
        invocation = asyncio.run(host.invoke(name, trigger, event, "r"))
        return invocation.kind, time.monotonic() - started

    assert timed("returns_none", Trigger.ORIGIN_RESPONSE)[0] == "ok"  # an alarm due in 30 s
    kind, took = timed("sleeps", Trigger.VIEWER_REQUEST)
    assert kind == "timeout" and took < 1.0  # its 0.3 s, not the 30 s alarm nor the 1.5 s sleep
    assert timed("returns_none", Trigger.VIEWER_REQUEST)[0] == "ok"  # an alarm due in 0.3 s
    kind, took = timed("sleeps", Trigger.ORIGIN_REQUEST)
    assert kind == "timeout" and took >= 0.8 - 0.01  # not stopped by the 0.3 s alarm, but at 0.8 s
    host.close()
