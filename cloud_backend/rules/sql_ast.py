"""The IoT SQL syntax tree: frozen dataclasses, built by `sql_parser`, read by `sql_eval`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Path:
    """A field of the payload: `a.b[0].c`; each step a name or an index."""

    steps: tuple[str | int, ...]


@dataclass(frozen=True)
class Star:
    """`*`: the whole payload (in SELECT, or as a function argument such as encode(*, 'base64'))."""


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Unary:
    op: str  # "-" or "NOT"
    operand: Expr


@dataclass(frozen=True)
class Binary:
    op: str  # + - * / % = <> < <= > >= AND OR
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Case:
    """`CASE v WHEN t THEN r ... [ELSE e] END`: the r of the first t equal to v, else e (or Undefined
    without ELSE); Undefined when v is."""

    subject: Expr
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None


Expr = Literal | Path | Star | Call | Unary | Binary | Case


def chain(expr: Expr, op: str) -> list[Expr]:
    """The parts of a chain of `op` (AND or OR), left to right, whatever its grouping."""
    if isinstance(expr, Binary) and expr.op == op:
        return [*chain(expr.left, op), *chain(expr.right, op)]
    return [expr]


@dataclass(frozen=True)
class SelectItem:
    expr: Expr
    alias: str | None


@dataclass(frozen=True)
class Statement:
    select: tuple[SelectItem, ...]
    topic_filter: str
    where: Expr | None
