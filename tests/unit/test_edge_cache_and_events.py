"""The cache's TTL rules with a fake clock, path patterns, and events built in the samples' shape."""

from __future__ import annotations

import pytest

from cloudfront_edge.emulator import events
from cloudfront_edge.emulator.cache import ResponseCache, ttl_for
from cloudfront_edge.emulator.gateway import bad_request
from cloudfront_edge.emulator.messages import ViewerRequest
from cloudfront_edge.model.distribution import (
    MAX_REMEMBERED_PATHS,
    Behaviour,
    Distribution,
    Origin,
    load_distribution,
)
from cloudfront_edge.model.triggers import Trigger
from tests.edge_support import sample_event

BEHAVIOUR = Behaviour("*", "web", min_ttl=5, default_ttl=300, max_ttl=3600)


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (200, [], 300),
        (200, [("Cache-Control", "max-age=60")], 60),
        (200, [("Cache-Control", "public, max-age=60, s-maxage=120")], 120),
        (200, [("Cache-Control", "max-age=1")], 5),  # MinTTL wins
        (200, [("Cache-Control", "max-age=999999")], 3600),  # MaxTTL wins
        (200, [("Cache-Control", "no-store")], 5),  # MinTTL > 0 still caches, as CloudFront does
        (200, [("Expires", "Thu, 01 Jan 1970 00:00:00 GMT")], 5),
        (404, [], 10),  # error caching minimum TTL
        (404, [("Cache-Control", "no-store")], 0),
        (302, [], 0),
        (206, [("Cache-Control", "max-age=30")], 30),
    ],
)
def test_ttl_rules(status, headers, expected):
    assert ttl_for(status, headers, BEHAVIOUR) == expected


def test_no_store_with_zero_min_ttl_is_not_cached():
    assert ttl_for(200, [("Cache-Control", "private")], Behaviour("*", "web")) == 0


def test_cache_expires_by_clock_and_reports_age():
    now = [1000.0]
    cache = ResponseCache(clock=lambda: now[0], max_bytes=100)
    cache.put(("k",), 200, "OK", [("Age", "7"), ("Content-Type", "text/plain")], b"hello", ttl=60)
    now[0] += 30
    entry, age = cache.get(("k",)) or (None, None)
    assert entry is not None and entry.body == b"hello" and age == 37
    assert ("Age", "7") not in entry.headers
    now[0] += 30
    assert cache.get(("k",)) is None


def test_cache_is_bounded_in_bytes_least_recently_used_first():
    cache = ResponseCache(clock=lambda: 0.0, max_bytes=10)
    cache.put(("a",), 200, "OK", [], b"12345", 60)
    cache.put(("b",), 200, "OK", [], b"12345", 60)
    assert cache.get(("a",)) is not None  # a is now the most recent
    cache.put(("c",), 200, "OK", [], b"12345", 60)
    assert cache.get(("b",)) is None and cache.get(("a",)) is not None and len(cache) == 2


@pytest.mark.parametrize(
    ("pattern", "uri", "matches"),
    [
        ("/dash/*", "/dash/x", True),
        ("/dash/*", "/dashboard", False),
        ("dash/*", "/dash/a/b", True),
        ("*.jpg", "/a/b.jpg", True),
        ("/img?.png", "/img1.png", True),
        ("/img?.png", "/img10.png", False),
        ("/API/*", "/api/x", False),
        ("*", "/anything", True),
    ],
)
def test_path_patterns(pattern, uri, matches):
    assert Behaviour(pattern, "web").matches(uri) is matches


def test_project_distribution_is_read_from_its_template():
    distribution = load_distribution()
    assert [b.path_pattern for b in distribution.behaviours] == ["/api/*", "/.well-known/*", "/dash/*", "*"]
    assert distribution.behaviour_for("/api/session").origin_id == "ApiOrigin"
    assert distribution.behaviour_for("/dash/x").associations[Trigger.VIEWER_REQUEST].function == "auth"
    default = distribution.behaviour_for("/room/lobby")
    assert {t: a.function for t, a in default.associations.items()} == {
        Trigger.VIEWER_REQUEST: "enrich_request",
        Trigger.ORIGIN_REQUEST: "enrich_origin",
        Trigger.VIEWER_RESPONSE: "security_headers",
    }


