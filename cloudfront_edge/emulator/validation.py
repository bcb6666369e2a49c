"""CloudFront's validation of what a Lambda@Edge function returns. Pure: no I/O.

CloudFront answers a result that breaks one of these rules with a 502 (LambdaValidationError), which
is the commonest way an edge function fails in production and the one no other local tool catches. The
messages start with CloudFront's own wording; each violation also names its rule and, where there is
one, the header, so the 502 and the log line say exactly what to fix.

    validate(trigger, before, result) -> Outcome      # before: the event's `cf` object as sent
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import marshal
import operator
import re
from typing import Any, NamedTuple

from cloudfront_edge.model.triggers import Trigger

DISALLOWED = frozenset(
    {
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
        "upgrade",
        "x-accel-buffering",
        "x-accel-charset",
        "x-accel-limit-rate",
        "x-accel-redirect",
        "x-amzn-auth",
        "x-amzn-cf-billing",
        "x-amzn-cf-id",
        "x-amzn-cf-xff",
        "x-amzn-errortype",
        "x-amzn-fle-profile",
        "x-amzn-header-count",
        "x-amzn-header-order",
        "x-amzn-lambda-integration-tag",
        "x-amzn-requestid",
        "x-cache",
        "x-forwarded-proto",
        "x-real-ip",
    }
)
DISALLOWED_PREFIXES = ("x-amz-cf-", "x-edge-")
READ_ONLY = {
    Trigger.VIEWER_REQUEST: frozenset({"content-length", "host", "transfer-encoding", "via"}),
    Trigger.ORIGIN_REQUEST: frozenset(
        {
            "accept-encoding",
            "content-length",
            "if-modified-since",
            "if-none-match",
            "if-range",
            "if-unmodified-since",
            "transfer-encoding",
            "via",
        }
    ),
    Trigger.ORIGIN_RESPONSE: frozenset({"transfer-encoding", "via"}),
    Trigger.VIEWER_RESPONSE: frozenset(
        {"content-encoding", "content-length", "transfer-encoding", "warning", "via"}
    ),
}
# CloudFront writes these on a response a function generates; a function may not set them (Mangum and
# OpenNext both hit this with Content-Length on responses generated at origin-request).
GENERATED_READ_ONLY = frozenset({"content-length", "transfer-encoding", "via"})
NO_BODY_STATUSES = frozenset({204, 304})
MAX_URI_BYTES = 8192
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9a-z]+")  # fullmatch: `$` would let a trailing newline by
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_URI_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")
_READ_ONLY_FIELDS = ("method", "clientIp")


class Violation(Exception):
    """A result CloudFront would reject with a 502."""

    def __init__(self, rule: str, message: str, header: str | None = None) -> None:
        self.rule, self.message, self.header = rule, message, header
        where = f", header {header}" if header else ""
        super().__init__(f"{message} (rule: {rule}{where})")


class Outcome(NamedTuple):
    """What a valid result means: the request goes on, or this response is sent instead. A named tuple:
    made for every function call (see `Invocation`)."""

    kind: str  # "request" or "response"
    value: dict[str, Any]
    generated: bool  # a response made by a request trigger


@functools.lru_cache(maxsize=4096)  # asked for every header of every event; names repeat
def is_disallowed(name: str) -> bool:
    return name in DISALLOWED or name.startswith(DISALLOWED_PREFIXES)


# What a function may not add, change or remove, per trigger (with the prefixes): a result's changed
# names are checked against these in C before any name is looked at in Python.
_FORBIDDEN = {trigger: DISALLOWED | read_only for trigger, read_only in READ_ONLY.items()}
_HAS_DISALLOWED_PREFIX = operator.methodcaller("startswith", DISALLOWED_PREFIXES)


def _failed(what: str) -> str:
    return f"The Lambda function result failed validation: {what}"


_JSON = json.JSONEncoder(allow_nan=False)  # made once: `json.dumps` with an option makes one a call


class _NotPlain(Exception):
    """A value the plain copy leaves to the JSON round trip."""


def _plain_copy(value: Any) -> Any:
    """The copy a JSON round trip would make, for values made only of dicts with string keys, lists,
    strings, ints, booleans and None (what functions return): half the time of the round trip. Anything
    else (a float, a tuple, a key that is not a string, a subclass) raises _NotPlain."""
    kind = type(value)
    if kind is dict:
        for key in value:
            if type(key) is not str:
                raise _NotPlain
        return {key: item if type(item) is str else _plain_copy(item) for key, item in value.items()}
    if kind is list:
        return [item if type(item) is str else _plain_copy(item) for item in value]
    if kind is str or kind is int or kind is bool or value is None:
        return value
    raise _NotPlain


# The headers of a result that are not as the function was given them, in the result's order: each
# name with its values when every entry is a plain one already found valid, else None (checked in
# full later, where a Violation is raised in CloudFront's order of checks).
Scan = list[tuple[str, list[str] | None]]


def _as_json(result: Any, given: dict[str, Any] | None = None) -> Any:
    """Lambda serialises the return value to JSON; CloudFront parses that. The same copy: a plain one
    where that is the same thing, the round trip itself otherwise. With `given` (the header map the
    function was sent), a result's header entries that equal what was given are taken as given."""
    return _copied(result, given)[0]


