"""The four Lambda@Edge event types and what differs between them."""

from __future__ import annotations

import enum


class Trigger(enum.StrEnum):
    """What differs between the event types is worked out once per member, in `__init__`: these are
    read several times for every request the local CloudFront serves, where a property's call cost
    more than the answer."""

    VIEWER_REQUEST = "viewer-request"
    ORIGIN_REQUEST = "origin-request"
    ORIGIN_RESPONSE = "origin-response"
    VIEWER_RESPONSE = "viewer-response"

    is_viewer: bool
    is_request: bool
    timeout_s: float  # Lambda@Edge's function timeout: 5 s for viewer triggers, 30 s for origin triggers
    # the largest response a function may generate (headers and body): 40 KB viewer, 1 MB origin
    generated_response_limit: int

    def __init__(self, value: str) -> None:
        self.is_viewer = value.startswith("viewer-")
        self.is_request = value.endswith("-request")
        self.timeout_s = 5.0 if self.is_viewer else 30.0
        self.generated_response_limit = 40 * 1024 if self.is_viewer else 1024 * 1024