def test_a_remembered_behaviour_is_the_one_the_patterns_choose_and_the_memory_is_bounded():
    distribution = load_distribution()
    uris = ["/api/session", "/dash/x", "/room/lobby", "/.well-known/jwks.json", "/", "/api"]
    uris += [f"/dash/{n}" for n in range(MAX_REMEMBERED_PATHS + 10)]
    for _ in range(2):  # asked anew, then remembered (and forgotten past the bound)
        for uri in uris:
            chosen = next((b for b in distribution.behaviours if b.matches(uri)), distribution.behaviours[-1])
            assert distribution.behaviour_for(uri) is chosen
    assert len(distribution._behaviour_of) <= MAX_REMEMBERED_PATHS


@pytest.mark.parametrize(
    ("uri", "refused"),
    [
        ("/a%00b", True),
        ("/a%1Fb", True),
        ("/a%7fb", True),
        ("/a\x7fb", True),
        ("/caf\u00e9%0A", True),  # not ASCII, with a control character: the full check
        ("/caf\u00e9", False),  # not ASCII, no control character
        ("/a\u00a0b", False),  # a no-break space: not printable to Python, not a control character
        ("/a b", False),
        ("/a%20b", False),
        ("/index.html", False),
    ],
)
def test_a_path_with_a_control_character_is_refused_whatever_else_it_holds(uri, refused):
    found = bad_request(ViewerRequest("GET", uri, "", [], "192.0.2.1", b""))
    assert (found is not None and found[0] == 400) is refused


def shape(value):
    """Keys and value types, recursively: what a function can rely on."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


def test_built_events_have_the_samples_shape():
    origin = Origin("web", "custom", "example.org")
    distribution = Distribution(origins={"web": origin}, behaviours=())
    request = ViewerRequest(
        "GET",
        "/room/lobby",
        "a=1",
        [("Host", "d.cloudfront.net"), ("Connection", "keep-alive")],
        "203.0.113.1",
    )
    viewer = events.viewer_request_object(request)
    assert "connection" not in viewer["headers"]  # disallowed headers are never exposed
    built = {"config": events.config_object(distribution, Trigger.VIEWER_REQUEST, "r"), "request": viewer}
    sample = sample_event(Trigger.VIEWER_REQUEST)["Records"][0]["cf"]
    assert shape(built)["config"] == shape(sample)["config"]
    assert set(built["request"]) == set(sample["request"])
    origin_side = events.origin_request_object(viewer, origin, {"CloudFront-Viewer-Country": "DE"}, "r")
    origin_side["body"] = events.body_object(b'{"nick": "ada"}', Trigger.ORIGIN_REQUEST)
    origin_sample = sample_event(Trigger.ORIGIN_REQUEST)["Records"][0]["cf"]["request"]
    assert shape(origin_side)["origin"] == shape(origin_sample)["origin"]
    assert shape(origin_side)["body"] == shape(origin_sample)["body"]
    assert set(origin_side) == set(origin_sample)
    response = events.response_object(200, "OK", [("Content-Type", "text/html")])
    assert set(response) == set(sample_event(Trigger.ORIGIN_RESPONSE)["Records"][0]["cf"]["response"])
    assert response["status"] == "200"


def test_body_object_truncates_at_the_trigger_limit():
    body = events.body_object(b"x" * (40 * 1024 + 1), Trigger.VIEWER_REQUEST)
    assert body["inputTruncated"] is True


@pytest.mark.parametrize(
    ("trigger", "viewer", "request_side", "timeout", "limit"),
    [
        (Trigger.VIEWER_REQUEST, True, True, 5.0, 40 * 1024),
        (Trigger.ORIGIN_REQUEST, False, True, 30.0, 1024 * 1024),
        (Trigger.ORIGIN_RESPONSE, False, False, 30.0, 1024 * 1024),
        (Trigger.VIEWER_RESPONSE, True, False, 5.0, 40 * 1024),
    ],
)
def test_each_event_type_has_lambda_at_edge_quotas(trigger, viewer, request_side, timeout, limit):
    """Lambda@Edge's quotas: 5 s and 40 KB generated responses for viewer triggers, 30 s and 1 MB for
    origin triggers; the request triggers are judged on the request, the others on the response."""
    assert Trigger(trigger.value) is trigger
    assert (trigger.is_viewer, trigger.is_request) == (viewer, request_side)
    assert (trigger.timeout_s, trigger.generated_response_limit) == (timeout, limit)
