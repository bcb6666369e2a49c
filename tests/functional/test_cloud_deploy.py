"""`edgeway cloud deploy`: the artifact, the plan, and the calls (S3 and CloudFormation through
botocore's Stubber: moto's CloudFormation silently skips AWS::IoT::TopicRule)."""

from __future__ import annotations

import io
import zipfile

import boto3
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

from cloud_backend.deploy.deployer import CloudDeployer, CloudDeployError
from cloud_backend.deploy.packaging import build
from cloud_backend.deploy.plan import make_plan
from edgeway.cli import cli
from tests.backend_support import TEMPLATE


def clients():
    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    cfn = boto3.client(
        "cloudformation", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    return s3, cfn


def test_the_artifact_holds_the_handlers_and_stores_only_and_is_reproducible(tmp_path):
    vendored = tmp_path / "deps" / "jwt"
    vendored.mkdir(parents=True)
    (vendored / "__init__.py").write_text("# vendored\n")
    first, second = build(tmp_path / "deps"), build(tmp_path / "deps")
    assert first.sha256 == second.sha256
    names = zipfile.ZipFile(io.BytesIO(first.data)).namelist()
    assert "cloud_backend/handlers/chat.py" in names and "cloud_backend/store/dynamodb.py" in names
    assert "jwt/__init__.py" in names
    assert not [n for n in names if n.startswith(("cloud_backend/local", "cloud_backend/broker"))]


def test_the_plan_points_every_function_at_the_uploaded_zip():
    artifact = build()
    plan = make_plan("chat", "eu-west-1", "my-bucket", artifact, TEMPLATE.read_text(), {"Rooms": "a,b"})
    assert f"CodeUri: s3://my-bucket/edgeway/cloud/{artifact.sha256}.zip" in plan.template_body
    assert "build/lambda" not in plan.template_body
    assert any("parameter Rooms=a,b" in line for line in plan.describe())


def stub_create(s3_stub: Stubber, cfn_stub: Stubber, plan, change_status: str = "CREATE_COMPLETE") -> None:
    s3_stub.add_client_error("head_object", "404", http_status_code=404)
    s3_stub.add_response("put_object", {}, {"Bucket": plan.bucket, "Key": plan.artifact_key, "Body": ANY})
    cfn_stub.add_client_error("describe_stacks", "ValidationError", "Stack with id chat does not exist")
    cfn_stub.add_response(
        "create_change_set",
        {"Id": "cs-1", "StackId": "st-1"},
        {
            "StackName": "chat",
            "ChangeSetName": ANY,
            "ChangeSetType": "CREATE",
            "TemplateBody": plan.template_body,
            "Capabilities": ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
            "Parameters": [],
        },
    )
    cfn_stub.add_response(
        "describe_change_set", {"Status": "CREATE_PENDING"}, {"StackName": "chat", "ChangeSetName": ANY}
    )
    cfn_stub.add_response(
        "describe_change_set", {"Status": change_status}, {"StackName": "chat", "ChangeSetName": ANY}
    )


def stack(status: str) -> dict:
    return {"Stacks": [{"StackName": "chat", "StackStatus": status, "CreationTime": "2026-01-01T00:00:00Z"}]}


def deployment():
    s3, cfn = clients()
    artifact = build()
    return s3, cfn, artifact, make_plan("chat", "eu-west-1", "my-bucket", artifact, TEMPLATE.read_text())


def stub_execute(cfn_stub: Stubber, *statuses: str) -> None:
    """execute_change_set, then describe_stacks answering each status in turn."""
    cfn_stub.add_response("execute_change_set", {}, {"StackName": "chat", "ChangeSetName": ANY})
    for status in statuses:
        cfn_stub.add_response("describe_stacks", stack(status), {"StackName": "chat"})


def test_a_first_deploy_uploads_creates_and_executes_a_change_set():
    s3, cfn, artifact, plan = deployment()
    with Stubber(s3) as s3_stub, Stubber(cfn) as cfn_stub:
        stub_create(s3_stub, cfn_stub, plan)
        stub_execute(cfn_stub, "CREATE_IN_PROGRESS", "CREATE_COMPLETE")
        result = CloudDeployer(s3, cfn, sleep=lambda s: None).execute(plan, artifact)
        cfn_stub.assert_no_pending_responses()
    assert result.uploaded and result.changed and result.status == "CREATE_COMPLETE"


def test_a_failed_stack_is_reported_with_its_status():
    s3, cfn, artifact, plan = deployment()
    with Stubber(s3) as s3_stub, Stubber(cfn) as cfn_stub:
        stub_create(s3_stub, cfn_stub, plan)
        stub_execute(cfn_stub, "ROLLBACK_COMPLETE")
        with pytest.raises(CloudDeployError, match="stack chat ended ROLLBACK_COMPLETE"):
            CloudDeployer(s3, cfn, sleep=lambda s: None).execute(plan, artifact)


def test_nothing_to_change_deletes_the_empty_change_set():
    s3, cfn, artifact, plan = deployment()
    with Stubber(s3) as s3_stub, Stubber(cfn) as cfn_stub:
        s3_stub.add_response("head_object", {}, {"Bucket": "my-bucket", "Key": plan.artifact_key})
        cfn_stub.add_response("describe_stacks", stack("UPDATE_COMPLETE"), {"StackName": "chat"})
        cfn_stub.add_response("create_change_set", {"Id": "cs-2"}, None)
        cfn_stub.add_response(
            "describe_change_set",
            {"Status": "FAILED", "StatusReason": "The submitted information didn't contain changes."},
            None,
        )
        cfn_stub.add_response("delete_change_set", {}, None)
        result = CloudDeployer(s3, cfn, sleep=lambda s: None).execute(plan, artifact)
    assert not result.uploaded and not result.changed and result.status == "NO_CHANGES"


def test_dry_run_prints_the_plan_and_calls_nothing():
    result = CliRunner().invoke(
        cli,
        ["cloud", "deploy", "--stack-name", "chat", "--region", "eu-west-1", "--bucket", "b", "--dry-run"],
    )
    assert result.exit_code == 0, result.output
    assert "stack chat in eu-west-1" in result.output and "s3://b/edgeway/cloud/" in result.output


def test_a_malformed_parameter_is_refused():
    result = CliRunner().invoke(
        cli,
        [
            "cloud",
            "deploy",
            "--stack-name",
            "c",
            "--region",
            "r",
            "--bucket",
            "b",
            "--parameter",
            "x",
            "--dry-run",
        ],
    )
    assert result.exit_code != 0 and "use KEY=VALUE" in result.output
