"""Client device authorization in the configuration format of Greengrass's client device auth
component (`deviceGroups`, format version 2021-03-05). Pure.

A device group selects things by a rule (`thingName: sensor-*` clauses joined by OR; `*` only at the
end of a name, or alone; `\\:` for a colon in a name) and names a policy; a policy's statements allow
operations (`mqtt:connect`, `mqtt:publish`, `mqtt:subscribe`, or `*`) on resources
(`mqtt:clientId:<id>`, `mqtt:topic:<topic>` without wildcards, `mqtt:topicfilter:<filter>` matched as
written, or `*`). `${iot:Connection.Thing.ThingName}` in a resource is the connecting thing's name, as
client device auth 2.2.0 and later substitute it. A thing in several groups has all their policies; a
thing in none may not connect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FORMAT_VERSION = "2021-03-05"
OPERATIONS = frozenset({"mqtt:connect", "mqtt:publish", "mqtt:subscribe", "*"})
THING_VARIABLE = "${iot:Connection.Thing.ThingName}"
_CLAUSE = re.compile(r"^\s*thingName:\s*((?:[^\s\\]|\\:)+)\s*$")


class DeviceGroupsError(ValueError):
    """The deviceGroups configuration is not valid; the message names the key."""


@dataclass(frozen=True)
class Statement:
    operations: frozenset[str]
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    name: str
    patterns: tuple[str, ...]  # thing names, `*` only at the end
    policy: str

    def selects(self, thing: str) -> bool:
        return any(thing.startswith(p[:-1]) if p.endswith("*") else thing == p for p in self.patterns)


@dataclass(frozen=True)
class DeviceGroups:
    groups: tuple[Group, ...]
    policies: Mapping[str, tuple[Statement, ...]]

    def groups_of(self, thing: str) -> list[str]:
        return [g.name for g in self.groups if g.selects(thing)]

    def allows(self, thing: str, operation: str, resource: str) -> bool:
        for group in self.groups:
            if not group.selects(thing):
                continue
            for statement in self.policies[group.policy]:
                if operation not in statement.operations and "*" not in statement.operations:
                    continue
                for allowed in statement.resources:
                    if allowed == "*" or allowed.replace(THING_VARIABLE, thing) == resource:
                        return True
        return False


def _rule(text: Any, where: str) -> tuple[str, ...]:
    if not isinstance(text, str) or not text.strip():
        raise DeviceGroupsError(f"{where}.selectionRule must be a rule like 'thingName: sensor-*'")
    patterns = []
    for clause in re.split(r"\s+OR\s+", text.strip()):
        match = _CLAUSE.match(clause)
        if match is None:
            raise DeviceGroupsError(f"{where}.selectionRule: {clause!r} is not 'thingName: <name>'")
        name = match.group(1).replace("\\:", ":")
        if "*" in name[:-1]:
            raise DeviceGroupsError(f"{where}.selectionRule: {name!r}: '*' may only end a name")
        patterns.append(name)
    return tuple(patterns)


def parse(config: Any) -> DeviceGroups:
    if not isinstance(config, Mapping):
        raise DeviceGroupsError("deviceGroups must be an object")
    if config.get("formatVersion") != FORMAT_VERSION:
        raise DeviceGroupsError(f"deviceGroups.formatVersion must be {FORMAT_VERSION!r}")
    raw_policies = config.get("policies") or {}
    if not isinstance(raw_policies, Mapping):
        raise DeviceGroupsError("deviceGroups.policies must be an object")
    policies: dict[str, tuple[Statement, ...]] = {}
    for name, statements in raw_policies.items():
        if not isinstance(statements, Mapping):
            raise DeviceGroupsError(f"deviceGroups.policies.{name} must be an object of statements")
        parsed = []
        for key, statement in statements.items():
            where = f"deviceGroups.policies.{name}.{key}"
            operations = statement.get("operations") if isinstance(statement, Mapping) else None
            resources = statement.get("resources") if isinstance(statement, Mapping) else None
            if not isinstance(operations, list) or not set(operations) <= OPERATIONS or not operations:
                raise DeviceGroupsError(f"{where}.operations must list some of {sorted(OPERATIONS)}")
            if (
                not isinstance(resources, list)
                or not resources
                or not all(isinstance(r, str) for r in resources)
            ):
                raise DeviceGroupsError(f"{where}.resources must be a list of resource strings")
            parsed.append(Statement(frozenset(operations), tuple(resources)))
        policies[name] = tuple(parsed)
    definitions = config.get("definitions") or {}
    if not isinstance(definitions, Mapping):
        raise DeviceGroupsError("deviceGroups.definitions must be an object")
    groups = []
    for name, definition in definitions.items():
        where = f"deviceGroups.definitions.{name}"
        if not isinstance(definition, Mapping):
            raise DeviceGroupsError(f"{where} must be an object")
        policy = definition.get("policyName")
        if policy not in policies:
            raise DeviceGroupsError(f"{where}.policyName {policy!r} names no policy in deviceGroups.policies")
        groups.append(Group(str(name), _rule(definition.get("selectionRule"), where), str(policy)))
    return DeviceGroups(tuple(groups), policies)
