"""The local CloudFront's request pipeline, without sockets: `EdgeGateway.handle(request)`.

    viewer-request -> cache -> (miss) origin-request -> origin -> origin-response -> cache -> viewer-response

CloudFront's skip rules: origin triggers run only on a cache miss; a response generated at
origin-request is cached and skips origin-response; a response generated at viewer-request goes straight
back, skipping viewer-response; viewer-response does not run when the origin answered 400 or above.
A function's invalid result is a 502, its exception a 500, its timeout a 503; each says why.
"""

from __future__ import annotations

import base64
import random
import re
import time
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from cloudfront_edge.emulator import events
from cloudfront_edge.emulator.cache import CacheKey, ResponseCache, ttl_for
from cloudfront_edge.emulator.function_host import FunctionHost
from cloudfront_edge.emulator.messages import EdgeResponse, Headers, OriginRequest, ViewerRequest
from cloudfront_edge.emulator.origin import HOP_BY_HOP, OriginError, OriginTransport
from cloudfront_edge.emulator.validation import Outcome
from cloudfront_edge.emulator.verdicts import FunctionFailed, judge
from cloudfront_edge.model.distribution import Behaviour, Distribution
from cloudfront_edge.model.triggers import Trigger

POP = "LOCAL1-C1"
MAX_CACHED_BODY = 16 * 1024 * 1024
_REASONS = {200: "OK", 302: "Found", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


@dataclass
class _FunctionFailure(Exception):
    response: EdgeResponse


def _request_id() -> str:
    """56 characters, like x-amz-cf-id: unique, not secret, so from `random` (reseeded in a forked
    child), without the system call per request that `secrets` makes."""
    return base64.urlsafe_b64encode(random.randbytes(42)).decode()


def _text_response(status: int, result_type: str, message: str, request_id: str) -> EdgeResponse:
    body = f"{status} ERROR\n{message}\nRequest ID: {request_id}\n".encode()
    headers = [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")]
    return EdgeResponse(status, headers, body, result_type=result_type, detail=message)


def _via(request_id: str) -> str:
    return f"1.1 {request_id[:32]}.cloudfront.net (CloudFront)"


def _decoded(data: str, encoding: str | None) -> bytes:
    """A body as a function returns it: text, or base64 (validation has already checked it decodes)."""
    return base64.b64decode(data) if encoding == "base64" else data.encode()


def _generated(value: dict[str, Any], result_type: str) -> EdgeResponse:
    body = _decoded(value.get("body", ""), value.get("bodyEncoding"))
    status = int(value["status"])
    reason = value.get("statusDescription") or _REASONS.get(status, "")
    return EdgeResponse(
        status, events.from_cf_headers(value.get("headers", {})), body, reason=reason, result_type=result_type
    )


class EdgeGateway:
    def __init__(
        self,
        distribution: Distribution,
        functions: FunctionHost,
        origins: OriginTransport,
        origin_urls: dict[str, str],
        cache: ResponseCache | None = None,
        clock: Callable[[], float] = time.monotonic,
        viewer_country: str = "US",
    ) -> None:
        self.distribution = distribution
        self.functions = functions
        self.origins = origins
        self.origin_urls = origin_urls
        self.cache = cache or ResponseCache(clock)
        self.viewer_country = viewer_country

    # -- functions ------------------------------------------------------------

    async def _run(
        self, behaviour: Behaviour, trigger: Trigger, cf: dict[str, Any], request_id: str
    ) -> Outcome | None:
        association = behaviour.associations.get(trigger)
        if association is None:
            return None
        # The function gets its own copy of the part its result is judged against (as it would over
        # the wire), so nothing changes `cf` until the verdict is in.
        event = events.event(events.copied(cf, "request" if trigger.is_request else "response"))
        invocation = await self.functions.invoke(association.function, trigger, event, request_id)
        try:
            return judge(association.function, trigger, cf, invocation)
        except FunctionFailed as failed:
            failure = _text_response(failed.status, failed.result_type, failed.message, request_id)
            failure.detail = failed.detail
            raise _FunctionFailure(failure) from failed

    async def _run_request_trigger(
        self,
        behaviour: Behaviour,
        trigger: Trigger,
        cf_request: dict[str, Any],
        request: ViewerRequest,
        request_id: str,
    ) -> Outcome | None:
        """A request trigger's event: the body object when its association has IncludeBody."""
        association = behaviour.associations.get(trigger)
        if association is not None and association.include_body:
            cf_request["body"] = events.body_object(request.body, trigger)
        config = events.config_object(self.distribution, trigger, request_id)
        return await self._run(behaviour, trigger, {"config": config, "request": cf_request}, request_id)

    # -- the pipeline ---------------------------------------------------------

    async def handle(self, request: ViewerRequest) -> EdgeResponse:
        behaviour = self.distribution.behaviour_for(request.uri)
        refused = bad_request(request)
        if refused is not None:
            return self.refuse(*refused, behaviour)
        request_id = _request_id()
        try:
            response = await self._handle(request, behaviour, request_id)
        except _FunctionFailure as failure:
            response = failure.response
        return self._finish(response, request_id, behaviour)

    def refuse(self, status: int, message: str, behaviour: Behaviour | None = None) -> EdgeResponse:
        """CloudFront's own error for a request it will not take (malformed, too large, a bad path),
        with the behaviour's response headers policy (the default behaviour's when none matched yet)."""
        request_id = _request_id()
        response = _text_response(status, "Error", message, request_id)
        return self._finish(response, request_id, behaviour or self.distribution.behaviours[-1])

    async def _handle(self, request: ViewerRequest, behaviour: Behaviour, request_id: str) -> EdgeResponse:
        if request.method not in behaviour.allowed_methods:
            message = (
                f"This distribution is not configured to allow the HTTP request method {request.method} here."
            )
            return _text_response(403, "Error", message, request_id)
        cf_request = events.viewer_request_object(request)
        outcome = await self._run_request_trigger(
            behaviour, Trigger.VIEWER_REQUEST, cf_request, request, request_id
        )
        if outcome is not None:
            if outcome.kind == "response":
                return _generated(outcome.value, "LambdaGeneratedResponse")
            cf_request = outcome.value
        cacheable = request.method in behaviour.cached_methods and request.method in ("GET", "HEAD")
        key: CacheKey = (
            behaviour.path_pattern,
            request.method,
            cf_request["uri"],
            cf_request.get("querystring", "") if behaviour.forward_query else "",
        )
        if cacheable and (hit := self.cache.get(key)) is not None:
            entry, age = hit
            response = EdgeResponse(
                entry.status, [*entry.headers, ("Age", str(age))], entry.body, reason=entry.reason
            )
            response.result_type = "Hit"
        else:
            response = await self._from_origin(
                behaviour, request, cf_request, request_id, key if cacheable else None
            )
        if response.status >= 400 and response.result_type != "LambdaGeneratedResponse":
            return response  # CloudFront runs no viewer-response function for an origin error
        return await self._viewer_response(behaviour, cf_request, response, request_id)

    async def _from_origin(
        self,
        behaviour: Behaviour,
        request: ViewerRequest,
        cf_request: dict[str, Any],
        request_id: str,
        key: CacheKey | None,
    ) -> EdgeResponse:
        origin = self.distribution.origins[behaviour.origin_id]
        viewer_headers = self._viewer_headers(behaviour, cf_request)
        origin_side = events.origin_request_object(cf_request, origin, viewer_headers, request_id)
        outcome = await self._run_request_trigger(
            behaviour, Trigger.ORIGIN_REQUEST, origin_side, request, request_id
        )
        if outcome is not None and outcome.kind == "response":
            generated = _generated(outcome.value, "Miss")
            if key is not None:
                ttl = ttl_for(generated.status, generated.headers, behaviour)
                self.cache.put(
                    key, generated.status, generated.reason, generated.headers, generated.body, ttl
                )
            return generated
        if outcome is not None:
            origin_side = outcome.value
        try:
            fetched = await self.origins.fetch(self._origin_request(origin_side, request, request_id))
        except OriginError as exc:
            return _text_response(exc.status, "Error", str(exc), request_id)
        cf_response = events.response_object(fetched.status, fetched.reason, fetched.headers)
        response = EdgeResponse(fetched.status, fetched.headers, stream=fetched.stream, reason=fetched.reason)
        config = events.config_object(self.distribution, Trigger.ORIGIN_RESPONSE, request_id)
        cf = {"config": config, "request": origin_side, "response": cf_response}
        outcome = await self._run(behaviour, Trigger.ORIGIN_RESPONSE, cf, request_id)
        if outcome is not None:
            value = outcome.value
            response.status = int(value["status"])
            response.reason = value.get("statusDescription", response.reason)
            response.headers = events.from_cf_headers(value["headers"])
            await _replace_body(response, value)
        if key is not None:
            ttl = ttl_for(response.status, response.headers, behaviour)
            if ttl > 0:
                self._cache_as_it_streams(key, response, ttl)
        return response

    def _cache_as_it_streams(self, key: CacheKey, response: EdgeResponse, ttl: float) -> None:
        status, reason, headers = response.status, response.reason, list(response.headers)
        if response.stream is None:
            self.cache.put(key, status, reason, _without_framing(headers), response.body, ttl)
            return
        source = response.stream

        async def tee() -> AsyncIterator[bytes]:
            kept: list[bytes] = []
            size = 0
            async for chunk in source:
                size += len(chunk)
                if size <= MAX_CACHED_BODY:
                    kept.append(chunk)
                yield chunk
            if size <= MAX_CACHED_BODY:
                self.cache.put(key, status, reason, _without_framing(headers), b"".join(kept), ttl)

        response.stream = tee()

    async def _viewer_response(
        self, behaviour: Behaviour, cf_request: dict[str, Any], response: EdgeResponse, request_id: str
    ) -> EdgeResponse:
        if Trigger.VIEWER_RESPONSE not in behaviour.associations:
            return response
        visible = [*response.headers, ("Via", _via(request_id))]
        config = events.config_object(self.distribution, Trigger.VIEWER_RESPONSE, request_id)
        cf_request = {k: v for k, v in cf_request.items() if k not in ("origin", "body")}
        cf = {
            "config": config,
            "request": cf_request,
            "response": events.response_object(response.status, response.reason, visible),
        }
        outcome = await self._run(behaviour, Trigger.VIEWER_RESPONSE, cf, request_id)
        if outcome is not None:
            response.headers = events.from_cf_headers(outcome.value["headers"], leaving_out="via")
            await _replace_body(response, outcome.value)
        return response

    # -- helpers --------------------------------------------------------------

    def _viewer_headers(self, behaviour: Behaviour, cf_request: dict[str, Any]) -> dict[str, str]:
        """The CloudFront-* headers the behaviour forwards, computed as CloudFront computes them."""
        device = "desktop"
        user_agent = " ".join(e["value"] for e in cf_request["headers"].get("user-agent", [])).lower()
        if "ipad" in user_agent or "tablet" in user_agent:
            device = "tablet"
        elif "mobi" in user_agent or "iphone" in user_agent or "android" in user_agent:
            device = "mobile"
        elif "smart-tv" in user_agent or "smarttv" in user_agent:
            device = "smarttv"
        values = {
            "cloudfront-viewer-country": self.viewer_country,
            "cloudfront-forwarded-proto": "https",
            "cloudfront-viewer-address": f"{cf_request['clientIp']}:0",
            "cloudfront-viewer-http-version": "1.1",
        }
        for kind in ("mobile", "tablet", "desktop", "smarttv"):
            values[f"cloudfront-is-{kind}-viewer"] = "true" if device == kind else "false"
        return {name: values[name.lower()] for name in behaviour.viewer_headers if name.lower() in values}

    def _origin_request(
        self, cf_request: dict[str, Any], request: ViewerRequest, request_id: str
    ) -> OriginRequest:
        kind, details = next(iter(cf_request["origin"].items()))
        base_url = self._origin_url(details)
        headers: Headers = events.from_cf_headers(cf_request["headers"])
        headers += events.from_cf_headers(details.get("customHeaders", {}))
        headers.append(("X-Amz-Cf-Id", request_id))
        body = request.body
        if cf_request.get("body", {}).get("action") == "replace":
            body = _decoded(cf_request["body"]["data"], cf_request["body"]["encoding"])
        return OriginRequest(
            base_url=base_url,
            path=details.get("path", "") + cf_request["uri"],
            querystring=cf_request.get("querystring", ""),
            method=request.method,
            headers=headers,
            body=body,
            read_timeout=float(details.get("readTimeout", 30)) if kind == "custom" else 30.0,
        )

    def _origin_url(self, details: dict[str, Any]) -> str:
        domain = details["domainName"]
        for origin_id, origin in self.distribution.origins.items():
            if origin.domain_name == domain and origin_id in self.origin_urls:
                return self.origin_urls[origin_id]
        if domain in ("127.0.0.1", "localhost"):
            return f"{details.get('protocol', 'http')}://{domain}:{details.get('port', 80)}"
        raise OriginError(
            502, f"the origin {domain} is not reachable from the local CloudFront; map it with --origin"
        )

    def _finish(self, response: EdgeResponse, request_id: str, behaviour: Behaviour) -> EdgeResponse:
        if response.result_type == "LambdaGeneratedResponse":
            x_cache = response.result_type
        elif response.status >= 400:  # an origin's error, fresh or cached, or CloudFront's own
            x_cache = "Error"
        else:
            x_cache = "Hit" if response.result_type == "Hit" else "Miss"
        headers = response.headers
        if behaviour.response_headers is not None:
            headers = behaviour.response_headers.apply(headers)
        response.headers = [
            *headers,
            ("Via", _via(request_id)),
            ("X-Cache", f"{x_cache} from cloudfront"),
            ("X-Amz-Cf-Pop", POP),
            ("X-Amz-Cf-Id", request_id),
        ]
        response.request_id = request_id
        return response


MAX_URI_BYTES = 8192  # CloudFront's limit on a request's URL
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def bad_request(request: ViewerRequest) -> tuple[int, str] | None:
    """(status, why) for a request CloudFront refuses before any function or origin sees it."""
    if len(request.uri) + len(request.querystring) + 1 > MAX_URI_BYTES:
        return 414, f"The request URL is longer than {MAX_URI_BYTES} bytes."
    if not request.uri.startswith("/"):
        return 400, "The request path must start with /."
    decoded = urllib.parse.unquote(request.uri, errors="replace") if "%" in request.uri else request.uri
    # printable ASCII (nearly every path) has no control character: two string checks, not the regex
    if not (decoded.isascii() and decoded.isprintable()) and _CONTROL.search(decoded):
        return 400, "The request path holds a control character (such as %00)."
    return None


def _without_framing(headers: Headers) -> Headers:
    """A function sees transfer-encoding and content-length (read-only); framing is the server's business."""
    return [(k, v) for k, v in headers if k.lower() not in HOP_BY_HOP]


async def _replace_body(response: EdgeResponse, value: dict[str, Any]) -> None:
    """A response function that set a body replaces the origin's: drop the stream, reframe."""
    if "body" not in value:
        return
    await _discard(response.stream)
    response.stream = None
    response.body = _decoded(value["body"], value.get("bodyEncoding"))
    response.headers = _without_framing(response.headers)


async def _discard(stream: AsyncIterator[bytes] | None) -> None:
    if stream is not None:
        async for _ in stream:
            pass
