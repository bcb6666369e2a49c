"""IoT SQL generated as Python source when a rule is loaded: a statement's WHERE becomes one function
and its SELECT another, each a straight run of statements over the message's fields; the rules one
topic reaches become one function too (`generate_rules`), which the engine runs for every message on
that topic.

Why source and not only closures (`sql_compile`): a chat message's WHERE made of closures is about a
hundred calls, each a frame and a cell or two; as one function it is a few dozen bytecodes over local
variables: back to back the rules on a chat message cost two thirds of what they did, and after the
process has slept between two messages (200 a second: the caches are cold) about half
(`bench/idle_gap.py`).
Written by hand because no library compiles IoT SQL. The closures stay: a node this module does not
write out itself is called as its closure, and so is any expression with a call that cannot be made
(the interpreter's way of failing is kept).

Safety: the source is made only of names this module chooses, Python operators and indexes. Every
value from the statement (a literal, a field name, a pattern, an alias) goes into a tuple of constants
(`K[3]`), never into the text, so no statement can write code.

Values are JSON's and the functions' own (exact int, float, str, bool, None, list, dict), so an exact
type check (`type(v) in NUMBERS`) answers what `is_number`'s isinstance checks answer. The property
test (`tests/unit/test_sql_compile_agreement.py`) holds the functions to the interpreter's answers.
"""

from __future__ import annotations

import math
import types
from collections.abc import Callable, Sequence
from typing import Any

from cloud_backend.rules.sql_ast import Binary, Call, Case, Expr, Literal, Path, Star, Unary, chain
from cloud_backend.rules.sql_eval import (
    FUNCTIONS,
    UNDEFINED,
    Evaluator,
    arithmetic,
    compare,
    is_number,
    literal_pattern,
    text_of,
)

