"""A parser for the IoT SQL our template's rules use (SQL version 2016-03-23).

Hand-written, because no maintained Python package parses AWS IoT SQL; it is a small recursive-descent
parser over a regular-expression tokenizer. A statement that does not parse raises `SqlSyntaxError`
with the 1-based column, so a rule fails at load with its name and the position.

    SELECT * | expr [AS name], ... FROM 'topic/filter' [WHERE expr]

Expressions: numbers, 'strings', true/false/null, payload paths (`a.b[0]`), function calls,
unary minus and NOT, * / %, + -, comparisons (= <> != < <= > >=), AND, OR, parentheses, and
`CASE v WHEN t THEN r ... [ELSE e] END`. A call of a function the local engine does not run, or with a
number of arguments the function does not take, is refused here (IoT Core refuses such a rule when it
is created), so a rule cannot quietly evaluate to Undefined locally and to something else in AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cloud_backend.errors import SqlSyntaxError as SqlSyntaxError
from cloud_backend.rules.sql_ast import (
    Binary,
    Call,
    Case,
    Expr,
    Literal,
    Path,
    SelectItem,
    Star,
    Statement,
    Unary,
)
from cloud_backend.rules.sql_eval import FUNCTIONS, takes

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>\d+\.\d*|\.\d+|\d+)
      | (?P<string>'(?:[^']|'')*')
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*|`[^`]+`)
      | (?P<op><>|!=|<=|>=|[-+*/%=<>(),.\[\]])
    )""",
    re.X,
)
_KEYWORDS = {"SELECT", "FROM", "WHERE", "AS", "AND", "OR", "NOT", "TRUE", "FALSE", "NULL"} | {
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
}
_COMPARISONS = {"=", "<>", "!=", "<", "<=", ">", ">="}


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, name, keyword, op, end
    text: str
    column: int


