"""IoT policy evaluation as IoT Core does it, for the actions a broker checks. Pure.

Actions iot:Connect (resource `client/<clientId>`), iot:Publish, iot:RetainPublish and iot:Receive
(`topic/<topic>`),
iot:Subscribe (`topicfilter/<filter>`, MQTT wildcards taken literally). Resources match with `*` (any
run of characters, `/` included) and `?` (one character); action names match case-insensitively and
may use `*`. Policy variables (`${iot:ClientId}`, `${iot:Connection.Thing.ThingName}`) are substituted
first; a resource whose variable has no value matches nothing. Nothing is allowed unless a statement
allows it, and an explicit Deny wins.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from cloud_backend.errors import PolicyError as PolicyError

CONNECT, PUBLISH, SUBSCRIBE, RECEIVE = "iot:Connect", "iot:Publish", "iot:Subscribe", "iot:Receive"
RETAIN_PUBLISH = "iot:RetainPublish"  # a publish with the RETAIN flag needs it beside iot:Publish
_VARIABLE = re.compile(r"\$\{([^}]+)\}")


@lru_cache(maxsize=4096)
def _pattern(text: str, case_insensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(body + r"\Z", re.IGNORECASE | re.DOTALL if case_insensitive else re.DOTALL)


def _listed(value: Any, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise PolicyError(f"{where} must be a string or a list of strings")
    return tuple(items)


@dataclass(frozen=True)
class Statement:
    allow: bool
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    where: str = ""  # "policy document 1 Statement[0]", for a decision a person reads

    def applies(self, action: str, resource: str, variables: Mapping[str, str]) -> bool:
        if not any(_pattern(a, True).match(action) for a in self.actions):
            return False
        for pattern in self.resources:
            bound = _bind(pattern, variables)
            if bound is not None and _pattern(bound, False).match(resource):
                return True
        return False


def _bind(pattern: str, variables: Mapping[str, str]) -> str | None:
    missing = False

    def replace(match: re.Match[str]) -> str:
        nonlocal missing
        value = variables.get(match.group(1))
        if value is None:
            missing = True
            return ""
        return value

    bound = _VARIABLE.sub(replace, pattern)
    return None if missing else bound


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]
    region: str
    account: str

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:iot:{self.region}:{self.account}:{kind}/{name}"

    def allows(self, action: str, resource: str, variables: Mapping[str, str]) -> bool:
        applying = [s for s in self.statements if s.applies(action, resource, variables)]
        return bool(applying) and all(s.allow for s in applying)

    def explain(self, action: str, resource: str, variables: Mapping[str, str]) -> str:
        """Why `allows` decides as it does, naming the statement."""
        applying = [s for s in self.statements if s.applies(action, resource, variables)]
        denying = next((s for s in applying if not s.allow), None)
        if denying is not None:
            return f"denied by {denying.where} (Deny {', '.join(denying.actions)})"
        if applying:
            return f"allowed by {applying[0].where}"
        return f"denied: no statement allows {action} on {resource}"


def parse_policies(documents: Sequence[str | Mapping[str, Any]], region: str, account: str) -> Policy:
    statements: list[Statement] = []
    for index, document in enumerate(documents):
        where = f"policy document {index + 1}"
        try:
            data = json.loads(document) if isinstance(document, str) else document
        except ValueError as exc:
            raise PolicyError(f"{where} is not JSON: {exc}") from exc
        raw = data.get("Statement") if isinstance(data, Mapping) else None
        for number, item in enumerate([raw] if isinstance(raw, Mapping) else raw or []):
            here = f"{where} Statement[{number}]"
            if not isinstance(item, Mapping) or item.get("Effect") not in ("Allow", "Deny"):
                raise PolicyError(f"{here}: Effect must be Allow or Deny")
            statements.append(
                Statement(
                    item["Effect"] == "Allow",
                    _listed(item.get("Action"), f"{here}.Action"),
                    _listed(item.get("Resource"), f"{here}.Resource"),
                    here,
                )
            )
    return Policy(tuple(statements), region, account)


class ClientAuthority:
    """What one connected client may do: its policy with its variables bound."""

    def __init__(self, policy: Policy, client_id: str, thing: str | None = None) -> None:
        self.policy = policy
        self.client_id = client_id
        self.variables = {"iot:ClientId": client_id}
        if thing:
            self.variables["iot:Connection.Thing.ThingName"] = thing

        self._decided: dict[tuple[str, str], bool] = {}

    def explain(self, action: str, name: str) -> str:
        kind = {CONNECT: "client", SUBSCRIBE: "topicfilter"}.get(action, "topic")
        return self.policy.explain(action, self.policy.arn(kind, name), self.variables)

    def may(self, action: str, name: str) -> bool:
        decided = self._decided.get((action, name))
        if decided is None:
            kind = {CONNECT: "client", SUBSCRIBE: "topicfilter"}.get(action, "topic")
            decided = self.policy.allows(action, self.policy.arn(kind, name), self.variables)
            if len(self._decided) < 1024:  # a client's topics are few; this bounds a client that roams
                self._decided[(action, name)] = decided
        return decided