Generated = Callable[[Evaluator], Any]
_PYTHON_OPERATORS = {"=": "==", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
# functions written out in place of a call, as `sql_eval.FUNCTIONS` computes them ({0}: the argument)
_WRITTEN_OUT = {
    "isstring": "isinstance({0}, str)",
    "length": "len({0}) if isinstance({0}, str) else UNDEFINED",
    "isundefined": "{0} is UNDEFINED",
    "clientid": "ev.message.client_id or UNDEFINED",
    "newuuid": "ev.environment.new_uuid()",
    "floor": "floor({0}) if type({0}) in NUMBERS else UNDEFINED",
}
_IMPURE = frozenset({"newuuid"})  # a new value at every call: never taken from an earlier one
# Python types a value can be known to have where it is used ("num": an int or a float)
_NUMERIC = frozenset({"int", "float", "num"})
_NAMESPACE = {
    "UNDEFINED": UNDEFINED,
    "NUMBERS": frozenset({int, float}),
    "EMPTY": types.MappingProxyType({}),
    "compare": compare,
    "arithmetic": arithmetic,
    "floor": math.floor,
    "text_of": text_of,
}


class _Writer:
    """One generated function: its lines, its locals, and the constants and helpers it refers to.

    It also knows, where it can, each value's Python type (a kind: "str", "int", "float", "num" for
    either number, "bool"), and which expressions it has already computed: a check a type makes
    needless is left out (`len(f1)` where `f1` is known to be a string, not `len(f1) if
    isinstance(f1, str) else UNDEFINED`), and an expression computed once is not computed again
    where that first computation has run. Both are kept per block (`enter_block`, `leave_block`):
    what a block learns or computes holds inside it, not after it, as a block may be left before its
    end. A kind comes from how a value is made (`len` of a string is an int; `timestamp()` is the
    engine's int), from a constant's value, or from a condition known to hold: a WHERE's AND part
    after the function has returned False unless it is true, a CASE's WHEN true when its subject (an
    AND chain) is true (`isString(text)` makes `text` a string, `room = 'lobby'` too)."""

    def __init__(self, fallback: Callable[[Expr], Generated]) -> None:
        self._fallback = fallback  # the closure of a node written out as a call
        self.lines: list[str] = []
        self.constants: list[Any] = []
        self.helpers: list[Any] = []
        self.fields: dict[str, str] = {}  # a top-level field -> the local holding it
        self.reads_time = False  # timestamp() is called
        self._depth = 1
        self._locals = 0
        self._field_names: dict[str, str] = {}  # the local holding a field -> the field
        # per block: a value's kind, by the value's text, or a field's by (name,)
        self._kinds: list[dict[str | tuple[str], str]] = [{"now": "int", "True": "bool", "False": "bool"}]
        self._computed: list[dict[str, str]] = [{}]  # per block: an expression's text -> its local

    def emit(self, line: str) -> None:
        self.lines.append("    " * self._depth + line)

    def const(self, value: Any) -> str:
        self.constants.append(value)
        name = f"K[{len(self.constants) - 1}]"
        kind = {str: "str", int: "int", float: "float", bool: "bool"}.get(type(value))
        if kind is not None:
            self._kinds[-1][name] = kind
        return name

    def helper(self, value: Any) -> str:
        self.helpers.append(value)
        return f"H[{len(self.helpers) - 1}]"

    def local(self) -> str:
        self._locals += 1
        return f"v{self._locals}"

    def field(self, name: str) -> str:
        if name not in self.fields:
            self.fields[name] = f"f{len(self.fields)}"
            self._field_names[self.fields[name]] = name
        return self.fields[name]

    def kind(self, value: str) -> str | None:
        name = self._field_names.get(value)
        for known in reversed(self._kinds):
            if value in known:
                return known[value]
            if name is not None and (name,) in known:  # what a condition said of the field
                return known[(name,)]
        return None

    def assign(self, expression: str, kind: str | None = None, pure: bool = True) -> str:
        """A local holding `expression`, computed here unless it already was (a pure one)."""
        if pure:
            for computed in reversed(self._computed):
                if expression in computed:
                    return computed[expression]
        out = self.local()
        self.emit(f"{out} = {expression}")
        if pure:
            self._computed[-1][expression] = out
        if kind is not None:
            self._kinds[-1][out] = kind
        return out

    def enter_block(self) -> None:
        self._depth += 1
        self._kinds.append({})
        self._computed.append({})

    def leave_block(self) -> None:
        self._depth -= 1
        self._kinds.pop()
        self._computed.pop()

    def holds(self, part: Expr) -> None:
        """What `part` being exactly true says of the fields' types, from here to the block's end."""
        if isinstance(part, Binary) and part.op == "AND":
            for each in chain(part, "AND"):
                self.holds(each)
            return
        subject: Expr | None = None
        if isinstance(part, Call) and part.name == "isstring" and len(part.args) == 1:
            subject = part.args[0]
        elif (
            isinstance(part, Binary)
            and part.op in _PYTHON_OPERATORS
            and isinstance(part.right, Literal)
            and type(part.right.value) is str
        ):
            subject = part.left  # compared with a string: true only for a string
        if isinstance(subject, Path) and len(subject.steps) == 1 and isinstance(subject.steps[0], str):
            self._kinds[-1][(subject.steps[0],)] = "str"  # by name: the field is read only if used

    # -- expressions: each writes the statements that compute it and returns the local (or constant)
    # -- that holds its value, in the order the closures evaluate it

    def value(self, expr: Expr) -> str:
        if isinstance(expr, Literal):
            return self.const(expr.value)
        if isinstance(expr, Star):
            return "d"
        if isinstance(expr, Path) and len(expr.steps) == 1 and isinstance(expr.steps[0], str):
            return self.field(expr.steps[0])
        if isinstance(expr, Unary):
            return self._unary(expr)
        if isinstance(expr, Binary):
            if expr.op in ("AND", "OR"):
                return self._chain(expr)
            return self._binary(expr)
        if isinstance(expr, Case):
            return self._case(expr)
        if isinstance(expr, Call):
            return self._call(expr)
        return self.assign(f"{self.helper(self._fallback(expr))}(ev)", pure=False)  # a longer path

    def _unary(self, expr: Unary) -> str:
        operand = self.value(expr.operand)
        kind = self.kind(operand)
        if expr.op == "NOT":
            if kind == "bool":
                return self.assign(f"not {operand}", "bool")
            return self.assign(f"(not {operand}) if type({operand}) is bool else UNDEFINED")
        if kind in _NUMERIC:
            return self.assign(f"-{operand}", kind)
        return self.assign(f"-{operand} if type({operand}) in NUMBERS else UNDEFINED")

    def _chain(self, expr: Binary) -> str:
        """As `sql_compile._compile_logical`: Undefined at the first part that is not a boolean (the
        rest are not evaluated), else the conjunction (disjunction) of the parts."""
        deciding, otherwise = ("False", "True") if expr.op == "AND" else ("True", "False")
        out = self.local()
        self.emit(f"{out} = {otherwise}")
        self.emit("while True:  # a block to leave early")
        self.enter_block()
        always_bool = True
        for part in chain(expr, expr.op):
            value = self.value(part)
            if value == otherwise:  # known, and decides nothing
                continue
            self.emit(f"if {value} is {deciding}:")
            self.emit(f"    {out} = {deciding}")
            if self.kind(value) != "bool":
                always_bool = False
                self.emit(f"elif {value} is not {otherwise}:")
                self.emit(f"    {out} = UNDEFINED")
                self.emit("    break")
        self.emit("break")
        self.leave_block()
        if always_bool:
            self._kinds[-1][out] = "bool"
        return out

    def _binary(self, expr: Binary) -> str:
        if isinstance(expr.left, Literal) and isinstance(expr.right, Literal):  # worked out once, here
            fold = compare if expr.op in _PYTHON_OPERATORS else arithmetic
            return self.const(fold(expr.op, expr.left.value, expr.right.value))
        left = self.value(expr.left)
        left_kind = self.kind(left)
        literal = expr.right.value if isinstance(expr.right, Literal) else None
        if expr.op in _PYTHON_OPERATORS and isinstance(expr.right, Literal) and is_number(literal):
            check = f"type({left}) in NUMBERS"
            known = left_kind in _NUMERIC
        elif expr.op in _PYTHON_OPERATORS and isinstance(expr.right, Literal) and type(literal) is str:
            check = f"type({left}) is str"
            known = left_kind == "str"
        else:
            right = self.value(expr.right)
            right_kind = self.kind(right)
            both = f"type({left}) in NUMBERS and type({right}) in NUMBERS"
            numbers = left_kind in _NUMERIC and right_kind in _NUMERIC
            if isinstance(expr.right, Literal) and is_number(literal):  # its half decided here
                both = f"type({left}) in NUMBERS"
                if expr.op == "/" and literal != 0:
                    quotient = f"{left} / {right}"
                    if type(literal) is int and left_kind == "int":
                        return self.assign(f"int({quotient})", "int")
                    if type(literal) is int:
                        quotient = f"int({quotient}) if type({left}) is int else {quotient}"
                    if numbers:
                        return self.assign(quotient, "num")
                    return self.assign(f"({quotient}) if {both} else UNDEFINED")
            if expr.op in ("+", "-", "*"):  # as `arithmetic` for these: both numbers, else Undefined
                if numbers:
                    kind = "int" if left_kind == right_kind == "int" else "num"
                    return self.assign(f"{left} {expr.op} {right}", kind)
                return self.assign(f"({left} {expr.op} {right}) if {both} else UNDEFINED")
            out = self.local()
            if expr.op == "/":  # as `arithmetic`: Undefined by zero, Int / Int truncated toward zero
                self.emit(f"if {both} and {right} != 0:")
                ints = f"type({left}) is type({right}) is int"
                self.emit(f"    {out} = int({left} / {right}) if {ints} else {left} / {right}")
                self.emit("else:")
                self.emit(f"    {out} = UNDEFINED")
                return out
            how = "compare" if expr.op in _PYTHON_OPERATORS else "arithmetic"
            self.emit(f"{out} = {how}({self.const(expr.op)}, {left}, {right})")
            return out
        python = _PYTHON_OPERATORS[expr.op]
        if known:
            return self.assign(f"{left} {python} {self.const(literal)}", "bool")
        return self.assign(f"({left} {python} {self.const(literal)}) if {check} else UNDEFINED")

    def _case(self, expr: Case) -> str:
        out = self.local()
        self.emit(f"{out} = UNDEFINED")
        self.emit("while True:  # a block to leave at the first WHEN that matches")
        self.enter_block()
        subject = self.value(expr.subject)
        subject_kind = self.kind(subject)
        if subject_kind is None:
            self.emit(f"if {subject} is UNDEFINED:")
            self.emit("    break")
        for test, result in expr.whens:
            tested = self.value(test)
            literal = test.value if isinstance(test, Literal) else None
            if isinstance(test, Literal) and type(literal) in (bool, str):  # as `compare` for these
                same_type = type(literal).__name__
                if subject_kind == same_type:
                    self.emit(f"if {subject} == {tested}:")
                else:
                    self.emit(f"if type({subject}) is {same_type} and {subject} == {tested}:")
            elif isinstance(test, Literal) and is_number(literal):
                self.emit(f"if type({subject}) in NUMBERS and {subject} == {tested}:")
            else:
                self.emit(f"if compare('=', {subject}, {tested}) is True:")
            self.enter_block()
            if literal is True and type(literal) is bool:  # the subject is exactly true here
                self.holds(expr.subject)
            self.emit(f"{out} = {self.value(result)}")
            self.emit("break")
            self.leave_block()
        if expr.default is not None:
            self.emit(f"{out} = {self.value(expr.default)}")
        self.emit("break")
        self.leave_block()
        return out

    def _call(self, call: Call) -> str:
        handler = FUNCTIONS.get(call.name)
        if handler is None:
            return "UNDEFINED"  # an unknown function: its arguments are not evaluated
        if call.name == "encode" and call.args and isinstance(call.args[0], Star):
            args = ["ev.message.payload", *(self.value(a) for a in call.args[1:])]
        else:
            args = [self.value(a) for a in call.args]
        if call.name == "timestamp":
            self.reads_time = True  # read once at the top of the function (`function`)
            return "now"
        if call.name == "concat" and (joined := self._concat(args, call.args)) is not None:
            return self.assign(*joined)
        if call.name in _WRITTEN_OUT:
            return self._written_out(call.name, args)
        if (
            call.name == "regexp_matches"
            and isinstance(call.args[1], Literal)
            and (pattern := literal_pattern(call.args[1].value)) is not None
        ):
            found = f"{self.helper(pattern)}.search({args[0]}) is not None"
            if self.kind(args[0]) == "str":
                return self.assign(found, "bool")
            return self.assign(f"({found}) if isinstance({args[0]}, str) else UNDEFINED")
        return self.assign(f"{self.helper(handler)}({', '.join(['ev', *args])})", pure=False)

    def _written_out(self, name: str, args: list[str]) -> str:
        kind = self.kind(args[0]) if args else None
        if name == "isstring" and kind is not None:
            return "True" if kind == "str" else "False"
        if name == "isundefined" and kind is not None:
            return "False"
        if name == "length" and kind == "str":
            return self.assign(f"len({args[0]})", "int")
        if name == "floor" and kind == "int":
            return args[0]
        if name == "floor" and kind in _NUMERIC:
            return self.assign(f"floor({args[0]})", "int")
        made = {"isstring": "bool", "isundefined": "bool", "newuuid": "str"}.get(name)
        return self.assign(_WRITTEN_OUT[name].format(*args), made, pure=name not in _IMPURE)

    def _concat(self, values: list[str], args: tuple[Expr, ...]) -> tuple[str, str | None] | None:
        """`concat` with a string literal among its arguments, so never a concatenation of arrays:
        Undefined if an argument is, else the arguments' text joined (`text_of`); None otherwise
        (the call as it is). With the kind of what it gives: a string when no argument can be
        Undefined."""
        if not any(isinstance(a, Literal) and type(a.value) is str for a in args):
            return None
        parts, undefined = [], []
        for arg, value in zip(args, values, strict=True):
            kind = self.kind(value)
            if kind == "str":  # a string is its own text (a string literal: its constant)
                parts.append(value)
            elif kind == "int":
                parts.append(f"str({value})")
            else:
                parts.append(f"text_of({value})")
            if kind is None and not isinstance(arg, Literal):
                undefined.append(value)
        joined = f'"".join(({", ".join(parts)},))'
        if not undefined:
            return joined, "str"
        return f"UNDEFINED if ({' or '.join(f'{v} is UNDEFINED' for v in undefined)}) else {joined}", None

    # -- a WHERE and a SELECT, as statements of a function --------------------------------------

    def condition(self, where: Expr, failed: tuple[str, ...]) -> None:
        """The WHERE's AND parts in turn, running the statements `failed` (a return, or a flag set and
        a break) at the first that is not exactly true; each part known true from the next on."""
        for part in chain(where, "AND"):
            value = self.value(part)
            if value == "True":  # known to be true here
                continue
            self.emit(f"if not {value}:" if self.kind(value) == "bool" else f"if {value} is not True:")
            for line in failed:
                self.emit(f"    {line}")
            self.holds(part)

    def selected(self, items: list[tuple[str | None, Expr | None, bool]]) -> str:
        """The SELECT's output dict, built item by item: the local holding it."""
        out = self.local()
        self.emit(f"{out} = {{}}")
        for key, expr, can_be_made in items:
            if expr is None:
                self.emit("if isinstance(d, dict):")
                self.emit(f"    {out}.update(d)")
                continue
            if can_be_made:
                value = self.value(expr)
            else:  # fails as the interpreter fails: through the closures
                value = self.assign(f"{self.helper(self._fallback(expr))}(ev)", pure=False)
            if (isinstance(expr, Literal) or self.kind(value) is not None) and can_be_made:  # not Undefined
                self.emit(f"{out}[{self.const(key or '_value')}] = {value}")
                continue
            self.emit(f"if {value} is not UNDEFINED:")
            self.emit(f"    {out}[{self.const(key or '_value')}] = {value}")
        return out

    # -- the function ------------------------------------------------------------------------------

    def function(self, name: str, body: list[str], parameters: str = "ev") -> Callable[..., Any]:
        """`def name(parameters)` (the first always `ev`): the document, the top-level fields the body
        reads, `timestamp()` if the body reads it, then the body."""
        head = [
            f"def {name}({parameters}):",
            "    d = ev.document",
            "    m = d if isinstance(d, dict) else EMPTY",
        ]
        if self.reads_time:  # timestamp(): the time the engine gave the message, one value throughout
            head.append("    now = ev.environment.now_ms()")
        head += [
            f"    {local} = m.get({self.const(field)}, UNDEFINED)" for field, local in self.fields.items()
        ]
        source = "\n".join([*head, *body]) + "\n"
        namespace = {**_NAMESPACE, "K": tuple(self.constants), "H": tuple(self.helpers)}
        exec(compile(source, f"<IoT SQL {name}>", "exec"), namespace)  # our own text only (above)
        generated: Callable[..., Any] = namespace[name]
        generated.source = source  # type: ignore[attr-defined]  # for reading, when one is in doubt
        return generated


def generate_condition(where: Expr, fallback: Callable[[Expr], Generated]) -> Generated:
    """The WHERE as one function: whether it is exactly true, leaving at the first AND part that is
    not (as `sql_compile.compile_condition`). Only for a WHERE whose calls can all be made."""
    writer = _Writer(fallback)
    writer.condition(where, ("return False",))
    writer.emit("return True")
    return writer.function("where", writer.lines)


def generate_select(
    items: list[tuple[str | None, Expr | None, bool]],
    fallback: Callable[[Expr], Generated],
    where: Expr | None = None,
) -> Generated:
    """The SELECT as one function building the output dict: `items` are (key, expression, whether
    its calls can all be made); a None expression merges the document (`SELECT *`). `where`: the
    statement's WHERE, when the function is only ever called for a message it holds for (what its
    AND parts say of the fields' types holds here too)."""
    writer = _Writer(fallback)
    if where is not None:
        writer.holds(where)
    writer.emit(f"return {writer.selected(items)}")
    return writer.function("select", writer.lines)


Selecting = tuple[Expr | None, int, list[tuple[str | None, Expr | None, bool]]]


def generate_rules(rules: Sequence[Selecting], fallback: Callable[[Expr], Generated]) -> Callable[..., Any]:
    """The rules one topic reaches as one function, `rules(ev, fire)`, doing what
    `RulesEngine.process` does with each rule's WHERE and SELECT in turn: each WHERE (`rules` are
    (WHERE or None, the slot of rules sharing it, SELECT items)) evaluated where the first rule with
    it comes, and for each rule whose WHERE holds its output made and `fire(its index, output)`
    called, before the next rule is looked at. One frame, the fields read once, `timestamp()` once,
    and each SELECT knowing what its WHERE checked. Only for WHEREs whose calls can all be made."""
    writer = _Writer(fallback)
    held: dict[int, str] = {}  # slot -> the local saying whether its WHERE holds
    for index, (where, slot, items) in enumerate(rules):
        if where is not None:
            if slot not in held:
                flag = held[slot] = writer.local()
                writer.emit(f"{flag} = True")
                writer.emit("while True:  # a block to leave at the first part that is not true")
                writer.enter_block()
                writer.condition(where, (f"{flag} = False", "break"))
                writer.emit("break")
                writer.leave_block()
            writer.emit(f"if {held[slot]}:")
            writer.enter_block()
            writer.holds(where)
        writer.emit(f"fire({index}, {writer.selected(items)})")
        if where is not None:
            writer.leave_block()
    writer.emit("return")
    return writer.function("rules", writer.lines, "ev, fire")
