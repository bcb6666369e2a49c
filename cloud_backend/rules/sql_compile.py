"""IoT SQL compiled when a rule is loaded, so a message is not walked through the syntax tree node by
node: a statement's WHERE and SELECT become one generated Python function each (`sql_codegen`), and
what that does not write out itself, or an expression with a call that cannot be made, is one of the
closures made here. The interpreter in `sql_eval` stays the reference: both reuse its operators and
functions, and a property test holds them to the same answer for generated statements and payloads.
Pure, as the interpreter is.
"""

from __future__ import annotations

import contextlib
import operator
from collections.abc import Callable, Sequence
from typing import Any

from cloud_backend.rules.sql_ast import Binary, Call, Case, Expr, Literal, Path, Star, Statement, Unary, chain
from cloud_backend.rules.sql_codegen import generate_condition, generate_rules, generate_select
from cloud_backend.rules.sql_eval import (
    FUNCTIONS,
    UNDEFINED,
    Environment,
    Evaluator,
    Message,
    arithmetic,
    column_name,
    compare,
    is_number,
    literal_pattern,
    logical,
    takes,
)

Compiled = Callable[[Evaluator], Any]
# Python compiles at most 20 blocks nested in one another (each AND/OR chain or CASE in a generated
# function is one): a statement nested deeper than that keeps its closures
_TOO_DEEP = (SyntaxError, RecursionError)
COMPARISONS = ("=", "<>", "<", "<=", ">", ">=")


def compile_expression(expr: Expr) -> Compiled:
    if isinstance(expr, Literal):
        value = expr.value
        return lambda ev: value
    if isinstance(expr, Star):
        return lambda ev: ev.document
    if isinstance(expr, Path):
        return _compile_path(expr.steps)
    if isinstance(expr, Unary):
        operand = compile_expression(expr.operand)
        if expr.op == "NOT":

            def negation(ev: Evaluator) -> Any:
                value = operand(ev)
                return (not value) if isinstance(value, bool) else UNDEFINED

            return negation

        def minus(ev: Evaluator) -> Any:
            value = operand(ev)
            return -value if is_number(value) else UNDEFINED

        return minus
    if isinstance(expr, Binary):
        if expr.op in ("AND", "OR"):
            return _compile_logical(expr)
        left, right, op = compile_expression(expr.left), compile_expression(expr.right), expr.op
        if op in COMPARISONS:
            if isinstance(expr.right, Literal):
                specialised = _compare_with_literal(op, left, expr.right.value)
                if specialised is not None:
                    return specialised
            return lambda ev: compare(op, left(ev), right(ev))
        return lambda ev: arithmetic(op, left(ev), right(ev))
    if isinstance(expr, Case):
        return _compile_case(expr)
    return _compile_call(expr)


def _compile_logical(expr: Binary) -> Compiled:
    """A chain of ANDs (or of ORs) as one loop over its parts, not a call of `logical` per operator.
    The value is `logical`'s, whatever the chain's shape: Undefined as soon as a part is not a boolean
    (it makes every AND or OR above it Undefined, and the parts are pure, so the rest need not run),
    else the conjunction (disjunction) of the parts. A chain with a call that cannot be made is
    evaluated whole, operator by operator, as the interpreter does, so it fails the same way."""
    if not _calls_can_be_made(expr):
        left, right, op = compile_expression(expr.left), compile_expression(expr.right), expr.op
        return lambda ev: logical(op, left(ev), right(ev))
    parts = [compile_expression(part) for part in chain(expr, expr.op)]
    # AND: any false part makes it false; OR: any true part makes it true
    deciding, otherwise = (False, True) if expr.op == "AND" else (True, False)

    def chained(ev: Evaluator) -> Any:
        result = otherwise
        for part in parts:
            value = part(ev)
            if value is deciding:
                result = deciding
            elif value is not otherwise:
                return UNDEFINED
        return result

    return chained


def _compile_case(expr: Case) -> Compiled:
    subject = compile_expression(expr.subject)
    whens = [(compile_expression(test), compile_expression(result)) for test, result in expr.whens]
    default = compile_expression(expr.default) if expr.default is not None else None

    def case(ev: Evaluator) -> Any:
        value = subject(ev)
        if value is UNDEFINED:
            return UNDEFINED
        for test, result in whens:
            if compare("=", value, test(ev)) is True:
                return result(ev)
        return UNDEFINED if default is None else default(ev)

    return case