def _copied(result: Any, given: dict[str, Any] | None) -> tuple[Any, Scan | None]:
    """`_as_json`'s copy, and the scan of its headers made while copying them (None when the copy
    was not made header by header)."""
    try:
        if given is None or type(result) is not dict or type(result.get("headers")) is not dict:
            return _plain_copy(result), None
        copy: dict[str, Any] = {}
        scan: Scan | None = None
        for key, item in result.items():
            if type(key) is not str:
                raise _NotPlain
            if key == "headers":
                copy[key], scan = _headers_copy(item, given)
            else:
                copy[key] = item if type(item) is str else _plain_copy(item)
        return copy, scan
    except (_NotPlain, RecursionError):
        pass
    try:
        return json.loads(_JSON.encode(result)), None
    except (TypeError, ValueError) as exc:
        raise Violation(
            "invalid-json",
            f"The Lambda function returned invalid JSON: The JSON output is not parsable. ({exc})",
        ) from exc


def _headers_copy(headers: dict[Any, Any], given: dict[str, Any]) -> tuple[dict[str, Any], Scan]:
    """A header map's plain copy that shares the entries the function left as they were: most of a
    result's headers, compared in C instead of copied in Python. Equal to a list of string-only dicts
    and accepted by `marshal` (which takes only the exact built-in types: one call for all of them,
    header by header only when that fails) means the JSON round trip would give back exactly the given
    entries. Nothing changes a header entry in place once built, so sharing one is safe. The other
    headers are copied and checked in the same pass (the scan)."""
    copy: dict[str, Any] = {}
    scan: Scan = []
    shared: list[tuple[str, Any]] = []
    for name, entries in headers.items():
        if type(name) is not str:
            raise _NotPlain
        before = given.get(name)
        if before is not None and entries == before:
            copy[name] = before
            shared.append((name, entries))
            continue
        copy[name], values = _entries_copy(name, entries)
        scan.append((name, values))
    if shared and not _exact_types(shared):
        for name, entries in shared:
            if not _exact_types(entries):
                copy[name] = _entries_copy(name, entries)[0]
    return copy, scan


FLAT_ENTRY = frozenset({"key", "value"})  # the fields of a header entry as CloudFront builds one


def _entries_copy(name: str, entries: Any) -> tuple[Any, list[str] | None]:
    """A header's entries as JSON would give them back (an entry of string `key` and `value` only,
    what functions add, copied whole; anything else by `_plain_copy`), and their values when each is
    such an entry and valid for `name` (else None)."""
    if type(entries) is not list:
        return _plain_copy(entries), None
    copy: list[Any] = []
    values: list[str] | None = []
    for entry in entries:
        if type(entry) is dict and entry.keys() <= FLAT_ENTRY:
            value, key = entry.get("value"), entry.get("key", "")
            if type(value) is str and type(key) is str:
                copy.append(dict(entry))
                if values is not None and _valid_entry(name, entry.get("key"), value):
                    values.append(value)
                else:
                    values = None
                continue
        copy.append(_plain_copy(entry))
        values = None
    return copy, values


def _exact_types(value: Any) -> bool:
    try:
        marshal.dumps(value)
    except ValueError:  # a subclass, or something JSON could not carry either
        return False
    return True


def _check_headers(headers: Any) -> dict[str, list[str]]:
    """The header map's shape, names and value types; returns name -> values."""
    return {name: _checked_values(name, entries) for name, entries in _header_map(headers).items()}


def _header_map(headers: Any) -> dict[Any, Any]:
    if not isinstance(headers, dict):
        raise Violation("headers-not-object", _failed("The headers must be an object."))
    return headers


