"""A topic rule: its statement, its actions and its error action, as read from the template."""

from __future__ import annotations

from dataclasses import dataclass

from cloud_backend.rules.sql_ast import Statement
from cloud_backend.rules.substitution import Template


@dataclass(frozen=True)
class Republish:
    topic: Template
    qos: int = 0


@dataclass(frozen=True)
class InvokeLambda:
    function: str  # the function's logical id


@dataclass(frozen=True)
class PutItem:
    table: str


@dataclass(frozen=True)
class PutRecord:
    stream: str
    partition_key: Template


@dataclass(frozen=True)
class LogError:
    log_group: str


Action = Republish | InvokeLambda | PutItem | PutRecord | LogError


def describe(action: Action) -> tuple[str, str]:
    """IoT Core's failedAction and failedResource for an error action's payload."""
    if isinstance(action, Republish):
        return "RepublishAction", action.topic.source
    if isinstance(action, InvokeLambda):
        return "LambdaAction", action.function
    if isinstance(action, PutItem):
        return "DynamoDBv2Action", action.table
    if isinstance(action, PutRecord):
        return "KinesisAction", action.stream
    return "CloudwatchLogsAction", action.log_group


@dataclass(frozen=True)
class Rule:
    name: str
    statement: Statement
    actions: tuple[Action, ...]
    error_action: Action | None = None
