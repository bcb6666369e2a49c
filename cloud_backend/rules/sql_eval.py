"""Evaluating a parsed IoT SQL statement against one message. Pure: time and ids are passed in.

Hand-written with the parser (see `sql_parser`). Semantics follow IoT SQL: a missing field is
Undefined; operators and functions given Undefined or the wrong types give Undefined; Undefined in a
SELECT drops the key; a WHERE that is not exactly true drops the message; Int / Int stays an Int.

`Evaluator`, `FUNCTIONS` and the operator functions (`logical`, `compare`, `arithmetic`) are shared
with `sql_compile`, whose closures call them, so the compiled rules and this reference agree by
construction where they can and by the property test where they cannot.
"""

from __future__ import annotations

import base64
import inspect
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from cloud_backend.rules.sql_ast import Binary, Call, Case, Expr, Literal, Path, Star, Statement, Unary
from edgeway_common import json_codec


class _Undefined:
    def __repr__(self) -> str:
        return "Undefined"


UNDEFINED: Any = _Undefined()


class Message:
    """One message as a rule sees it. Its payload is read as JSON when a rule first needs it, once
    however many rules do. A class with slots and its own cache, not a frozen dataclass with a
    `cached_property` (each of which takes a lock on Python 3.11): one is made for every message."""

    __slots__ = ("_document", "client_id", "payload", "topic")

    def __init__(self, topic: str, payload: bytes, client_id: str = "") -> None:
        self.topic, self.payload, self.client_id = topic, payload, client_id
        self._document: Any = _UNREAD

    def __repr__(self) -> str:
        return f"Message(topic={self.topic!r}, payload={self.payload!r}, client_id={self.client_id!r})"

    def document(self) -> Any:
        """The payload as JSON; Undefined when it is not JSON."""
        document = self._document
        if document is _UNREAD:
            try:
                document = json_codec.loads(self.payload)
            except (UnicodeDecodeError, ValueError):
                document = UNDEFINED
            self._document = document
        return document


_UNREAD: Any = object()


class Environment(NamedTuple):
    """The clock and the ids a statement reads (`timestamp()`, `newuuid()`). A named tuple: the
    engine makes one per message, with that message's time."""

    now_ms: Callable[[], int]
    new_uuid: Callable[[], str]


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def arithmetic(op: str, left: Any, right: Any) -> Any:
    if not (is_number(left) and is_number(right)):
        return UNDEFINED
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0:
        return UNDEFINED
    if op == "/":
        if isinstance(left, int) and isinstance(right, int):
            return int(left / right)  # Int / Int truncates toward zero, as IoT SQL does
        return left / right
    return (
        math.fmod(left, right)
        if isinstance(left, float) or isinstance(right, float)
        else int(math.fmod(left, right))
    )


def compare(op: str, left: Any, right: Any) -> Any:
    comparable = (is_number(left) and is_number(right)) or (
        type(left) is type(right) and left is not UNDEFINED
    )
    if not comparable:
        return UNDEFINED
    if op == "=":
        return left == right
    if op == "<>":
        return left != right
    if isinstance(left, (dict, list, bool)) or left is None:
        return UNDEFINED
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def logical(op: str, left: Any, right: Any) -> Any:
    if not isinstance(left, bool) or not isinstance(right, bool):
        return UNDEFINED
    return (left and right) if op == "AND" else (left or right)


_COMPACT = json.JSONEncoder(separators=(",", ":"))  # made once: `json.dumps` with an option makes one a call


def text_of(value: Any) -> str:
    """A value as text (concat, substitution templates): a string as it is, else compact JSON."""
    if isinstance(value, str):
        return value
    if type(value) is int:  # a timestamp in a sort key: what JSON writes for it
        return str(value)
    return _COMPACT.encode(value)


class Evaluator:
    __slots__ = ("document", "environment", "message")

    def __init__(self, message: Message, document: Any, environment: Environment) -> None:
        self.message, self.document, self.environment = message, document, environment

    def value(self, expr: Expr) -> Any:
        if isinstance(expr, Literal):
            return expr.value
        if isinstance(expr, Star):
            return self.document
        if isinstance(expr, Path):
            return self._path(expr)
        if isinstance(expr, Unary):
            operand = self.value(expr.operand)
            if expr.op == "NOT":
                return (not operand) if isinstance(operand, bool) else UNDEFINED
            return -operand if is_number(operand) else UNDEFINED
        if isinstance(expr, Binary):
            left, right = self.value(expr.left), self.value(expr.right)
            if expr.op in ("AND", "OR"):
                return logical(expr.op, left, right)
            if expr.op in ("=", "<>", "<", "<=", ">", ">="):
                return compare(expr.op, left, right)
            return arithmetic(expr.op, left, right)
        if isinstance(expr, Case):
            subject = self.value(expr.subject)
            if subject is UNDEFINED:
                return UNDEFINED
            for test, result in expr.whens:  # in order: the first equal one
                if compare("=", subject, self.value(test)) is True:
                    return self.value(result)
            return UNDEFINED if expr.default is None else self.value(expr.default)
        return self._call(expr)

    def _path(self, path: Path) -> Any:
        current = self.document
        for step in path.steps:
            found = _get(self, current, step)
            if found is UNDEFINED:
                return UNDEFINED
            current = found
        return current

    def _call(self, call: Call) -> Any:
        handler = FUNCTIONS.get(call.name)
        if handler is None:
            return UNDEFINED
        if call.name == "encode" and call.args and isinstance(call.args[0], Star):
            args = [self.message.payload, *(self.value(a) for a in call.args[1:])]
        else:
            args = [self.value(arg) for arg in call.args]
        return handler(self, *args)

    # -- functions ---------------------------------------------------------------------------------

    def clientid(self) -> Any:
        return self.message.client_id or UNDEFINED

    def timestamp(self) -> Any:
        return self.environment.now_ms()

    def topic(self, index: Any = None) -> Any:
        if index is None:
            return self.message.topic
        parts = self.message.topic.split("/")
        return parts[index - 1] if isinstance(index, int) and 1 <= index <= len(parts) else UNDEFINED

    def newuuid(self) -> Any:
        return self.environment.new_uuid()


