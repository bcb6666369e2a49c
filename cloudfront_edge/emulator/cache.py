"""The edge cache: CloudFront's TTL rules over a byte-bounded LRU, with an injected clock."""

from __future__ import annotations

import email.utils
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cloudfront_edge.emulator.messages import Headers, header
from cloudfront_edge.model.distribution import Behaviour

# CloudFront caches these by their TTL, and these errors for the error-caching minimum TTL (10 s).
CACHEABLE_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 410})
ERROR_STATUSES = frozenset({400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504})
ERROR_CACHING_MIN_TTL = 10.0
_DIRECTIVE = re.compile(r"\s*([a-z-]+)\s*(?:=\s*\"?(\d+)\"?)?\s*", re.I)


def _directives(cache_control: str) -> dict[str, int | None]:
    found: dict[str, int | None] = {}
    for part in cache_control.split(","):
        match = _DIRECTIVE.fullmatch(part)
        if match:
            found[match.group(1).lower()] = int(match.group(2)) if match.group(2) else None
    return found


def ttl_for(status: int, headers: Headers, behaviour: Behaviour, now: float | None = None) -> float:
    """How long CloudFront keeps this response; 0 means not at all."""
    directives = _directives(header(headers, "cache-control") or "")
    if status in ERROR_STATUSES:
        return 0.0 if "no-store" in directives else ERROR_CACHING_MIN_TTL
    if status not in CACHEABLE_STATUSES:
        return 0.0
    if {"no-store", "no-cache", "private"} & directives.keys():
        return float(behaviour.min_ttl)
    seconds: float | None = None
    if directives.get("s-maxage") is not None:
        seconds = directives["s-maxage"]
    elif directives.get("max-age") is not None:
        seconds = directives["max-age"]
    elif (expires := header(headers, "expires")) is not None:
        try:
            seconds = email.utils.parsedate_to_datetime(expires).timestamp() - (now or time.time())
        except (TypeError, ValueError):
            seconds = 0.0
    if seconds is None:
        return float(behaviour.default_ttl)
    return float(min(max(seconds, behaviour.min_ttl), behaviour.max_ttl))


@dataclass(frozen=True)
class CachedResponse:
    status: int
    reason: str
    headers: Headers
    body: bytes
    stored_at: float
    ttl: float
    origin_age: int = 0


CacheKey = tuple[str, ...]


class ResponseCache:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_bytes: int = 64 * 1024 * 1024
    ) -> None:
        self._clock = clock
        self._max_bytes = max_bytes
        self._entries: OrderedDict[CacheKey, CachedResponse] = OrderedDict()
        self._bytes = 0

    def get(self, key: CacheKey) -> tuple[CachedResponse, int] | None:
        """The entry and its Age in seconds, if fresh."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        elapsed = self._clock() - entry.stored_at
        if elapsed >= entry.ttl:
            self._drop(key)
            return None
        self._entries.move_to_end(key)
        return entry, int(elapsed) + entry.origin_age

    def put(self, key: CacheKey, status: int, reason: str, headers: Headers, body: bytes, ttl: float) -> None:
        if ttl <= 0 or len(body) > self._max_bytes:
            return
        self._drop(key)
        age = header(headers, "age")
        kept = [(k, v) for k, v in headers if k.lower() != "age"]
        origin_age = int(age) if age and age.isdigit() else 0
        self._entries[key] = CachedResponse(status, reason, kept, body, self._clock(), ttl, origin_age)
        self._bytes += len(body)
        while self._bytes > self._max_bytes and self._entries:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: CacheKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= len(entry.body)

    def __len__(self) -> int:
        return len(self._entries)
