"""Carries out a `CloudPlan` with injected S3 and CloudFormation clients. Waiting is bounded and the
sleep is injected; botocore errors come out as `CloudDeployError` naming the step."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cloud_backend.deploy.packaging import Artifact
from cloud_backend.deploy.plan import CAPABILITIES, CloudPlan
from cloud_backend.errors import CloudDeployError as CloudDeployError


@dataclass(frozen=True)
class CloudDeployResult:
    uploaded: bool
    change_set: str
    changed: bool
    status: str


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class CloudDeployer:
    def __init__(
        self,
        s3: Any,
        cloudformation: Any,
        sleep: Callable[[float], None] = time.sleep,
        max_polls: int = 360,
        poll_seconds: float = 5.0,
    ) -> None:
        self.s3, self.cfn, self.sleep = s3, cloudformation, sleep
        self.max_polls, self.poll_seconds = max_polls, poll_seconds

    def execute(self, plan: CloudPlan, artifact: Artifact) -> CloudDeployResult:
        try:
            uploaded = self._upload(plan, artifact)
            change_set, change_type = self._change_set(plan)
            if not self._wait_change_set(plan, change_set):
                self.cfn.delete_change_set(StackName=plan.stack_name, ChangeSetName=change_set)
                return CloudDeployResult(uploaded, change_set, False, "NO_CHANGES")
            self.cfn.execute_change_set(StackName=plan.stack_name, ChangeSetName=change_set)
            status = self._wait_stack(plan, change_type)
        except ClientError as exc:
            raise CloudDeployError(f"{exc.operation_name}: {_code(exc)}: {exc}") from exc
        except BotoCoreError as exc:
            raise CloudDeployError(str(exc)) from exc
        return CloudDeployResult(uploaded, change_set, True, status)

    def _upload(self, plan: CloudPlan, artifact: Artifact) -> bool:
        try:
            self.s3.head_object(Bucket=plan.bucket, Key=plan.artifact_key)
            return False
        except ClientError as exc:
            if _code(exc) not in ("404", "NoSuchKey", "NotFound"):
                raise
        self.s3.put_object(Bucket=plan.bucket, Key=plan.artifact_key, Body=artifact.data)
        return True

    def _change_set(self, plan: CloudPlan) -> tuple[str, str]:
        try:
            stacks = self.cfn.describe_stacks(StackName=plan.stack_name)["Stacks"]
            change_type = "CREATE" if stacks[0]["StackStatus"] == "REVIEW_IN_PROGRESS" else "UPDATE"
        except ClientError as exc:
            if "does not exist" not in str(exc):
                raise
            change_type = "CREATE"
        name = f"edgeway-{plan.artifact_sha256[:12]}-{int(time.time())}"
        self.cfn.create_change_set(
            StackName=plan.stack_name,
            ChangeSetName=name,
            ChangeSetType=change_type,
            TemplateBody=plan.template_body,
            Capabilities=list(CAPABILITIES),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in plan.parameters],
        )
        return name, change_type

    def _wait_change_set(self, plan: CloudPlan, name: str) -> bool:
        for _ in range(self.max_polls):
            found = self.cfn.describe_change_set(StackName=plan.stack_name, ChangeSetName=name)
            status, reason = found["Status"], found.get("StatusReason", "")
            if status == "CREATE_COMPLETE":
                return True
            if status == "FAILED":
                if "didn't contain changes" in reason or "No updates" in reason:
                    return False
                raise CloudDeployError(f"change set {name} failed: {reason}")
            self.sleep(self.poll_seconds)
        raise CloudDeployError(f"change set {name} was not ready after {self.max_polls} polls")

    def _wait_stack(self, plan: CloudPlan, change_type: str) -> str:
        done = f"{change_type}_COMPLETE"
        for _ in range(self.max_polls):
            status = self.cfn.describe_stacks(StackName=plan.stack_name)["Stacks"][0]["StackStatus"]
            if status == done:
                return str(status)
            if status.endswith(("_FAILED", "ROLLBACK_COMPLETE")):
                raise CloudDeployError(f"stack {plan.stack_name} ended {status}")
            self.sleep(self.poll_seconds)
        raise CloudDeployError(f"stack {plan.stack_name} still not {done} after {self.max_polls} polls")
