"""Rules from the template's AWS::IoT::TopicRule resources.

Everything is checked at load: SQL that does not parse, a substitution template that does not parse,
an action we do not run locally, a Lambda action whose function is not in the template. The error
names the template, the rule and the place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloud_backend.errors import RuleLoadError as RuleLoadError
from cloud_backend.rules.model import Action, InvokeLambda, LogError, PutItem, PutRecord, Republish, Rule
from cloud_backend.rules.sql_parser import SqlSyntaxError, parse
from cloud_backend.rules.substitution import Template
from edgeway_common.cfn import LocalResolver, logical_id, resources_of_type

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


def _template(text: Any, where: str) -> Template:
    try:
        return Template.parse(str(text))
    except SqlSyntaxError as exc:
        raise RuleLoadError(f"{where}: substitution template {text!r} does not parse: {exc}") from exc


def _function(arn: Any, resources: Mapping[str, Any], where: str) -> str:
    logical = logical_id(arn)
    if resources.get(logical, {}).get("Type") not in FUNCTION_TYPES:
        raise RuleLoadError(f"{where}: FunctionArn {arn!r} is not a function in the template")
    return logical


def _action(spec: Any, resources: Mapping[str, Any], where: str) -> Action:
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise RuleLoadError(f"{where}: an action is a mapping with exactly one kind")
    ((kind, body),) = spec.items()
    try:
        return _known_action(kind, body, resources, where)
    except (KeyError, TypeError) as exc:
        raise RuleLoadError(f"{where}: {kind} is missing {exc}") from exc


def _known_action(kind: str, body: Any, resources: Mapping[str, Any], where: str) -> Action:
    if kind == "Republish":
        return Republish(_template(body["Topic"], where), int(body.get("Qos", 0)))
    if kind == "Lambda":
        return InvokeLambda(_function(body["FunctionArn"], resources, where))
    if kind == "DynamoDBv2":
        return PutItem(str(body["PutItem"]["TableName"]))
    if kind == "Kinesis":
        return PutRecord(str(body["StreamName"]), _template(body.get("PartitionKey", "${newuuid()}"), where))
    if kind == "CloudwatchLogs":
        return LogError(str(body["LogGroupName"]))
    raise RuleLoadError(f"{where}: action {kind} is not supported locally")


def load_rules(template: Mapping[str, Any], resolver: LocalResolver) -> list[Rule]:
    resources = template["Resources"]
    rules: list[Rule] = []
    for name, resource in resources_of_type(template, "AWS::IoT::TopicRule"):
        where = f"{resolver.source}: rule {name}"
        payload = resolver.resolve(resource.get("Properties", {}).get("TopicRulePayload", {}), name)
        if payload.get("RuleDisabled") is True:
            continue
        try:
            statement = parse(str(payload.get("Sql", "")))
        except SqlSyntaxError as exc:
            raise RuleLoadError(f"{where}: SQL does not parse: {exc}") from exc
        actions = tuple(
            _action(spec, resources, f"{where}: Actions[{index}]")
            for index, spec in enumerate(payload.get("Actions", []))
        )
        if not actions:
            raise RuleLoadError(f"{where}: a rule needs at least one action")
        error = payload.get("ErrorAction")
        error_action = _action(error, resources, f"{where}: ErrorAction") if error else None
        rules.append(Rule(name, statement, actions, error_action))
    return rules
