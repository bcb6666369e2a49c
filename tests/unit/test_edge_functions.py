"""The Lambda@Edge functions on CloudFront's sample events, each loaded as it deploys."""

from __future__ import annotations

import json

import pytest

from cloudfront_edge.emulator.validation import validate
from cloudfront_edge.model.triggers import Trigger
from tests.edge_support import Issuer, load_function, sample_event


def run(module, trigger: Trigger, event):
    before = json.loads(json.dumps(event["Records"][0]["cf"]))
    result = module.handler(event, None)
    validate(trigger, before, result)  # every result here must also pass CloudFront's checks
    return result


def values(headers, name):
    return [entry["value"] for entry in headers.get(name, [])]


# -- security_headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("trigger", [Trigger.ORIGIN_RESPONSE, Trigger.VIEWER_RESPONSE])
def test_security_headers_set_and_server_removed(tmp_path, trigger):
    module = load_function(tmp_path, "security_headers", {"connectSrc": ["wss://iot.example.com"]})
    headers = run(module, trigger, sample_event(trigger))["headers"]
    assert values(headers, "strict-transport-security") == ["max-age=63072000; includeSubDomains"]
    csp = values(headers, "content-security-policy")[0]
    directives = {part.split()[0]: part.split()[1:] for part in csp.split("; ")}
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives["connect-src"] == ["'self'", "wss://iot.example.com"]
    assert directives["frame-ancestors"] == ["'none'"] and directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"] and directives["form-action"] == ["'self'"]
    assert values(headers, "x-content-type-options") == ["nosniff"]
    assert values(headers, "x-frame-options") == ["DENY"]
    assert values(headers, "referrer-policy") == ["strict-origin-when-cross-origin"]
    assert values(headers, "cross-origin-opener-policy") == ["same-origin"]
    assert values(headers, "cross-origin-resource-policy") == ["same-origin"]
    assert "camera=()" in values(headers, "permissions-policy")[0]
    assert "server" not in headers and "x-powered-by" not in headers


def test_security_headers_policy_per_path_prefix_and_preload(tmp_path):
    config = {
        "hsts": {"maxAge": 31536000, "preload": True},
        "policies": {"/api/": {"csp": {"default-src": ["'none'"]}, "referrerPolicy": "no-referrer"}},
    }
    module = load_function(tmp_path, "security_headers", config)
    event = sample_event(Trigger.ORIGIN_RESPONSE)
    event["Records"][0]["cf"]["request"]["uri"] = "/api/rooms"
    headers = run(module, Trigger.ORIGIN_RESPONSE, event)["headers"]
    assert values(headers, "strict-transport-security") == ["max-age=31536000; includeSubDomains; preload"]
    assert values(headers, "content-security-policy")[0].startswith("default-src 'none'; script-src 'self'")
    assert values(headers, "referrer-policy") == ["no-referrer"]
    page = run(module, Trigger.ORIGIN_RESPONSE, sample_event(Trigger.ORIGIN_RESPONSE))["headers"]
    assert values(page, "content-security-policy")[0].startswith("default-src 'self'")


def test_ab_cookie_only_at_viewer_response(tmp_path):
    module = load_function(tmp_path, "security_headers")
    viewer = run(module, Trigger.VIEWER_RESPONSE, sample_event(Trigger.VIEWER_RESPONSE))["headers"]
    assert values(viewer, "set-cookie") == ["ab=A; Path=/; Max-Age=2592000; Secure; HttpOnly; SameSite=Lax"]
    origin_event = sample_event(Trigger.ORIGIN_RESPONSE)
    origin_event["Records"][0]["cf"]["request"]["headers"]["x-ab-set"] = [{"key": "X-Ab-Set", "value": "A"}]
    assert "set-cookie" not in run(module, Trigger.ORIGIN_RESPONSE, origin_event)["headers"]  # cached: shared


# -- enrich_request -------------------------------------------------------------------------------------


