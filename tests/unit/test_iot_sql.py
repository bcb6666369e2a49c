"""IoT SQL: parse errors with positions, and evaluation with IoT SQL's Undefined semantics."""

from __future__ import annotations

import base64
import json
import random
import uuid

import pytest

from cloud_backend.rules.engine import random_uuid
from cloud_backend.rules.sql_eval import Environment, Message, evaluate
from cloud_backend.rules.sql_parser import SqlSyntaxError, parse

ENV = Environment(now_ms=lambda: 1_700_000_000_123, new_uuid=lambda: "00000000-0000-4000-8000-000000000001")


def run(sql: str, payload, topic: str = "chat/out", client_id: str = "ada-1"):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return evaluate(parse(sql), Message(topic, raw, client_id), ENV)


def test_select_star_with_functions_and_aliases():
    result = run(
        "SELECT *, clientid() AS sender, timestamp() AS ts, newuuid() AS id2, topic(2) AS leaf "
        "FROM 'chat/out' WHERE type = 'message'",
        {"type": "message", "room": "lobby", "text": "hi"},
    )
    assert result == {
        "type": "message",
        "room": "lobby",
        "text": "hi",
        "sender": "ada-1",
        "ts": 1_700_000_000_123,
        "id2": "00000000-0000-4000-8000-000000000001",
        "leaf": "out",
    }


def test_the_engines_newuuid_is_a_random_version_4_uuid():
    """IoT Core's newuuid() gives a random UUID; the engine's (drawn from `random`, without a system
    call per message) has the same form, and no two of many are the same."""
    drawn = [random_uuid() for _ in range(10_000)]
    assert len(set(drawn)) == len(drawn)
    for text in drawn[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122
    state = random.getstate()  # the same draws give what the uuid module makes of them
    written = [random_uuid() for _ in range(1000)]
    random.setstate(state)
    assert written == [str(uuid.UUID(int=random.getrandbits(128), version=4)) for _ in range(1000)]


@pytest.mark.parametrize("expression", ["length(4)", "regexp_matches(room, '(')", "nothing.here"])
def test_undefined_results_leave_the_key_out(expression):
    assert run(f"SELECT {expression} AS v, 1 AS k FROM 'chat/out'", {"room": "lobby"}) == {"k": 1}


def test_where_that_is_not_true_drops_the_message():
    assert run("SELECT * FROM 'chat/out' WHERE type = 'join'", {"type": "message"}) is None
    assert run("SELECT * FROM 'chat/out' WHERE missing > 3", {"type": "message"}) is None  # Undefined
    assert run("SELECT * FROM 'chat/out' WHERE NOT isUndefined(text)", {"text": "x"}) == {"text": "x"}
    assert run("SELECT * FROM 'chat/out' WHERE NOT isUndefined(text)", {"room": "x"}) is None


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("7.0 / 2", 3.5),
        ("7 % 3", 1),
        ("round(2.5)", 3),
        ("round(-2.5)", -3),
        ("floor(-1.2)", -2),
        ("abs(-4)", 4),
        ("lower('AbC')", "abc"),
        ("upper(user)", "ADA"),
        ("concat('room-', room)", "room-lobby"),
        ("concat(1700, '#', 'a')", "1700#a"),
        (
            "concat(reading, '|', tags, '|', 1.5, '|', reading.value > 1)",
            '{"value":21.5,"unit":"C"}|["a","b"]|1.5|true',
        ),
        ("isString(room)", True),
        ("isString(4)", False),
        ("isNumber(4.5)", True),
        ("length(room)", 5),
        ("regexp_matches(room, '^(lobby|field)$')", True),
        ("regexp_matches(room, '^(field)$')", False),
        ("concat(tags, tags)", ["a", "b", "a", "b"]),
        ("get(tags, 1)", "b"),
        ("get(reading, 'value')", 21.5),
        ("reading.value * 2", 43.0),
        ("tags[0]", "a"),
        ("reading.value > 20 AND reading.unit = 'C'", True),
        ("reading.value < 20 OR user <> 'ada'", False),
        ("1 = 1.0", True),
    ],
)
def test_expressions(expression, expected):
    payload = {"room": "lobby", "user": "ada", "tags": ["a", "b"], "reading": {"value": 21.5, "unit": "C"}}
    assert run(f"SELECT {expression} AS v FROM 'chat/out'", payload) == {"v": expected}


@pytest.mark.parametrize(
    "expression",
    [
        "missing",
        "1 / 0",
        "'a' + 1",
        "lower(5)",
        "get(tags, 9)",
        "topic(9)",
        "reading.value.deeper",
        "'a' < 1",
    ],
)
def test_undefined_drops_the_key(expression):
    payload = {"tags": ["a"], "reading": {"value": 1}}
    assert run(f"SELECT {expression} AS v, 1 AS one FROM 'chat/out'", payload) == {"one": 1}


