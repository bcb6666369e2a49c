"""Shared terminal output: rich tables to stdout, errors to stderr."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# What a command prints must not depend on the terminal's width: text is never wrapped (soft_wrap),
# and a table is drawn at its natural width, however narrow the terminal (or 80 columns, rich's
# default where there is none).
console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)
_tables = Console(width=100_000)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    view = Table(title=title, show_lines=False, show_header=any(columns))
    for column in columns:
        view.add_column(column, no_wrap=True, overflow="ignore")
    for row in rows:
        view.add_row(*(str(cell) for cell in row))
    _tables.print(view)


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, default=str))


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}", markup=True, highlight=False)
    raise SystemExit(code)


def name_value_pairs(
    values: Sequence[str], option: str, usage: str = "NAME=VALUE", empty_value: bool = False
) -> dict[str, str]:
    """Repeated `NAME=VALUE` options as a dict; a malformed one fails naming the option and `usage`.
    `empty_value`: whether `NAME=` (an empty value) is allowed."""
    pairs: dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or (not rest and not empty_value):
            fail(f"{option} {value!r}: use {usage}")
        pairs[name] = rest
    return pairs