_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq, "<>": operator.ne, "<": operator.lt,
    "<=": operator.le, ">": operator.gt, ">=": operator.ge,
}  # fmt: skip


def _compare_with_literal(op: str, left: Compiled, literal: Any) -> Compiled | None:
    """`x op literal` for a number or string literal, with `compare`'s rules decided at load: against
    a number only a number compares, against a string only a string; anything else is Undefined."""
    apply = _OPERATORS[op]
    if is_number(literal):

        def with_number(ev: Evaluator) -> Any:
            value = left(ev)
            return apply(value, literal) if is_number(value) else UNDEFINED

        return with_number
    if type(literal) is str:

        def with_string(ev: Evaluator) -> Any:
            value = left(ev)
            return apply(value, literal) if type(value) is str else UNDEFINED

        return with_string
    return None


def compile_condition(expr: Expr) -> Callable[[Evaluator], bool]:
    """A WHERE: whether it is exactly true. `a AND b` is true only when both are exactly true, so a
    chain of ANDs stops at the first part that is not (the value of the whole, which a WHERE does not
    need, could be false or Undefined; either drops the message). A WHERE with a call that cannot be
    made (the wrong number of arguments: the parser refuses it, a hand-built statement may not) is
    evaluated whole, as the interpreter does, so it fails the same way wherever the call stands."""
    if not _calls_can_be_made(expr):
        value = compile_expression(expr)
        return lambda ev: value(ev) is True
    return _condition(expr)


def _condition(expr: Expr) -> Callable[[Evaluator], bool]:
    if isinstance(expr, Binary) and expr.op == "AND":
        parts = [_condition(part) for part in chain(expr, "AND")]

        def conjunction(ev: Evaluator) -> bool:
            # A loop, not all() over a generator (310 against 570 ns for eight parts): a WHERE runs
            # for every message.
            for part in parts:  # noqa: SIM110
                if not part(ev):
                    return False
            return True

        return conjunction
    value = compile_expression(expr)
    return lambda ev: value(ev) is True


def _calls_can_be_made(expr: Expr) -> bool:
    """Every call the interpreter would make has arguments its function takes (an unknown function's
    arguments are never evaluated)."""
    if isinstance(expr, Unary):
        return _calls_can_be_made(expr.operand)
    if isinstance(expr, Binary):
        return _calls_can_be_made(expr.left) and _calls_can_be_made(expr.right)
    if isinstance(expr, Case):
        parts = [expr.subject, *(part for when in expr.whens for part in when)]
        if expr.default is not None:
            parts.append(expr.default)
        return all(_calls_can_be_made(part) for part in parts)
    if isinstance(expr, Call):
        handler = FUNCTIONS.get(expr.name)
        if handler is None:
            return True
        return takes(handler, expr.args) and all(_calls_can_be_made(arg) for arg in expr.args)
    return True


def _compile_path(steps: tuple[str | int, ...]) -> Compiled:
    if len(steps) == 1 and isinstance(steps[0], str):
        key = steps[0]

        def field(ev: Evaluator) -> Any:
            """A top-level field (`text`, `room`): what most paths are, looked up in one step, without
            the loop over steps (a WHERE on a chat message reads about forty)."""
            document = ev.document
            return document.get(key, UNDEFINED) if isinstance(document, dict) else UNDEFINED

        return field

    def path(ev: Evaluator) -> Any:
        current = ev.document
        for step in steps:
            if isinstance(current, dict) and isinstance(step, str):
                if step not in current:
                    return UNDEFINED
                current = current[step]
            elif isinstance(current, list) and isinstance(step, int) and 0 <= step < len(current):
                current = current[step]
            else:
                return UNDEFINED
        return current

    return path