def _checked_values(name: Any, entries: Any) -> list[str]:
    """One header's name and entries checked; its values. A result's headers repeat from call to call
    (a policy's, a function's constants), so an entry of plain strings is looked up among those
    already found valid before it is checked; anything else is checked in full (`_check_entries`)."""
    if type(name) is str and type(entries) is list:
        values: list[str] = []
        for entry in entries:
            if type(entry) is not dict:
                break
            key, value = entry.get("key"), entry.get("value")
            if type(value) is not str or not (key is None or type(key) is str):
                break
            if not _valid_entry(name, key, value):
                break
            values.append(value)
        else:
            return values
    return _check_entries(name, entries)


@functools.lru_cache(maxsize=4096)
def _valid_entry(name: str, key: str | None, value: str) -> bool:
    return (
        _TOKEN.fullmatch(name) is not None
        and (key is None or key.lower() == name)
        and _CONTROL.search(value) is None
    )


def _check_entries(name: Any, entries: Any) -> list[str]:
    """The full check of one header, raising the Violation for what is wrong."""
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise Violation(
            "header-name-invalid",
            _failed("A header name in the headers object must be lowercase and a valid HTTP token."),
            str(name),
        )
    if not isinstance(entries, list):
        raise Violation(
            "header-not-array",
            "The Lambda function returned an invalid entry in the headers object: "
            "Each header entry in the headers object must be an array.",
            name,
        )
    values: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("value"), str):
            raise Violation(
                "header-value-type",
                "The Lambda function returned an invalid entry in the headers object: "
                "The header must include a value field, and the value must be a string.",
                name,
            )
        key = entry.get("key")
        if key is not None and (not isinstance(key, str) or key.lower() != name):
            raise Violation(
                "header-key-mismatch",
                "The Lambda function returned an invalid entry in the headers object: "
                f"the key field {key!r} does not match the header name.",
                name,
            )
        if _CONTROL.search(entry["value"]):
            raise Violation(
                "header-value-invalid", _failed("A header value contains a control character."), name
            )
        values.append(entry["value"])
    return values


def _changed_headers(
    headers: Any, given: dict[str, list[dict[str, str]]], scan: Scan | None = None
) -> list[str]:
    """The names whose values differ from those CloudFront gave the function (`given`), added and
    removed ones included. A header whose entries are exactly as given is not checked again; every
    other one is checked as `_check_headers` checks it. With the `scan` made while copying the
    result, only the headers it names are looked at, with the values it found where it found them."""
    headers = _header_map(headers)
    changed: list[str] = []
    if scan is None:
        scan = [
            (name, None)
            for name, entries in headers.items()
            if (before := given.get(name)) is None or not (entries is before or before == entries)
        ]
    for name, found in scan:
        values = found if found is not None else _checked_values(name, headers[name])
        before = given.get(name)
        if before is None or values != [entry["value"] for entry in before]:
            changed.append(name)
    changed += [name for name in given if name not in headers]
    return changed


def _may_change(trigger: Trigger, changed: list[str]) -> bool:
    """Whether a function at `trigger` may add, change or remove every one of these names."""
    return _FORBIDDEN[trigger].isdisjoint(changed) and not any(map(_HAS_DISALLOWED_PREFIX, changed))


def _check_header_changes(trigger: Trigger, changed: list[str]) -> None:
    if _may_change(trigger, changed):
        return
    read_only = READ_ONLY[trigger]
    for name in sorted(changed):  # the first in name order, whatever order the function used
        if is_disallowed(name):
            raise Violation(
                "disallowed-header",
                _failed("The function tried to add, delete, or change a disallowed header."),
                name,
            )
        if name in read_only:
            raise Violation(
                "read-only-header",
                _failed(f"The function tried to add, delete, or change a read-only header ({trigger})."),
                name,
            )


def _status(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).isdigit():
        raise Violation(
            "status-invalid", _failed(f"The status must be a number or a string of digits: {value!r}.")
        )
    status = int(value)
    if not 200 <= status <= 599:
        raise Violation("status-invalid", _failed(f"The status {status} is not between 200 and 599."))
    return status