def test_unaliased_names_and_non_json_payloads():
    assert run("SELECT reading.value, topic() FROM 't/x'", {"reading": {"value": 3}}, topic="t/x") == {
        "value": 3,
        "topic": "t/x",
    }
    raw = b"\x00\xffbinary"
    result = run(
        "SELECT encode(*, 'base64') AS data, topic(1) AS t FROM 'chat/stream'", raw, topic="chat/stream"
    )
    assert result == {"data": base64.b64encode(raw).decode(), "t": "chat"}
    assert run("SELECT * FROM 'x'", raw) == {}


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT * FROM chat/out", "expected a quoted topic filter after FROM, found 'chat' at column 15"),
        ("SELECT a FROM 'x' WHERE (b = ", "expected an expression, found 'the end' at column 30"),
        ("SELECT a AS FROM 'x'", "expected a name after AS, found 'FROM' at column 13"),
        ("SELECT a FROM 'x' WHERE b = 1 extra", "unexpected 'extra' at column 31"),
        ("SELECT a # b FROM 'x'", "unexpected character '#' at column 10"),
        ("FROM 'x'", "expected SELECT, found 'FROM' at column 1"),
        ("SELECT get(a, 1).b FROM 'x'", "only payload fields can be followed by . or [ at column 17"),
        ("SELECT CASE a END AS x FROM 'x'", "expected WHEN after CASE's value, found 'END' at column 15"),
        (
            "SELECT CASE a WHEN 1 THEN 2 AS x FROM 'x'",
            "expected END or another WHEN, found 'AS' at column 29",
        ),
        ("SELECT length(a, b) AS n FROM 'x'", "length() does not take 2 argument(s) at column 8"),
        ("SELECT topic(1, 2, 3) FROM 'x'", "topic() does not take 3 argument(s) at column 8"),
    ],
)
def test_syntax_errors_name_the_position(sql, message):
    with pytest.raises(SqlSyntaxError) as raised:
        parse(sql)
    assert str(raised.value) == message


def test_a_function_the_engine_does_not_run_is_refused_naming_it_and_those_it_runs():
    with pytest.raises(SqlSyntaxError) as raised:
        parse("SELECT a FROM 'x' WHERE startsWith(a, 'b')")
    message = str(raised.value)
    assert message.startswith("startsWith() is not a function the local rules engine runs (abs, ceil, ")
    assert message.endswith(", upper) at column 25") and "regexp_matches" in message


COLOURS = (
    "SELECT CASE color WHEN 'green' THEN 'go' WHEN 'yellow' THEN 'caution' WHEN 'red' THEN 'stop' "
    "ELSE 'you are not at a stop light' END AS instructions FROM 'topic/subtopic'"
)


@pytest.mark.parametrize(
    ("sql", "payload", "expected"),
    [
        (COLOURS, {"color": "yellow"}, {"instructions": "caution"}),  # the IoT SQL guide's example
        (COLOURS, {"color": "blue"}, {"instructions": "you are not at a stop light"}),
        (COLOURS, {"colour": "red"}, {}),  # the value is Undefined: so is the CASE, ELSE or not
        ("SELECT CASE n WHEN 1 THEN 'one' END AS v FROM 'x'", {"n": 2}, {}),  # no match, no ELSE
        ("SELECT CASE n WHEN 1.0 THEN 'float' WHEN 1 THEN 'int' END AS v FROM 'x'", {"n": 1}, {"v": "float"}),
        ("SELECT CASE n WHEN '1' THEN 'text' ELSE 'other' END AS v FROM 'x'", {"n": 1}, {"v": "other"}),
        (
            "SELECT CASE isString(t) WHEN true THEN CASE length(t) WHEN 0 THEN 'empty' ELSE t END "
            "ELSE 'not text' END AS v FROM 'x'",
            {"t": ""},
            {"v": "empty"},
        ),
        (
            "SELECT * FROM 'x' WHERE CASE isString(t) WHEN true THEN length(t) > 2 ELSE false END",
            {"t": "long"},
            {"t": "long"},
        ),
        (
            "SELECT * FROM 'x' WHERE NOT (CASE isString(t) WHEN true THEN length(t) > 2 ELSE false END)",
            {"t": 7},  # NOT of a CASE that is never Undefined: a WHERE that holds when t is not text
            {"t": 7},
        ),
    ],
)
def test_case_takes_the_first_equal_when_else_its_else(sql, payload, expected):
    assert run(sql, payload) == expected
