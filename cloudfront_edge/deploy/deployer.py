"""Carries out a `DeployPlan` with boto3: the role, each function (create or update, then a numbered
version), and the distribution's LambdaFunctionAssociations, written with IfMatch on the ETag just read.

The clients are passed in (moto or botocore's Stubber in tests). Botocore errors are translated here into
`DeployError`s that say which step failed.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from cloudfront_edge.deploy.packaging import Package
from cloudfront_edge.deploy.plan import (
    REGION,
    RUNTIME,
    DeployPlan,
    FunctionStep,
    PlanError,
    check_version_arn,
)
from cloudfront_edge.errors import EdgeDeployError as DeployError

TRUSTED_SERVICES = ("lambda.amazonaws.com", "edgelambda.amazonaws.com")
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": list(TRUSTED_SERVICES)}, "Action": "sts:AssumeRole"}
    ],
}


@dataclass(frozen=True)
class DeployResult:
    versions: dict[str, str]  # function name -> numbered version ARN
    distribution_etag: str


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class EdgeDeployer:
    def __init__(
        self,
        lambda_client: Any,
        iam_client: Any,
        cloudfront_client: Any,
        logger: logging.Logger | None = None,
    ):
        self.lambdas, self.iam, self.cloudfront = lambda_client, iam_client, cloudfront_client
        self._log = logger or logging.getLogger("edgeway.edge.deploy")

    def execute(self, plan: DeployPlan, packages: dict[str, Package]) -> DeployResult:
        region = self.lambdas.meta.region_name
        if region != REGION:
            raise PlanError(f"Lambda@Edge functions must be in {REGION}; the Lambda client is in {region}")
        role_arn = self._role(plan.role_name)
        versions = {
            step.function_name: self._function(step, packages[step.module], role_arn)
            for step in plan.functions
        }
        etag = self._associate(plan, versions)
        return DeployResult(versions, etag)

    def _role(self, name: str) -> str:
        try:
            role = self.iam.get_role(RoleName=name)["Role"]
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise DeployError(f"role {name}: {exc}") from exc
            try:
                created = self.iam.create_role(
                    RoleName=name,
                    AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
                    Description="edgeway Lambda@Edge functions",
                )
                self.iam.attach_role_policy(RoleName=name, PolicyArn=BASIC_EXECUTION)
            except ClientError as create_error:
                raise DeployError(f"role {name}: {create_error}") from create_error
            return str(created["Role"]["Arn"])
        document = role.get("AssumeRolePolicyDocument", {})
        if isinstance(document, str):
            document = json.loads(document)
        trusted: set[str] = set()
        for statement in document.get("Statement", []):
            services = statement.get("Principal", {}).get("Service", [])
            trusted.update([services] if isinstance(services, str) else services)
        if not set(TRUSTED_SERVICES) <= trusted:
            try:
                self.iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(TRUST_POLICY))
            except ClientError as exc:
                raise DeployError(f"role {name}: cannot make it trust edgelambda: {exc}") from exc
        return str(role["Arn"])

    def _function(self, step: FunctionStep, built: Package, role_arn: str) -> str:
        name = step.function_name
        settings = {"Role": role_arn, "Handler": step.handler, "Runtime": RUNTIME, "Timeout": step.timeout}
        try:
            try:
                current = self.lambdas.get_function(FunctionName=name)["Configuration"]
            except ClientError as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
                self.lambdas.create_function(
                    FunctionName=name, Code={"ZipFile": built.data}, MemorySize=128, Publish=False, **settings
                )
                self.lambdas.get_waiter("function_active_v2").wait(FunctionName=name)
            else:
                if current.get("Environment", {}).get("Variables"):
                    raise PlanError(
                        f"{name}: the deployed function has environment variables; Lambda@Edge refuses them"
                    )
                if current.get("CodeSha256") != step.code_sha256:
                    self.lambdas.update_function_code(FunctionName=name, ZipFile=built.data)
                    self.lambdas.get_waiter("function_updated_v2").wait(FunctionName=name)
                if any(current.get(key) != value for key, value in settings.items()):
                    self.lambdas.update_function_configuration(FunctionName=name, **settings)
                    self.lambdas.get_waiter("function_updated_v2").wait(FunctionName=name)
            published = self.lambdas.publish_version(FunctionName=name, CodeSha256=step.code_sha256)
        except ClientError as exc:
            raise DeployError(f"function {name}: {exc}") from exc
        arn = str(published["FunctionArn"])
        if not arn.rsplit(":", 1)[-1].isdigit():
            arn = f"{arn}:{published['Version']}"
        check_version_arn(arn)
        self._log.info(json.dumps({"event": "edge-function-published", "function": name, "arn": arn}))
        return arn

    def _associate(self, plan: DeployPlan, versions: dict[str, str]) -> str:
        for attempt in (1, 2):
            try:
                current = self.cloudfront.get_distribution_config(Id=plan.distribution_id)
                config, etag = current["DistributionConfig"], current["ETag"]
                _apply_associations(config, plan, versions)
                updated = self.cloudfront.update_distribution(
                    Id=plan.distribution_id, IfMatch=etag, DistributionConfig=config
                )
                return str(updated["ETag"])
            except ClientError as exc:
                if _code(exc) == "PreconditionFailed" and attempt == 1:
                    self._log.info(json.dumps({"event": "edge-distribution-changed", "retry": True}))
                    continue  # someone changed it between our read and write: read again
                raise DeployError(f"distribution {plan.distribution_id}: {exc}") from exc
        raise AssertionError("unreachable")


def _behaviours(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {"*": config["DefaultCacheBehavior"]}
    for item in config.get("CacheBehaviors", {}).get("Items", []) or []:
        pattern = item["PathPattern"]
        found[pattern if pattern.startswith(("/", "*")) else "/" + pattern] = item
    return found


def _apply_associations(config: dict[str, Any], plan: DeployPlan, versions: dict[str, str]) -> None:
    behaviours = _behaviours(config)
    wanted: dict[str, list[dict[str, Any]]] = {}
    for step in plan.associations:
        pattern = step.path_pattern if step.path_pattern.startswith(("/", "*")) else "/" + step.path_pattern
        if pattern not in behaviours:
            raise PlanError(
                f"behaviour {step.path_pattern} is in the template but not in {plan.distribution_id}"
            )
        arn = versions[step.function_name]
        check_version_arn(arn)
        wanted.setdefault(pattern, []).append(
            {"LambdaFunctionARN": arn, "EventType": str(step.trigger), "IncludeBody": step.include_body}
        )
    for pattern, items in wanted.items():
        behaviours[pattern]["LambdaFunctionAssociations"] = {"Quantity": len(items), "Items": items}
