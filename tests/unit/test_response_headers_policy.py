"""The response headers policy as CloudFront applies it: Override decides whose value stands, removed
headers go, and a policy CloudFront would refuse is refused with where it is wrong."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudfront_edge.model.response_headers import (
    HeaderRule,
    PolicyError,
    ResponseHeadersPolicy,
    parse_policy,
)

CONFIG = {
    "ResponseHeadersPolicyConfig": {
        "Name": "p",
        "SecurityHeadersConfig": {
            "StrictTransportSecurity": {
                "AccessControlMaxAgeSec": 600,
                "IncludeSubdomains": True,
                "Override": True,
            },
            "FrameOptions": {"FrameOption": "DENY", "Override": False},
            "XSSProtection": {"Protection": True, "ModeBlock": True, "Override": False},
        },
        "CustomHeadersConfig": {"Items": [{"Header": "X-Team", "Value": "edge", "Override": False}]},
        "RemoveHeadersConfig": {"Items": [{"Header": "Server"}]},
    }
}


def test_override_replaces_and_no_override_keeps_what_the_response_has():
    policy = parse_policy("p", CONFIG, "p.Properties")
    out = dict(
        policy.apply(
            [("Strict-Transport-Security", "max-age=1"), ("X-Frame-Options", "SAMEORIGIN"), ("Server", "S3")]
        )
    )
    assert out["Strict-Transport-Security"] == "max-age=600; includeSubDomains"
    assert out["X-Frame-Options"] == "SAMEORIGIN"
    assert out["X-XSS-Protection"] == "1; mode=block" and out["X-Team"] == "edge"
    assert "Server" not in out


def test_the_policy_adds_everything_to_a_bare_response():
    policy = parse_policy("p", CONFIG, "p.Properties")
    names = [k for k, _ in policy.apply([("Content-Type", "text/plain")])]
    assert names == [
        "Content-Type",
        "Strict-Transport-Security",
        "X-Frame-Options",
        "X-XSS-Protection",
        "X-Team",
    ]


@pytest.mark.parametrize(
    ("security", "message"),
    [
        (
            {"FrameOptions": {"FrameOption": "ALLOW", "Override": True}},
            "FrameOption must be DENY or SAMEORIGIN",
        ),
        ({"StrictTransportSecurity": {"Override": True}}, "AccessControlMaxAgeSec is required"),
        ({"ContentTypeOptions": {"Override": "yes"}}, "ContentTypeOptions.Override must be true or false"),
    ],
)
def test_a_policy_cloudfront_would_refuse_names_the_place(security, message):
    config = {"ResponseHeadersPolicyConfig": {"Name": "p", "SecurityHeadersConfig": security}}
    with pytest.raises(PolicyError, match=message):
        parse_policy("p", config, "p.Properties")


_NAMES = st.sampled_from(["X-A", "x-a", "X-B", "Content-Type", "Server", "x-c"])


@settings(max_examples=500, deadline=None)
@given(
    headers=st.lists(st.tuples(_NAMES, st.sampled_from(["1", "2"])), max_size=6),
    rules=st.lists(st.tuples(_NAMES, st.sampled_from(["p", "q"]), st.booleans()), max_size=4),
    remove=st.lists(_NAMES, max_size=2),
)
def test_apply_is_the_policy_as_written(headers, rules, remove):
    """`apply` works from a plan made once per policy; it gives what the rules say, read literally:
    overridden names replaced, others added only when absent (any case), removed names gone last."""
    policy = ResponseHeadersPolicy("p", tuple(HeaderRule(n, v, o) for n, v, o in rules), tuple(remove))
    present = {k.lower() for k, _ in headers}
    overridden = {n.lower() for n, _, o in rules if o}
    expected = [(k, v) for k, v in headers if k.lower() not in overridden]
    expected += [(n, v) for n, v, o in rules if o or n.lower() not in present]
    removed = {n.lower() for n in remove}
    expected = [(k, v) for k, v in expected if k.lower() not in removed]
    assert policy.apply(headers) == expected