def _tokens(sql: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(sql):
        if sql[position:].strip() == "":
            break
        match = _TOKEN.match(sql, position)
        if match is None or match.end() == position:
            column = position + len(sql[position:]) - len(sql[position:].lstrip()) + 1
            raise SqlSyntaxError(f"unexpected character {sql[column - 1]!r}", column)
        kind = match.lastgroup or "op"
        text = match.group(kind)
        column = match.start(kind) + 1
        if kind == "name" and text.upper() in _KEYWORDS:
            kind, text = "keyword", text.upper()
        elif kind == "name" and text.startswith("`"):
            text = text[1:-1]
        tokens.append(_Token(kind, text, column))
        position = match.end()
    tokens.append(_Token("end", "", len(sql) + 1))
    return tokens


class _Parser:
    def __init__(self, sql: str) -> None:
        self.tokens = _tokens(sql)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def _advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def _accept(self, kind: str, text: str | None = None) -> _Token | None:
        token = self.current
        if token.kind == kind and (text is None or token.text == text):
            return self._advance()
        return None

    def _expect(self, kind: str, text: str | None = None, what: str = "") -> _Token:
        token = self._accept(kind, text)
        if token is None:
            found = self.current.text or "the end"
            raise SqlSyntaxError(f"expected {what or text or kind}, found {found!r}", self.current.column)
        return token

    def statement(self) -> Statement:
        self._expect("keyword", "SELECT")
        items = [self._select_item()]
        while self._accept("op", ","):
            items.append(self._select_item())
        self._expect("keyword", "FROM")
        topic = self._expect("string", what="a quoted topic filter after FROM")
        where = self._expr() if self._accept("keyword", "WHERE") else None
        if self.current.kind != "end":
            raise SqlSyntaxError(f"unexpected {self.current.text!r}", self.current.column)
        return Statement(tuple(items), topic.text[1:-1].replace("''", "'"), where)

    def _select_item(self) -> SelectItem:
        if self._accept("op", "*"):
            return SelectItem(Star(), None)
        expr = self._expr()
        alias = None
        if self._accept("keyword", "AS"):
            alias = self._expect("name", what="a name after AS").text
        return SelectItem(expr, alias)

    def _expr(self) -> Expr:
        left = self._and()
        while self._accept("keyword", "OR"):
            left = Binary("OR", left, self._and())
        return left

    def _and(self) -> Expr:
        left = self._not()
        while self._accept("keyword", "AND"):
            left = Binary("AND", left, self._not())
        return left

    def _not(self) -> Expr:
        if self._accept("keyword", "NOT"):
            return Unary("NOT", self._not())
        return self._comparison()

    def _comparison(self) -> Expr:
        left = self._additive()
        if self.current.kind == "op" and self.current.text in _COMPARISONS:
            op = self._advance().text
            return Binary("<>" if op == "!=" else op, left, self._additive())
        return left

    def _additive(self) -> Expr:
        left = self._multiplicative()
        while self.current.kind == "op" and self.current.text in ("+", "-"):
            left = Binary(self._advance().text, left, self._multiplicative())
        return left

    def _multiplicative(self) -> Expr:
        left = self._unary()
        while self.current.kind == "op" and self.current.text in ("*", "/", "%"):
            left = Binary(self._advance().text, left, self._unary())
        return left

    def _unary(self) -> Expr:
        if self._accept("op", "-"):
            return Unary("-", self._unary())
        return self._postfix()

    def _postfix(self) -> Expr:
        expr = self._primary()
        while True:
            column = self.current.column
            if self._accept("op", "."):
                name = self._expect("name", what="a field name after .").text
                expr = Path((*_steps(expr, column), name))
            elif self._accept("op", "["):
                index = self._expect("number", what="an index").text
                self._expect("op", "]")
                expr = Path((*_steps(expr, column), int(index)))
            else:
                return expr

    def _primary(self) -> Expr:
        token = self.current
        if self._accept("number"):
            return Literal(float(token.text) if "." in token.text else int(token.text))
        if self._accept("string"):
            return Literal(token.text[1:-1].replace("''", "'"))
        if token.kind == "keyword" and token.text in ("TRUE", "FALSE", "NULL"):
            self._advance()
            return Literal({"TRUE": True, "FALSE": False, "NULL": None}[token.text])
        if self._accept("op", "("):
            inner = self._expr()
            self._expect("op", ")")
            return inner
        if self._accept("op", "*"):
            return Star()
        if self._accept("keyword", "CASE"):
            return self._case()
        if self._accept("name"):
            if self._accept("op", "("):
                args: list[Expr] = []
                if not self._accept("op", ")"):
                    args.append(self._expr())
                    while self._accept("op", ","):
                        args.append(self._expr())
                    self._expect("op", ")")
                return _call(token, tuple(args))
            return Path((token.text,))
        raise SqlSyntaxError(f"expected an expression, found {token.text or 'the end'!r}", token.column)

    def _case(self) -> Case:
        subject = self._expr()
        whens: list[tuple[Expr, Expr]] = []
        while self._accept("keyword", "WHEN"):
            test = self._expr()
            self._expect("keyword", "THEN")
            whens.append((test, self._expr()))
        if not whens:
            found = self.current.text or "the end"
            raise SqlSyntaxError(f"expected WHEN after CASE's value, found {found!r}", self.current.column)
        default = self._expr() if self._accept("keyword", "ELSE") else None
        self._expect("keyword", "END", "END or another WHEN")
        return Case(subject, tuple(whens), default)


def _call(token: _Token, args: tuple[Expr, ...]) -> Call:
    """A call of a function the engine runs, with arguments it takes."""
    name = token.text.lower()
    handler = FUNCTIONS.get(name)
    if handler is None:
        known = ", ".join(sorted(FUNCTIONS))
        raise SqlSyntaxError(
            f"{token.text}() is not a function the local rules engine runs ({known})", token.column
        )
    if not takes(handler, args):
        raise SqlSyntaxError(f"{token.text}() does not take {len(args)} argument(s)", token.column)
    return Call(name, args)


def _steps(expr: Expr, column: int) -> tuple[str | int, ...]:
    if isinstance(expr, Path):
        return expr.steps
    raise SqlSyntaxError("only payload fields can be followed by . or [", column)


def parse(sql: str) -> Statement:
    return _Parser(sql).statement()


def parse_expression(text: str) -> Expr:
    """One expression, as inside a substitution template `${...}`."""
    parser = _Parser(text)
    expr = parser._expr()
    if parser.current.kind != "end":
        raise SqlSyntaxError(f"unexpected {parser.current.text!r}", parser.current.column)
    return expr