def _compile_call(call: Call) -> Compiled:
    handler = FUNCTIONS.get(call.name)
    if handler is None:
        return lambda ev: UNDEFINED
    if call.name == "encode" and call.args and isinstance(call.args[0], Star):

        def payload(ev: Evaluator) -> Any:  # `*` as an argument: the payload's bytes, JSON or not
            return ev.message.payload

        return _call_with(handler, [payload, *(compile_expression(a) for a in call.args[1:])])
    args = [compile_expression(a) for a in call.args]
    general = _call_with(handler, args)
    if call.name == "regexp_matches" and len(call.args) == 2 and isinstance(call.args[1], Literal):
        return _regexp_with_literal(args[0], call.args[1].value) or general
    return general


def _call_with(handler: Callable[..., Any], args: list[Compiled]) -> Compiled:
    """The call with its arguments evaluated left to right; the usual counts spelt out, since packing
    a generator into *args (400 against 90 ns for one argument) costs more than most of IoT SQL's
    functions themselves."""
    if not args:
        return lambda ev: handler(ev)
    if len(args) == 1:
        (first,) = args
        return lambda ev: handler(ev, first(ev))
    if len(args) == 2:
        first, second = args
        return lambda ev: handler(ev, first(ev), second(ev))
    return lambda ev: handler(ev, *[a(ev) for a in args])


def _regexp_with_literal(value: Compiled, pattern: Any) -> Compiled | None:
    """`regexp_matches(x, 'pattern')` with the pattern compiled once at load."""
    compiled = literal_pattern(pattern)
    if compiled is None:
        return None  # the general path answers Undefined for it, as the interpreter does

    def matches(ev: Evaluator) -> Any:
        text = value(ev)
        return compiled.search(text) is not None if isinstance(text, str) else UNDEFINED

    return matches


class CompiledStatement:
    """A statement's WHERE (whether it holds) and SELECT as Python functions (`sql_codegen`, with the
    closures here for what it does not write out itself); `where` is None when the statement has
    none. `select` is for a message the WHERE holds for (it may count on what the WHERE checked)."""

    def __init__(self, statement: Statement) -> None:
        self.statement = statement
        self.where: Callable[[Evaluator], bool] | None = None
        writable = statement.where is not None and _calls_can_be_made(statement.where)
        generated_where = statement.where is None
        if statement.where is not None:
            if writable:
                with contextlib.suppress(*_TOO_DEEP):
                    self.where = generate_condition(statement.where, compile_expression)
                    generated_where = True
            if self.where is None:
                self.where = compile_condition(statement.where)
        items: list[tuple[str | None, Expr | None, bool]] = []
        for item in statement.select:
            if isinstance(item.expr, Star) and item.alias is None:
                items.append((None, None, True))
            else:
                key = item.alias or column_name(item.expr)
                items.append((key, item.expr, _calls_can_be_made(item.expr)))
        try:
            self.select: Callable[[Evaluator], dict[str, Any]] = generate_select(
                items, compile_expression, statement.where if writable else None
            )
        except _TOO_DEEP:  # every item its closure: a call each, nothing nested in the generated text
            self.select = generate_select([(k, e, False) for k, e, _ in items], compile_expression)
            generated_where = False
        # what `compile_rules` writes into one function with the others a topic reaches, if the
        # WHERE and the SELECT could each be written out (None: this statement keeps its functions)
        self.selecting = (statement.where, items) if generated_where else None

    def evaluate(self, message: Message, environment: Environment) -> dict[str, Any] | None:
        """As `sql_eval.evaluate`: the output, or None when the WHERE does not hold."""
        evaluator = Evaluator(message, message.document(), environment)
        if self.where is not None and self.where(evaluator) is not True:
            return None
        return self.select(evaluator)


Rules = Callable[[Evaluator, Callable[[int, dict[str, Any]], None]], None]


def compile_rules(statements: Sequence[tuple[CompiledStatement, int]]) -> Rules | None:
    """The statements one topic reaches, each with the slot of those sharing its WHERE, as one
    generated function (`sql_codegen.generate_rules`); None when one of them keeps its own functions
    or the whole would nest deeper than Python compiles."""
    selecting = []
    for compiled, slot in statements:
        if compiled.selecting is None:
            return None
        where, items = compiled.selecting
        selecting.append((where, slot, items))
    with contextlib.suppress(*_TOO_DEEP):
        return generate_rules(selecting, compile_expression)
    return None
