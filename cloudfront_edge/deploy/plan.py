"""What `edgeway edge deploy` will do, decided before anything is called. Pure: no I/O.

The plan comes from the distribution template (which function on which behaviour and event type) and
the packages (zips with their embedded configuration). Lambda@Edge's rules are checked here, so a dry
run finds every problem a deploy would: functions in us-east-1, no environment variables, size limits
per trigger, a numbered version (never `$LATEST` or an alias) on every association.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

from cloudfront_edge.deploy.packaging import Package, PackagingError, size_limit
from cloudfront_edge.errors import PlanError as PlanError
from cloudfront_edge.model.distribution import Distribution
from cloudfront_edge.model.triggers import Trigger

REGION = "us-east-1"
RUNTIME = "python3.12"


@dataclass(frozen=True)
class FunctionStep:
    function_name: str  # the Lambda function's name
    module: str
    handler: str
    code_sha256: str  # base64, as Lambda reports CodeSha256
    size: int
    size_limit: int
    timeout: int
    triggers: tuple[Trigger, ...]


@dataclass(frozen=True)
class AssociationStep:
    path_pattern: str  # "*" for the default behaviour
    trigger: Trigger
    function_name: str
    include_body: bool


@dataclass(frozen=True)
class DeployPlan:
    distribution_id: str
    role_name: str
    functions: tuple[FunctionStep, ...]
    associations: tuple[AssociationStep, ...]
    region: str = REGION

    def describe(self) -> list[str]:
        lines = [f"region {self.region}; role {self.role_name} (trusts lambda and edgelambda)"]
        for step in self.functions:
            lines.append(
                f"function {step.function_name}: {step.handler}, {step.size} bytes of {step.size_limit} "
                f"allowed, timeout {step.timeout} s, code {step.code_sha256[:12]}; publish a numbered version"
            )
        for assoc in self.associations:
            body = ", IncludeBody" if assoc.include_body else ""
            lines.append(
                f"distribution {self.distribution_id} behaviour {assoc.path_pattern}: "
                f"{assoc.trigger} -> {assoc.function_name}:<new version>{body}"
            )
        lines.append(f"update distribution {self.distribution_id} with IfMatch on its current ETag")
        return lines


def code_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def check_version_arn(arn: str) -> None:
    """A Lambda@Edge association needs a numbered version: not `$LATEST`, not an alias."""
    qualifier = arn.rsplit(":", 1)[-1] if arn.count(":") >= 7 else ""
    if not qualifier.isdigit():
        raise PlanError(f"{arn}: Lambda@Edge needs a numbered function version, not $LATEST or an alias")


def check_function_properties(module: str, properties: dict[str, Any]) -> None:
    if properties.get("Environment", {}).get("Variables"):
        raise PlanError(
            f"{module}: Lambda@Edge functions cannot have environment variables; embed a {module}.json"
        )
    for key in ("Layers", "VpcConfig", "FileSystemConfigs"):
        if properties.get(key):
            raise PlanError(f"{module}: Lambda@Edge functions cannot use {key}")


def make_plan(
    distribution: Distribution,
    distribution_id: str,
    packages: dict[str, Package],
    prefix: str = "edgeway",
    role_name: str = "edgeway-edge-functions",
) -> DeployPlan:
    functions = []
    for module in sorted(distribution.functions()):
        triggers = tuple(sorted(distribution.triggers_of(module)))
        check_function_properties(module, dict(distribution.function_properties.get(module, {})))
        built = packages.get(module)
        if built is None:
            raise PlanError(f"{module}: no package")
        limit = size_limit(triggers)
        if built.size > limit:
            raise PackagingError(f"{module}: the zip is {built.size} bytes; its triggers allow {limit}")
        functions.append(
            FunctionStep(
                function_name=f"{prefix}-{module.replace('_', '-')}",
                module=module,
                handler=f"{module}.handler",
                code_sha256=code_sha256(built.data),
                size=built.size,
                size_limit=limit,
                timeout=5 if any(t.is_viewer for t in triggers) else 30,
                triggers=triggers,
            )
        )
    names = {step.module: step.function_name for step in functions}
    associations = tuple(
        AssociationStep(b.path_pattern, trigger, names[a.function], a.include_body)
        for b in distribution.behaviours
        for trigger, a in sorted(b.associations.items())
    )
    return DeployPlan(distribution_id, role_name, tuple(functions), associations)