def test_enrich_request_on_the_sample(tmp_path):
    module = load_function(tmp_path, "enrich_request")
    request = run(module, Trigger.VIEWER_REQUEST, sample_event(Trigger.VIEWER_REQUEST))
    headers = request["headers"]
    assert request["uri"] == "/index.html" and values(headers, "x-original-uri") == ["/room/lobby"]
    assert request["querystring"] == "a=1&b=2&room=lobby"
    assert values(headers, "x-ab-bucket") == ["B"] and "x-ab-set" not in headers  # the viewer's cookie wins
    assert values(headers, "x-device-class") == ["desktop"]
    assert values(headers, "x-request-id") == ["4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="]


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148", "mobile"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537.36", "mobile"),
        ("Mozilla/5.0 (Linux; Android 13; SM-X700) Chrome/120.0 Safari/537.36", "tablet"),
        ("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)", "tablet"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot"),
        ("curl/8.5.0", "bot"),
        ("", "bot"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
            "desktop",
        ),
    ],
)
def test_device_class(tmp_path, user_agent, expected):
    module = load_function(tmp_path, "enrich_request")
    assert module.device_class(user_agent) == expected


def test_bucket_is_deterministic_sticky_and_weighted(tmp_path):
    module = load_function(tmp_path, "enrich_request", {"buckets": {"A": 90, "B": 10}})
    chosen = [module.choose_bucket(f"198.51.100.{i}", "Mozilla/5.0") for i in range(1000)]
    assert chosen == [module.choose_bucket(f"198.51.100.{i}", "Mozilla/5.0") for i in range(1000)]
    assert 850 <= chosen.count("A") <= 950
    event = sample_event(Trigger.VIEWER_REQUEST)
    headers = event["Records"][0]["cf"]["request"]["headers"]
    headers["cookie"] = [{"key": "Cookie", "value": "ab=Z"}]  # unknown bucket: chosen anew, and set
    result = run(module, Trigger.VIEWER_REQUEST, event)["headers"]
    assert values(result, "x-ab-set") == values(result, "x-ab-bucket")


def test_viewer_cannot_forge_edge_headers_and_indexes_rewrite(tmp_path):
    module = load_function(tmp_path, "enrich_request")
    event = sample_event(Trigger.VIEWER_REQUEST)
    request = event["Records"][0]["cf"]["request"]
    request["uri"] = "/docs/"
    request["headers"]["x-device-class"] = [{"key": "X-Device-Class", "value": "admin"}]
    request["headers"]["x-request-id"] = [{"key": "X-Request-Id", "value": "forged"}]
    result = run(module, Trigger.VIEWER_REQUEST, event)
    assert result["uri"] == "/docs/index.html"
    assert values(result["headers"], "x-device-class") == ["desktop"]
    assert values(result["headers"], "x-request-id") != ["forged"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("b=2&a=1", "a=1&b=2"),
        ("utm_source=x&utm_medium=y&gclid=1&fbclid=2&q=edge", "q=edge"),
        ("q=a%20b&q=a", "q=a&q=a%20b"),
        ("flag&x=", "flag=&x="),
    ],
)
def test_query_normalised_for_the_cache(tmp_path, query, expected):
    module = load_function(tmp_path, "enrich_request")
    assert module.normalise_query(query) == expected


# -- enrich_origin ----------------------------------------------------------------------------------


def test_enrich_origin_simple_headers(tmp_path):
    module = load_function(tmp_path, "enrich_origin")
    event = sample_event(Trigger.ORIGIN_REQUEST)
    event["Records"][0]["cf"]["request"]["headers"]["x-viewer-country"] = [
        {"key": "X-Viewer-Country", "value": "XX"}
    ]
    headers = run(module, Trigger.ORIGIN_REQUEST, event)["headers"]
    assert values(headers, "x-viewer-country") == ["DE"]  # the forged one is replaced
    assert values(headers, "x-viewer-device") == ["mobile"]
    assert values(headers, "x-viewer-proto") == ["https"]


def test_country_rules_block_and_route(tmp_path):
    config = {"blockCountries": ["KP"], "routeCountries": {"de": {"domainName": "eu.example.org"}}}
    module = load_function(tmp_path, "enrich_origin", config)
    routed = run(module, Trigger.ORIGIN_REQUEST, sample_event(Trigger.ORIGIN_REQUEST))
    assert routed["origin"]["custom"]["domainName"] == "eu.example.org"
    assert values(routed["headers"], "host") == ["eu.example.org"]
    event = sample_event(Trigger.ORIGIN_REQUEST)
    event["Records"][0]["cf"]["request"]["headers"]["cloudfront-viewer-country"][0]["value"] = "KP"
    blocked = run(module, Trigger.ORIGIN_REQUEST, event)
    assert blocked["status"] == "403" and json.loads(blocked["body"])["country"] == "KP"


