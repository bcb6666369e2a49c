"""The clients' IoT policies, read from the template the way the authorizer finds them in AWS: the
AuthorizerFunction's USER_POLICY, DEVICE_POLICY and OBSERVER_POLICY name the AWS::IoT::Policy resources."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from edgeway_common.cfn import LocalResolver, TemplateError

ROLE_VARIABLES = {"user": "USER_POLICY", "device": "DEVICE_POLICY", "observer": "OBSERVER_POLICY"}


def role_policies(template: Mapping[str, Any], resolver: LocalResolver) -> dict[str, str]:
    resources = template["Resources"]
    authorizer = resources.get("AuthorizerFunction", {})
    variables = resolver.resolve(
        authorizer.get("Properties", {}).get("Environment", {}).get("Variables", {}),
        "AuthorizerFunction.Environment",
    )
    policies: dict[str, str] = {}
    for role, variable in ROLE_VARIABLES.items():
        logical = variables.get(variable)
        resource = resources.get(logical or "")
        if resource is None or resource.get("Type") != "AWS::IoT::Policy":
            raise TemplateError(f"{resolver.source}: AuthorizerFunction {variable} names no AWS::IoT::Policy")
        document = resolver.resolve(resource["Properties"]["PolicyDocument"], f"{logical}.PolicyDocument")
        policies[role] = json.dumps(document)
    return policies
