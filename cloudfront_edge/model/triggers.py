"""The four Lambda@Edge event types and what differs between them."""

from __future__ import annotations

import enum


class Trigger(enum.StrEnum):
    VIEWER_REQUEST = "viewer-request"
    ORIGIN_REQUEST = "origin-request"
    ORIGIN_RESPONSE = "origin-response"
    VIEWER_RESPONSE = "viewer-response"

    @property
    def is_viewer(self) -> bool:
        return self in (Trigger.VIEWER_REQUEST, Trigger.VIEWER_RESPONSE)

    @property
    def is_request(self) -> bool:
        return self in (Trigger.VIEWER_REQUEST, Trigger.ORIGIN_REQUEST)

    @property
    def timeout_s(self) -> float:
        """Lambda@Edge's function timeout: 5 s for viewer triggers, 30 s for origin triggers."""
        return 5.0 if self.is_viewer else 30.0

    @property
    def generated_response_limit(self) -> int:
        """Largest response a function may generate (headers and body): 40 KB viewer, 1 MB origin."""
        return 40 * 1024 if self.is_viewer else 1024 * 1024