# -- auth -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def issuer():
    return Issuer()


def auth_event(uri: str, token: str | None = None, cookie: bool = False):
    event = sample_event(Trigger.VIEWER_REQUEST)
    request = event["Records"][0]["cf"]["request"]
    request["uri"], request["querystring"] = uri, "tab=1"
    if token is not None and cookie:
        request["headers"]["cookie"] = [{"key": "Cookie", "value": f"theme=dark; token={token}"}]
    elif token is not None:
        request["headers"]["authorization"] = [{"key": "Authorization", "value": f"Bearer {token}"}]
    return event


def test_auth_accepts_a_valid_token_from_header_or_cookie(tmp_path, issuer):
    module = load_function(tmp_path, "auth", issuer.auth_config())
    for cookie in (False, True):
        event = auth_event("/dash/telemetry", issuer.token(sub="ada"), cookie=cookie)
        event["Records"][0]["cf"]["request"]["headers"]["x-auth-sub"] = [
            {"key": "X-Auth-Sub", "value": "root"}
        ]
        result = run(module, Trigger.VIEWER_REQUEST, event)
        assert result["uri"] == "/dash/telemetry" and values(result["headers"], "x-auth-sub") == ["ada"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda i: None, "no token"),
        (lambda i: i.token(exp=1), "token expired"),
        (lambda i: i.token(nbf=4102444800), "token not yet valid"),
        (lambda i: i.token(iss="https://evil.example"), "wrong issuer"),
        (lambda i: i.token(aud="other"), "wrong audience"),
        (lambda i: i.token(header={"alg": "none"}), "token algorithm must be RS256"),
        (lambda i: i.token(header={"alg": "HS256"}), "token algorithm must be RS256"),
        (lambda i: i.token(header={"kid": "rotated"}), "token signed by an unknown key"),
        (lambda i: Issuer().token(), "bad signature"),  # same kid, another key
        (lambda i: i.token()[:-4] + "AAAA", "bad signature"),
        (lambda i: "e30!.e30.sig", "token is not base64url"),
        (lambda i: "bm9wZQ.e30.sig", "token is not JSON"),
        (lambda i: "onlyonepart", "token is not a JWS"),
    ],
)
def test_auth_refusals(tmp_path, issuer, make, reason):
    module = load_function(tmp_path, "auth", issuer.auth_config())
    token = make(issuer)
    api = run(module, Trigger.VIEWER_REQUEST, auth_event("/api/rooms", token))
    assert api["status"] == "401" and json.loads(api["body"]) == {"error": "unauthorized", "reason": reason}
    assert values(api["headers"], "www-authenticate") == ['Bearer error="invalid_token"']
    page = run(module, Trigger.VIEWER_REQUEST, auth_event("/dash/", token, cookie=True))
    assert page["status"] == "302"
    assert values(page["headers"], "location") == ["/login?next=%2Fdash%2F%3Ftab%3D1"]


def test_auth_token_use_and_public_paths(tmp_path, issuer):
    module = load_function(tmp_path, "auth", issuer.auth_config(tokenUse="id"))
    refused = run(module, Trigger.VIEWER_REQUEST, auth_event("/api/x", issuer.token(token_use="access")))
    assert json.loads(refused["body"])["reason"] == "wrong token use"
    accepted = run(module, Trigger.VIEWER_REQUEST, auth_event("/api/x", issuer.token(token_use="id")))
    assert "status" not in accepted
    public = run(module, Trigger.VIEWER_REQUEST, auth_event("/api/session"))
    assert "status" not in public and public["uri"] == "/api/session"


def test_auth_without_keys_fails_closed(tmp_path, issuer):
    module = load_function(tmp_path, "auth")
    result = run(module, Trigger.VIEWER_REQUEST, auth_event("/api/x", issuer.token()))
    assert result["status"] == "401"


def test_auth_refuses_short_keys_at_load(tmp_path):
    weak = Issuer(bits=1024)
    with pytest.raises(ValueError, match="shorter than 2048 bits"):
        load_function(tmp_path, "auth", weak.auth_config())