def _body_size(response: dict[str, Any]) -> int:
    body = response.get("body")
    if body is None:
        return 0
    if not isinstance(body, str):
        raise Violation("body-invalid", _failed("The body is not a string."))
    encoding = response.get("bodyEncoding", "text")
    if encoding not in ("text", "base64"):
        raise Violation(
            "body-invalid", _failed(f"The bodyEncoding must be text or base64, not {encoding!r}.")
        )
    if encoding == "base64":
        try:
            return len(base64.b64decode(body, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise Violation("body-invalid", _failed("The body is not valid base64.")) from exc
    return len(body.encode("utf-8"))


def _check_generated(trigger: Trigger, response: dict[str, Any]) -> None:
    status = _status(response.get("status"))
    description = response.get("statusDescription")
    if description is not None and not isinstance(description, str):
        raise Violation("status-invalid", _failed("The statusDescription must be a string."))
    values = _check_headers(response.get("headers", {}))
    for name in values:
        if is_disallowed(name):
            raise Violation(
                "disallowed-header",
                _failed("The function tried to add, delete, or change a disallowed header."),
                name,
            )
        if name in GENERATED_READ_ONLY:
            raise Violation(
                "read-only-header",
                _failed(f"A generated response may not set a read-only header ({trigger})."),
                name,
            )
    body_size = _body_size(response)
    if status in NO_BODY_STATUSES and body_size:
        raise Violation("body-not-allowed", _failed(f"A {status} response must not have a body."))
    size = body_size + sum(len(name) + sum(len(v) for v in vs) for name, vs in values.items())
    limit = trigger.generated_response_limit
    if size > limit:
        raise Violation(
            "response-too-large",
            _failed(f"The generated response is {size} bytes; {trigger} allows {limit} (headers and body)."),
        )


def _check_uri(before: dict[str, Any], request: dict[str, Any]) -> None:
    """What the function wrote into uri and querystring; what the viewer sent is CloudFront's own
    (a viewer may send `/??a=1`, whose querystring starts with `?`)."""
    uri = request.get("uri")
    if uri != before.get("uri"):
        if not isinstance(uri, str) or not uri.startswith("/") or _URI_FORBIDDEN.search(uri):
            message = f"The uri must be a string that starts with / and has no spaces: {uri!r}."
            raise Violation("uri-invalid", _failed(message))
        if len(uri.encode("utf-8")) > MAX_URI_BYTES:
            raise Violation("uri-invalid", _failed(f"The uri is longer than {MAX_URI_BYTES} bytes."))
    query = request.get("querystring", "")
    if query == before.get("querystring", ""):
        return
    if not isinstance(query, str) or query.startswith("?") or _URI_FORBIDDEN.search(query):
        raise Violation(
            "querystring-invalid",
            _failed(f"The querystring must be a string without a leading ? and without spaces: {query!r}."),
        )


def _check_origin(trigger: Trigger, before: dict[str, Any], request: dict[str, Any]) -> None:
    if request.get("origin") == before.get("origin"):
        return
    if trigger is not Trigger.ORIGIN_REQUEST:
        raise Violation("origin-read-only", _failed("The origin can be changed only at origin-request."))
    origin = request.get("origin")
    if not isinstance(origin, dict) or len(origin) != 1 or next(iter(origin)) not in ("custom", "s3"):
        raise Violation("origin-invalid", _failed("The origin must be an object with one of custom or s3."))
    details = next(iter(origin.values()))
    if (
        not isinstance(details, dict)
        or not isinstance(details.get("domainName"), str)
        or not details["domainName"]
    ):
        raise Violation("origin-invalid", _failed("The origin's domainName must be a non-empty string."))
    path = details.get("path", "")
    if not isinstance(path, str) or (path and (not path.startswith("/") or path.endswith("/"))):
        raise Violation(
            "origin-invalid", _failed(f"The origin path must start and not end with /: {path!r}.")
        )
    if "custom" in origin:
        port = details.get("port")
        if (
            not isinstance(port, int)
            or isinstance(port, bool)
            or not (port in (80, 443) or 1024 <= port <= 65535)
        ):
            raise Violation(
                "origin-invalid", _failed(f"The origin port must be 80, 443 or 1024-65535: {port!r}.")
            )
        if details.get("protocol") not in ("http", "https"):
            raise Violation("origin-invalid", _failed("The origin protocol must be http or https."))


def _check_request_body(trigger: Trigger, before: dict[str, Any], request: dict[str, Any]) -> None:
    body = request.get("body")
    if body == before.get("body"):
        return
    if "body" not in before:
        raise Violation("body-invalid", _failed("The request body is available only with IncludeBody."))
    if not isinstance(body, dict) or body.get("action") not in ("read-only", "replace"):
        raise Violation("body-invalid", _failed("The request body's action must be read-only or replace."))
    if body["action"] == "read-only":
        return
    if body.get("encoding") not in ("text", "base64") or not isinstance(body.get("data"), str):
        raise Violation(
            "body-invalid", _failed("A replaced body needs encoding text or base64 and string data.")
        )
    size = _body_size({"body": body["data"], "bodyEncoding": body["encoding"]})
    limit = trigger.generated_response_limit
    if size > limit:
        raise Violation(
            "body-too-large", _failed(f"The replaced request body is {size} bytes; {trigger} allows {limit}.")
        )


def _validate_request(
    trigger: Trigger, before: dict[str, Any], request: dict[str, Any], scan: Scan | None = None
) -> Outcome:
    for field in _READ_ONLY_FIELDS:
        if request.get(field) != before.get(field):
            raise Violation(
                "read-only-field", _failed(f"The function tried to change the read-only field {field}.")
            )
    _check_uri(before, request)
    _check_header_changes(trigger, _changed_headers(request.get("headers"), before["headers"], scan))
    _check_origin(trigger, before, request)
    _check_request_body(trigger, before, request)
    return Outcome("request", request, generated=False)


def _validate_response(
    trigger: Trigger, before: dict[str, Any], response: dict[str, Any], scan: Scan | None = None
) -> Outcome:
    status = _status(response.get("status"))
    if trigger is Trigger.VIEWER_RESPONSE and status != int(before["status"]):
        raise Violation(
            "status-read-only", _failed("A viewer-response function cannot change the status code.")
        )
    _check_header_changes(trigger, _changed_headers(response.get("headers"), before["headers"], scan))
    if "body" in response:
        body_size = _body_size(response)
        limit = trigger.generated_response_limit
        if status in NO_BODY_STATUSES and body_size:
            raise Violation("body-not-allowed", _failed(f"A {status} response must not have a body."))
        if body_size > limit:
            raise Violation(
                "response-too-large",
                _failed(f"The replaced body is {body_size} bytes; {trigger} allows {limit}."),
            )
    return Outcome("response", response, generated=False)


def validate(trigger: Trigger, before: dict[str, Any], result: Any) -> Outcome:
    """Check `result` (what the function returned) against `before` (the event's `cf` object)."""
    part = "request" if trigger.is_request else "response"
    plain = _plain_outcome(trigger, part, before[part], result)
    return plain if plain is not None else _validate_in_full(trigger, before, result)


def _validate_in_full(trigger: Trigger, before: dict[str, Any], result: Any) -> Outcome:
    if result is None:
        raise Violation(
            "not-an-object",
            "The Lambda function returned an invalid json output, json should be of object type "
            "(the function returned None: is a `return` missing?).",
        )
    part = "request" if trigger.is_request else "response"
    value, scan = _copied(result, before[part]["headers"])
    if not isinstance(value, dict):
        raise Violation(
            "not-an-object",
            "The Lambda function returned an invalid json output, json should be of object type "
            f"(got {type(value).__name__}).",
        )
    if trigger.is_request:
        if "status" in value:
            _check_generated(trigger, value)
            return Outcome("response", value, generated=True)
        return _validate_request(trigger, before["request"], value, scan)
    return _validate_response(trigger, before["response"], value, scan)


def _plain_outcome(trigger: Trigger, part: str, given: dict[str, Any], result: Any) -> Outcome | None:
    """The outcome of the commonest result, in one pass: the part it was given with only headers
    changed (each left as given, or one entry of string key and value), no rule broken. None for
    anything else, which the full path then judges (and refuses in CloudFront's order). What this
    accepts the full path accepts with an equal outcome (a property test holds them to it); it exists
    because a cache hit runs two functions, and the full path's steps cost several times their warm
    time on a request that finds its caches cold. Its loop starts as `_headers_copy`'s does and gives
    up where that one scans: built from `_headers_copy` and `_changed_headers` instead, a hit cost
    4 µs more (bench/edge_gateway.py), all this path saves."""
    if type(result) is not dict or result.keys() != given.keys():
        return None
    for key, item in result.items():
        if key != "headers" and not (type(item) is str and item == given[key]):
            return None  # a changed field, or one that is not text: the full path
    headers, given_headers = result["headers"], given["headers"]
    if type(headers) is not dict:
        return None
    copy: dict[str, Any] = {}
    shared: list[Any] = []
    changed: list[str] = []
    for name, entries in headers.items():
        if type(name) is not str:
            return None
        before = given_headers.get(name)
        if before is not None and entries == before:
            copy[name] = before
            shared.append(entries)
            continue
        if type(entries) is not list or len(entries) != 1:
            return None
        entry = entries[0]
        if type(entry) is not dict or len(entry) != 2:
            return None
        key, value = entry.get("key"), entry.get("value")
        if type(key) is not str or type(value) is not str or not _valid_entry(name, key, value):
            return None
        copy[name] = [dict(entry)]
        if before is None or [value] != [old["value"] for old in before]:
            changed.append(name)
    changed += [name for name in given_headers if name not in headers]
    if not _may_change(trigger, changed):
        return None
    if shared and not _exact_types(shared):
        return None
    return Outcome(part, {**result, "headers": copy}, generated=False)
