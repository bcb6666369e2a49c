"""Property: for any request CloudFront could send, every function's result passes CloudFront's checks."""

from __future__ import annotations

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudfront_edge.emulator import events
from cloudfront_edge.emulator.messages import ViewerRequest
from cloudfront_edge.emulator.validation import is_disallowed, validate
from cloudfront_edge.model.distribution import Distribution, Origin
from cloudfront_edge.model.triggers import Trigger
from tests.edge_support import Issuer, load_function

TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
VALUE_CHARS = st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f")
PATH_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@"
QUERY_CHARS = PATH_CHARS + "/?"
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0",
    "Googlebot/2.1",
    "",
]
ORIGINS = [
    Origin("web", "s3", "web.s3.us-east-1.amazonaws.com"),
    Origin("api", "custom", "api.example.org", port=443, protocol="https"),
]
DISTRIBUTION = Distribution(origins={o.id: o for o in ORIGINS}, behaviours=())

header_names = st.text(TOKEN_CHARS, min_size=1, max_size=20).filter(lambda n: not is_disallowed(n))
segments = st.lists(st.text(PATH_CHARS, min_size=1, max_size=12), max_size=5)
uris = st.one_of(
    segments.map(lambda parts: "/" + "/".join(parts)),
    segments.map(lambda parts: "/" + "/".join(parts) + "/"),
    st.text(PATH_CHARS, min_size=1, max_size=20).map(lambda name: f"/room/{name}"),
    st.sampled_from(["/", "/api/session", "/api/rooms", "/dash/", "/dash/x", "/index.html"]),
)
pairs = st.tuples(
    st.one_of(
        st.sampled_from(["utm_source", "utm_x", "fbclid", "gclid", "a", "b", "q"]),
        st.text(QUERY_CHARS.replace("&", "").replace("=", ""), max_size=8),
    ),
    st.text(QUERY_CHARS.replace("&", ""), max_size=8),
)
querystrings = st.lists(pairs, max_size=6).map(lambda ps: "&".join(f"{k}={v}" for k, v in ps))


@st.composite
def viewer_requests(draw: st.DrawFn) -> ViewerRequest:
    headers = [("Host", "d111111abcdef8.cloudfront.net"), ("User-Agent", draw(st.sampled_from(USER_AGENTS)))]
    for _ in range(draw(st.integers(0, 6))):
        headers.append((draw(header_names), draw(st.text(VALUE_CHARS, max_size=40))))
    if draw(st.booleans()):
        headers.append(("Cookie", draw(st.sampled_from(["ab=A", "ab=B", "ab=Z; token=x.y.z", "theme=dark"]))))
    return ViewerRequest(
        method=draw(st.sampled_from(["GET", "HEAD", "POST", "OPTIONS", "PUT", "DELETE", "PATCH"])),
        uri=draw(uris),
        querystring=draw(querystrings),
        headers=headers,
        client_ip=draw(st.sampled_from(["203.0.113.9", "2001:db8::1", "127.0.0.1"])),
    )


@pytest.fixture(scope="module")
def functions(tmp_path_factory):
    folder = tmp_path_factory.mktemp("edge-functions")
    issuer = Issuer()
    config = {"blockCountries": ["KP"], "routeCountries": {"DE": {"domainName": "eu.example.org"}}}
    return {
        "enrich_request": load_function(folder, "enrich_request"),
        "auth": load_function(folder, "auth", issuer.auth_config()),
        "enrich_origin": load_function(folder, "enrich_origin", config),
        "security_headers": load_function(folder, "security_headers", {"connectSrc": ["wss://x.example"]}),
        "issuer": issuer,
    }


def check(module, trigger: Trigger, cf):
    before = copy.deepcopy(cf)
    result = module.handler(events.event(cf), None)
    return validate(trigger, before, result)


def viewer_cf(request: ViewerRequest, trigger: Trigger):
    return {
        "config": events.config_object(DISTRIBUTION, trigger, "req-1"),
        "request": events.viewer_request_object(request),
    }


PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(request=viewer_requests(), with_token=st.sampled_from(["none", "valid", "garbage"]))
def test_viewer_request_functions_always_pass(functions, request, with_token):
    check(functions["enrich_request"], Trigger.VIEWER_REQUEST, viewer_cf(request, Trigger.VIEWER_REQUEST))
    if with_token == "valid":
        request.headers.append(("Authorization", "Bearer " + functions["issuer"].token()))
    elif with_token == "garbage":
        request.headers.append(("Authorization", "Bearer a.b.c"))
    check(functions["auth"], Trigger.VIEWER_REQUEST, viewer_cf(request, Trigger.VIEWER_REQUEST))


@PROPERTY
@given(
    request=viewer_requests(),
    origin=st.sampled_from(ORIGINS),
    country=st.sampled_from(["US", "DE", "KP", "FR"]),
    device=st.sampled_from(["mobile", "tablet", "desktop", "smarttv"]),
)
def test_origin_request_function_always_passes(functions, request, origin, country, device):
    viewer_headers = {"CloudFront-Viewer-Country": country, "CloudFront-Forwarded-Proto": "https"}
    for kind in ("mobile", "tablet", "desktop", "smarttv"):
        viewer_headers[f"CloudFront-Is-{kind.title().replace('tv', 'TV')}-Viewer"] = str(
            kind == device
        ).lower()
    cf_request = events.origin_request_object(
        events.viewer_request_object(request), origin, viewer_headers, "req-1"
    )
    cf = {
        "config": events.config_object(DISTRIBUTION, Trigger.ORIGIN_REQUEST, "req-1"),
        "request": cf_request,
    }
    check(functions["enrich_origin"], Trigger.ORIGIN_REQUEST, cf)


@PROPERTY
@given(
    request=viewer_requests(),
    trigger=st.sampled_from([Trigger.ORIGIN_RESPONSE, Trigger.VIEWER_RESPONSE]),
    status=st.sampled_from([200, 204, 301, 304, 404, 500]),
    response_headers=st.lists(st.tuples(header_names, st.text(VALUE_CHARS, max_size=30)), max_size=6),
    chosen=st.sampled_from([None, "A", "B"]),
)
def test_response_function_always_passes(functions, request, trigger, status, response_headers, chosen):
    cf_request = events.viewer_request_object(request)
    if chosen:
        cf_request["headers"]["x-ab-set"] = [{"key": "X-Ab-Set", "value": chosen}]
    headers = [("Server", "AmazonS3"), ("X-Powered-By", "PHP"), *response_headers]
    cf = {
        "config": events.config_object(DISTRIBUTION, trigger, "req-1"),
        "request": cf_request,
        "response": events.response_object(status, "OK", headers),
    }
    outcome = check(functions["security_headers"], trigger, cf)
    assert "content-security-policy" in outcome.value["headers"]
