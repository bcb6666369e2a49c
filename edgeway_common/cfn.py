"""Reading our CloudFormation templates locally: YAML with the short tags, and the intrinsic functions
resolved the way the local stand-in names things.

Locally a resource's name is its logical id (`!Ref MessagesTable` is "MessagesTable"), an attribute is
`local:<LogicalId>.<Attribute>`, parameters take their defaults unless overridden, and the pseudo
parameters describe a pretend account. Only the intrinsics our templates use are resolved: Ref,
Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Split; anything else is an error that names where it was found.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import TemplateError as TemplateError

LOCAL_PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "000000000000",
    "AWS::Partition": "aws",
    "AWS::StackName": "edgeway-local",
    "AWS::URLSuffix": "amazonaws.com",
}


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (`!Ref X` becomes {"Ref": "X"}, `!GetAtt A.B` ...)."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path) -> dict[str, Any]:
    """The template as plain data, intrinsics left as {"Ref": ...} mappings."""
    try:
        loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
    except (OSError, yaml.YAMLError) as exc:
        raise TemplateError(f"{path}: cannot read the template: {exc}") from exc
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise TemplateError(f"{path}: not a CloudFormation template (no Resources)")
    return loaded


def logical_id(resolved: Any) -> str:
    """The resource a resolved Ref or GetAtt names: "ChatFunction" from "local:ChatFunction.Arn"."""
    return str(resolved).removeprefix("local:").split(".", 1)[0]


def resources_of_type(template: Mapping[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    resources: dict[str, Any] = template.get("Resources", {})
    return [(name, r) for name, r in resources.items() if isinstance(r, dict) and r.get("Type") == kind]


_SUB = re.compile(r"\$\{([^}]*)\}")


@dataclass
class LocalResolver:
    """Resolves intrinsics in a template's values with local names."""

    template: Mapping[str, Any]
    parameters: Mapping[str, str] = field(default_factory=dict)
    source: str = "template"

    def parameter(self, name: str) -> str | None:
        if name in self.parameters:
            return str(self.parameters[name])
        spec = self.template.get("Parameters", {}).get(name)
        if spec is None:
            return None
        if "Default" not in spec:
            raise TemplateError(f"{self.source}: parameter {name} has no Default and no local value")
        return str(spec["Default"])

    def ref(self, name: str, where: str) -> str:
        if name in LOCAL_PSEUDO:
            return LOCAL_PSEUDO[name]
        value = self.parameter(name)
        if value is not None:
            return value
        if name in self.template.get("Resources", {}):
            return name
        raise TemplateError(f"{self.source}: {where}: Ref {name!r} names no parameter or resource")

    def get_att(self, logical: str, attribute: str, where: str) -> str:
        if logical not in self.template.get("Resources", {}):
            raise TemplateError(f"{self.source}: {where}: GetAtt {logical}.{attribute} names no resource")
        return f"local:{logical}.{attribute}"

    def _sub(self, text: str, variables: Mapping[str, Any], where: str) -> str:
        def replace(match: re.Match[str]) -> str:
            inner = match.group(1)
            if inner.startswith("!"):
                return "${" + inner[1:] + "}"
            if inner in variables:
                return str(self.resolve(variables[inner], where))
            if "." in inner and not inner.startswith("AWS::"):
                logical, attribute = inner.split(".", 1)
                return self.get_att(logical, attribute, where)
            return self.ref(inner, where)

        return _SUB.sub(replace, text)

    def resolve(self, value: Any, where: str = "") -> Any:
        if isinstance(value, list):
            return [self.resolve(item, f"{where}[{i}]") for i, item in enumerate(value)]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument), where)
            if key == "Fn::GetAtt":
                logical, attribute = argument if isinstance(argument, list) else str(argument).split(".", 1)
                return self.get_att(str(logical), str(attribute), where)
            if key == "Fn::Sub":
                if isinstance(argument, list):
                    return self._sub(str(argument[0]), argument[1], where)
                return self._sub(str(argument), {}, where)
            if key == "Fn::Join":
                separator, items = argument
                resolved = self.resolve(items, where)
                return str(separator).join(str(item) for item in resolved)
            if key == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text, where)).split(str(separator))
            if key.startswith("Fn::"):
                raise TemplateError(f"{self.source}: {where}: {key} is not supported locally")
        return {k: self.resolve(v, f"{where}.{k}" if where else k) for k, v in value.items()}