def _numeric(function: Callable[[Any], Any]) -> Callable[..., Any]:
    return lambda evaluator, value: function(value) if is_number(value) else UNDEFINED


def _string(function: Callable[[str], Any]) -> Callable[..., Any]:
    return lambda evaluator, value: function(value) if isinstance(value, str) else UNDEFINED


def _round(value: float) -> int:
    return math.floor(abs(value) + 0.5) * (1 if value >= 0 else -1)


def _concat(evaluator: Evaluator, *values: Any) -> Any:
    # loops and a list, not any()/all() over generators: the store rule's sort key is a concat, made
    # for every chat message
    if not values:
        return UNDEFINED
    lists = True
    for value in values:
        if value is UNDEFINED:
            return UNDEFINED
        if lists and not isinstance(value, list):
            lists = False
    if lists:
        return [item for value in values for item in value]
    return "".join([text_of(value) for value in values])


def _get(evaluator: Evaluator, container: Any, key: Any) -> Any:
    if isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container):
        return container[key]
    if isinstance(container, dict) and isinstance(key, str) and key in container:
        return container[key]
    return UNDEFINED


def _encode(evaluator: Evaluator, value: Any, encoding: Any) -> Any:
    if encoding != "base64" or value is UNDEFINED:
        return UNDEFINED
    raw = value if isinstance(value, bytes) else text_of(value).encode()
    return base64.b64encode(raw).decode("ascii")


def literal_pattern(pattern: Any) -> re.Pattern[str] | None:
    """A `regexp_matches` pattern given as a literal, compiled once at load; None when it is not a
    string or does not compile (the function answers Undefined for it)."""
    if not isinstance(pattern, str):
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None


def _regexp_matches(evaluator: Evaluator, value: Any, pattern: Any) -> Any:
    if not isinstance(value, str) or not isinstance(pattern, str):
        return UNDEFINED
    try:
        return re.search(pattern, value) is not None
    except re.error:
        return UNDEFINED


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "isstring": lambda evaluator, value: isinstance(value, str),
    "isnumber": lambda evaluator, value: is_number(value),
    "length": _string(len),
    "regexp_matches": _regexp_matches,
    "clientid": Evaluator.clientid,
    "timestamp": Evaluator.timestamp,
    "topic": Evaluator.topic,
    "newuuid": Evaluator.newuuid,
    "isundefined": lambda evaluator, value: value is UNDEFINED,
    "round": _numeric(_round),
    "floor": _numeric(math.floor),
    "ceil": _numeric(math.ceil),
    "abs": _numeric(abs),
    "lower": _string(str.lower),
    "upper": _string(str.upper),
    "concat": _concat,
    "get": _get,
    "encode": _encode,
}


def takes(function: Callable[..., Any], args: Sequence[Any]) -> bool:
    """Whether one of `FUNCTIONS` takes this many arguments (after the evaluator)."""
    try:
        inspect.signature(function).bind(None, *args)
    except TypeError:
        return False
    return True


def column_name(expr: Expr) -> str:
    if isinstance(expr, Path):
        last = expr.steps[-1]
        return last if isinstance(last, str) else str(expr.steps[0])
    if isinstance(expr, Call):
        return expr.name
    return "_value"


def evaluate(statement: Statement, message: Message, environment: Environment) -> dict[str, Any] | None:
    """The rule's output for this message, or None when its WHERE does not hold."""
    document = message.document()
    evaluator = Evaluator(message, document, environment)
    if statement.where is not None and evaluator.value(statement.where) is not True:
        return None
    result: dict[str, Any] = {}
    for item in statement.select:
        if isinstance(item.expr, Star) and item.alias is None:
            if isinstance(document, dict):
                result.update(document)
            continue
        value = evaluator.value(item.expr)
        if value is not UNDEFINED:
            result[item.alias or column_name(item.expr)] = value
    return result
