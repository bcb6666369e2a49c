"""Substitution templates in rule action parameters: `chat/pub/${room}`, `${topic(3)}`, `${clientid()}`.

Each `${...}` holds an IoT SQL expression evaluated against the original message; an expression that
is Undefined renders as the empty string, as IoT Core does. Parsed and compiled once, when the rule
loads, so a bad template fails at load with the rule's name, and a republish renders its topic with
the evaluator its rule ran with (`render_for`), the payload read once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cloud_backend.rules.sql_ast import Expr
from cloud_backend.rules.sql_compile import Compiled, compile_expression
from cloud_backend.rules.sql_eval import UNDEFINED, Environment, Evaluator, Message, text_of
from cloud_backend.rules.sql_parser import parse_expression

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Template:
    source: str
    parts: tuple[str | Expr, ...]
    _compiled: tuple[str | Compiled, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        compiled = tuple(p if isinstance(p, str) else compile_expression(p) for p in self.parts)
        object.__setattr__(self, "_compiled", compiled)

    @classmethod
    def parse(cls, source: str) -> Template:
        parts: list[str | Expr] = []
        position = 0
        for match in _PLACEHOLDER.finditer(source):
            parts.append(source[position : match.start()])
            parts.append(parse_expression(match.group(1)))
            position = match.end()
        parts.append(source[position:])
        return cls(source, tuple(p for p in parts if p != ""))

    def render(self, message: Message, environment: Environment) -> str:
        return self.render_for(Evaluator(message, message.document(), environment))

    def render_for(self, evaluator: Evaluator) -> str:
        out: list[str] = []
        for part in self._compiled:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part(evaluator)
            if value is UNDEFINED or value is None:
                continue
            out.append(text_of(value))
        return "".join(out)
