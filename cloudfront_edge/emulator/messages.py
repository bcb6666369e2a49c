"""The HTTP messages the gateway handles, independent of any socket library."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

Headers = list[tuple[str, str]]


@dataclass
class ViewerRequest:
    method: str
    uri: str  # path only, percent-encoded as received
    querystring: str  # without the leading ?
    headers: Headers
    client_ip: str
    body: bytes = b""


@dataclass
class EdgeResponse:
    """A response on its way to the viewer: a whole body, or a stream from the origin."""

    status: int
    headers: Headers
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    reason: str = ""
    result_type: str = "Miss"  # CloudFront's x-edge-result-type: Hit, Miss, LambdaGeneratedResponse, Error...
    detail: str = ""  # why, for the access log: the violated rule, the exception
    request_id: str = ""


@dataclass
class OriginRequest:
    """What the gateway asks an origin for, after the request triggers."""

    base_url: str  # scheme://host:port of the local origin
    path: str  # origin path + uri
    querystring: str
    method: str
    headers: Headers
    body: bytes = b""
    read_timeout: float = 30.0
    connect_timeout: float = 10.0


@dataclass
class OriginResponse:
    status: int
    reason: str
    headers: Headers
    stream: AsyncIterator[bytes] | None = None
    body: bytes = b""
    extra: dict[str, str] = field(default_factory=dict)


def header(headers: Headers, name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers:
        if key.lower() == lowered:
            return value
    return None
