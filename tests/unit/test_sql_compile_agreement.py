"""The compiled IoT SQL (functions generated at load, closures for the rest) against the interpreter
(the reference), on generated statements and payloads: the same output, or the same dropped message,
every time."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bench.rules import template_rules
from cloud_backend.rules.engine import RulesEngine
from cloud_backend.rules.model import PutItem, Rule
from cloud_backend.rules.sql_ast import Binary, Call, Case, Literal, Path, SelectItem, Star, Statement, Unary
from cloud_backend.rules.sql_compile import CompiledStatement
from cloud_backend.rules.sql_eval import Environment, Message, evaluate

NAMES = ["a", "b", "room", "text", "value", "temp"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-50, 50), st.floats(-100, 100, allow_nan=False, width=32),
    st.sampled_from(["", "lobby", "x y", "Hello"]),
)  # fmt: skip
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(NAMES), inner, max_size=4)
    ),
    max_leaves=12,
)
leaves = st.one_of(
    scalars.map(Literal),
    st.lists(st.one_of(st.sampled_from(NAMES), st.integers(0, 2)), min_size=1, max_size=3).map(
        lambda s: Path(tuple(s))
    ),
    st.just(Star()),
)
FUNCTIONS = ["isstring", "isnumber", "length", "lower", "upper", "abs", "round", "floor", "ceil", "concat",
             "isundefined", "topic", "clientid", "timestamp", "get", "regexp_matches", "encode",
             "nosuch"]  # fmt: skip
expressions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.tuples(st.sampled_from(["NOT", "-"]), inner).map(lambda t: Unary(*t)),
        st.tuples(
            st.sampled_from(["+", "-", "*", "/", "%", "=", "<>", "<", "<=", ">", ">=", "AND", "OR"]),
            inner,
            inner,
        ).map(lambda t: Binary(*t)),
        st.tuples(st.sampled_from(FUNCTIONS), st.lists(inner, max_size=3)).map(
            lambda t: Call(t[0], tuple(t[1]))
        ),
        st.tuples(inner, st.lists(st.tuples(inner, inner), min_size=1, max_size=2), st.none() | inner).map(
            lambda t: Case(t[0], tuple(t[1]), t[2])
        ),
    ),
    max_leaves=10,
)
statements = st.builds(
    Statement,
    st.lists(
        st.builds(SelectItem, expressions, st.one_of(st.none(), st.sampled_from(NAMES))),
        min_size=1,
        max_size=4,
    ).map(tuple),
    st.just("chat/out"),
    st.one_of(st.none(), expressions),
)
ENVIRONMENT = Environment(now_ms=lambda: 1_800_000_000_000, new_uuid=lambda: "u-1")


def same(run):
    """The answer as text, or the error's type (a call with the wrong number of arguments fails in
    both: the parser refuses such statements, the generator does not)."""
    try:
        return json.dumps(run(), sort_keys=True, default=repr)
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        return type(exc).__name__


@settings(max_examples=3000, deadline=None)
@given(statements, documents, st.sampled_from(["chat/out", "a/b/c"]))
@example(  # a WHERE whose AND chain could stop before a call that cannot be made: both must fail
    Statement(
        (SelectItem(Literal(None), None),), "chat/out", Binary("AND", Literal(None), Call("isstring", ()))
    ),
    None,
    "chat/out",
)
def test_the_compiled_statement_answers_as_the_interpreter_does(statement, document, topic):
    message = Message(topic, json.dumps(document).encode(), "client-1")
    compiled = same(lambda: CompiledStatement(statement).evaluate(message, ENVIRONMENT))
    assert compiled == same(lambda: evaluate(statement, message, ENVIRONMENT))


@settings(max_examples=300, deadline=None)
@given(statements, st.binary(max_size=20))
def test_they_agree_on_payloads_that_are_not_json_too(statement, payload):
    message = Message("chat/out", payload, "")
    compiled = same(lambda: CompiledStatement(statement).evaluate(message, ENVIRONMENT))
    assert compiled == same(lambda: evaluate(statement, message, ENVIRONMENT))


def test_a_statement_nested_deeper_than_python_compiles_keeps_its_closures_and_agrees():
    """Thirty AND/OR levels and a CASE: past the 20 nested blocks Python compiles in one function."""
    nested = Binary("=", Path(("a",)), Literal(1))
    for level in range(30):
        nested = Binary("AND" if level % 2 else "OR", Path(("b",)), nested)
    nested = Case(nested, ((Literal(True), Literal("yes")),), Literal("no"))
    statement = Statement((SelectItem(nested, "v"),), "chat/out", Binary("<>", nested, Literal("never")))
    compiled = CompiledStatement(statement)
    assert not hasattr(compiled.where, "source")  # the closures; a shallow statement is generated:
    assert hasattr(CompiledStatement(Statement((), "chat/out", Path(("b",)))).where, "source")
    for document in ({"a": 1, "b": True}, {"a": 2, "b": False}, {"a": 1, "b": False}, {"b": "x"}, []):
        message = Message("chat/out", json.dumps(document).encode(), "client-1")
        assert compiled.evaluate(message, ENVIRONMENT) == evaluate(statement, message, ENVIRONMENT)


# Statements shaped like the template's: guards on top-level fields (isString, = 'text'), then uses that
# the guards make needless to check (length, comparisons, patterns), in a WHERE's AND chain and in a
# CASE WHEN true, beside SELECT items built on timestamp(), concat and floor: where the generated code
# leaves a type check out, the interpreter still makes it.
def _field(name):
    return Path((name,))


GUARDED = ["room", "text"]  # few names: a guard and a use meet often
guard_parts = st.sampled_from(GUARDED).flatmap(
    lambda name: st.one_of(
        st.just(Call("isstring", (_field(name),))),
        st.sampled_from(["", "lobby", "x y"]).map(lambda text: Binary("=", _field(name), Literal(text))),
        st.tuples(st.sampled_from(["<", "<=", ">", ">=", "=", "<>"]), st.integers(0, 6)).map(
            lambda t: Binary(t[0], Call("length", (_field(name),)), Literal(t[1]))
        ),
        st.sampled_from(["^[a-z]", "[^a-z ]", "y"]).map(
            lambda pattern: Unary("NOT", Call("regexp_matches", (_field(name), Literal(pattern))))
        ),
        st.sampled_from([0, 2.5, -1]).map(lambda n: Binary(">", _field(name), Literal(n))),
        st.just(Call("isundefined", (_field(name),))),
        st.just(
            Binary(
                "=",
                Call("concat", (_field(name), Literal("#"), Call("length", (_field(name),)))),
                Literal("a#1"),
            )
        ),
    )
)


def _and(parts):
    joined = parts[0]
    for part in parts[1:]:
        joined = Binary("AND", joined, part)
    return joined


guards = st.lists(guard_parts, min_size=1, max_size=6).map(_and)
guarded_wheres = st.one_of(
    guards,
    st.tuples(guards, st.booleans(), guards, st.sampled_from([Literal(False), Literal(None), None])).map(
        lambda t: Unary("NOT", Case(t[0], ((Literal(t[1]), t[2]),), t[3]))
    ),
)
guarded_items = st.sampled_from(GUARDED).flatmap(
    lambda name: st.sampled_from(
        [
            Call(
                "concat",
                (Call("timestamp", ()), Literal("#"), _field(name), Literal("#"), Call("newuuid", ())),
            ),
            Binary("+", Call("floor", (Binary("/", Call("timestamp", ()), Literal(1000)),)), Literal(86400)),
            Binary("+", Call("floor", (Binary("/", _field(name), Literal(3)),)), Literal(1)),
            Unary("-", Call("length", (_field(name),))),
            Case(
                Call("isstring", (_field(name),)),
                ((Literal(True), Call("length", (_field(name),))),),
                Literal(-1),
            ),
            _field(name),
        ]
    )
)
guarded_documents = st.dictionaries(
    st.sampled_from(GUARDED),
    st.one_of(
        st.sampled_from(["", "a", "lobby", "x y", "Lobby", "a#1", "y-1"]),
        st.integers(-5, 9),
        st.floats(-9, 9),
    ),
    max_size=6,
)


@settings(max_examples=3000, deadline=None)
@given(
    guarded_wheres,
    st.lists(st.builds(SelectItem, guarded_items, st.sampled_from(NAMES)), min_size=1, max_size=4),
    guarded_documents,
)
def test_what_a_guard_makes_known_gives_the_interpreters_answers(where, items, document):
    statement = Statement(tuple(items), "chat/out", where)
    message = Message("chat/out", json.dumps(document).encode(), "client-1")
    compiled = CompiledStatement(statement)
    assert hasattr(compiled.where, "source")  # the generated function, not the closures
    assert same(lambda: compiled.evaluate(message, ENVIRONMENT)) == same(
        lambda: evaluate(statement, message, ENVIRONMENT)
    )


class Recorder:
    """An action runner that keeps what the engine runs, in order."""

    def __init__(self):
        self.ran = []

    def run(self, call, failed):
        self.ran.append((call.rule.name, call.output))


def rule_by_rule(rules, message):
    """The interpreter's answers for each rule in turn, to the first that fails (and its error)."""
    fired = []
    for rule in rules:
        try:
            output = evaluate(rule.statement, message, ENVIRONMENT)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            return fired, type(exc).__name__
        if output is not None:
            fired.append((rule.name, output))
    return fired, None


