"""The local CloudFront behaves as CloudFront does where users meet it: the distribution's response
headers policy on every response it sends (error pages included), hostile paths answered with a 400 or a
404 and never a 500, no `Server: aiohttp` on its own errors, 200 ordinary headers accepted, and errors
labelled `Error from cloudfront`."""

from __future__ import annotations

import http.client
import socket

import pytest

from tests.fakes.edge import RunningEdge
from tests.functional.test_edge_emulator import get

POLICY_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Content-Security-Policy",
    "Permissions-Policy",
)


def raw_request(edge: RunningEdge, text: bytes) -> tuple[int, dict[str, str]]:
    with socket.create_connection(("127.0.0.1", edge.port), timeout=10) as sock:
        sock.sendall(text)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/no-such-page.css", 404),  # an origin 404
        ("/dash/", 302),  # the auth function's redirect
        ("/%00", 400),  # a NUL in the path
        ("/" + "a" * 8000, 400),  # a path longer than a file name may be
        ("/%2e%2e/%2e%2e/etc/passwd", 404),
    ],
)
def test_every_response_carries_the_policy_headers_and_no_server_header(site, path, status):
    response = get(site, path)
    assert response.status_code == status, response.text
    missing = [h for h in POLICY_HEADERS if h not in response.headers]
    assert not missing, f"{path}: {status} lacks {missing}"
    assert "Server" not in response.headers


def test_a_function_failure_and_a_body_too_large_carry_the_policy_headers(site):
    status, headers = raw_request(
        site,
        b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999999\r\nConnection: close\r\n\r\n",
    )
    assert status in (400, 403, 413)
    assert "strict-transport-security" in headers and "server" not in headers


def test_a_malformed_request_gets_a_400_without_a_server_header(site):
    status, headers = raw_request(site, b"GET /index.html HTTP/1.1\r\nHost x\r\nConnection: close\r\n\r\n")
    assert status == 400
    assert "server" not in headers


def test_two_hundred_ordinary_headers_are_accepted(site):
    headers = {f"X-Custom-{n}": "value" for n in range(200)}
    response = get(site, "/index.html", headers=headers)
    assert response.status_code == 200


def test_an_origin_error_is_labelled_error_from_cloudfront_first_and_again(site):
    first = get(site, "/missing.js")
    second = get(site, "/missing.js")
    assert first.status_code == second.status_code == 404
    assert first.headers["X-Cache"] == "Error from cloudfront"
    assert second.headers["X-Cache"] == "Error from cloudfront"
    assert get(site, "/index.html").headers["X-Cache"] == "Miss from cloudfront"
    assert get(site, "/index.html").headers["X-Cache"] == "Hit from cloudfront"