shared_wheres = st.lists(st.one_of(guarded_wheres, st.none()), min_size=1, max_size=3)


@settings(max_examples=1500, deadline=None)
@given(
    shared_wheres,
    st.lists(
        st.tuples(
            st.integers(0, 2),
            st.lists(st.builds(SelectItem, guarded_items | expressions, st.sampled_from(NAMES)), max_size=3),
        ),
        min_size=1,
        max_size=4,
    ),
    guarded_documents | documents,
)
def test_the_rules_a_topic_reaches_as_one_function_fire_as_the_interpreter_answers_rule_by_rule(
    wheres, selects, document
):
    """Rules whose WHEREs are shared, guarded or absent, through `RulesEngine.process` (one generated
    function for the topic's rules where they can be one): the rules that fire, in order, with their
    outputs, and where one fails, the same failure after the same rules."""
    rules = [
        Rule(f"r{n}", Statement(tuple(items), "chat/out", wheres[at % len(wheres)]), (PutItem("t"),))
        for n, (at, items) in enumerate(selects)
    ]
    recorder = Recorder()
    engine = RulesEngine(rules, recorder, now_ms=lambda: 1_800_000_000_000, new_uuid=lambda: "u-1")
    payload = json.dumps(document).encode()
    expected, failure = rule_by_rule(rules, Message("chat/out", payload, "client-1"))
    try:
        engine.process("chat/out", payload, "client-1")
        raised = None
    except (TypeError, ValueError, OverflowError, RecursionError) as exc:
        raised = type(exc).__name__
    assert raised == failure
    assert json.dumps(recorder.ran, sort_keys=True, default=repr) == json.dumps(
        expected, sort_keys=True, default=repr
    )


def test_the_template_rules_on_chat_out_are_one_generated_function():
    engine = RulesEngine(template_rules(), Recorder())
    assert engine._rules_for("chat/out").generated is not None
    assert engine._rules_for("chat/pub/lobby").matching == ()
