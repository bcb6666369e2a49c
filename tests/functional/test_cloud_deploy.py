"""`edgeway cloud deploy`: the artifact, the plan, and the calls (S3 and CloudFormation through
botocore's Stubber: moto's CloudFormation silently skips AWS::IoT::TopicRule)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

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


# What Lambda's Python runtime provides besides the standard library (boto3 and what it needs).
LAMBDA_RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "dateutil", "s3transfer", "urllib3", "six")

IMPORT_EVERY_MODULE = """
import importlib, json, pathlib, sys
root = pathlib.Path(sys.argv[1])
failed = {}
names = []
for path in sorted(root.rglob("*.py")):
    parts = path.relative_to(root).with_suffix("").parts
    if parts[0] not in ("cloud_backend", "edgeway_common"):
        continue
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    names.append(name)
    try:
        importlib.import_module(name)
    except Exception as exc:
        failed[name] = repr(exc)
import jwt.algorithms
outside = sorted(
    m.__name__ for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and "site-packages" in m.__file__
)
print(json.dumps({"imported": names, "failed": failed, "crypto": jwt.algorithms.has_crypto,
                  "version": sys.version_info[:2], "from_site_packages": outside}))
"""


def _python(version: str) -> str | None:
    """An interpreter of Lambda's Python version on this machine, if there is one."""
    import glob
    import shutil
    import subprocess

    candidates = [shutil.which(f"python{version}"), *glob.glob(f"/usr/bin/python{version}")]
    candidates += sorted(glob.glob(str(Path.home() / f".pyenv/versions/{version}*/bin/python{version}")))
    for candidate in candidates:
        if candidate and subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


def test_the_dry_run_zip_imports_every_module_it_ships_with_only_lambdas_packages(tmp_path, monkeypatch):
    """The artifact `edgeway cloud deploy --dry-run` builds (vendoring included), unpacked, in a new venv
    of Lambda's Python whose only packages beyond the standard library are the runtime's boto3 set."""
    import json
    import subprocess
    import sys

    import yaml

    from cloud_backend.deploy import packaging

    runtime = yaml.safe_load(
        TEMPLATE.read_text().replace("!", "")  # the short tags do not matter to this one value
    )["Globals"]["Function"]["Runtime"]
    assert runtime == f"python{packaging.LAMBDA_PYTHON}"
    monkeypatch.setenv("XDG_CACHE_HOME", str(Path(__file__).resolve().parents[2] / ".edgeway" / "cache"))
    interpreter = _python(packaging.LAMBDA_PYTHON)
    zip_path = tmp_path / "handlers.zip"
    if interpreter is not None:
        result = CliRunner().invoke(
            cli,
            ["cloud", "deploy", "--stack-name", "c", "--region", "eu-west-1", "--bucket", "b", "--dry-run",
             "--artifact-out", str(zip_path)],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert "with PyJWT[crypto]==" in result.output
    else:  # no python3.12 here: the same build, with the wheels for the interpreter that is here
        interpreter = sys.executable
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        zip_path.write_bytes(packaging.build(packaging.vendored_dependencies(python_version=version)).data)
    task = tmp_path / "task"
    zipfile.ZipFile(zip_path).extractall(task)
    site = Path(next(iter(boto3.__path__))).parent
    provided = tmp_path / "runtime"
    provided.mkdir()
    for name in LAMBDA_RUNTIME_PACKAGES:
        source = site / name if (site / name).exists() else site / f"{name}.py"
        (provided / source.name).symlink_to(source)
    subprocess.run([interpreter, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    checked = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "python"), "-c", IMPORT_EVERY_MODULE, str(task)],
        env={"PYTHONPATH": f"{task}:{provided}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(checked.stdout)
    assert report["failed"] == {}
    assert (
        "cloud_backend.handlers.chat" in report["imported"]
        and "edgeway_common.sqlite_files" in report["imported"]
    )
    assert report["crypto"] is True  # PyJWT found cryptography among the vendored packages
    assert report["from_site_packages"] == []
    assert not [
        n for n in report["imported"] if n.startswith(("cloud_backend.local", "cloud_backend.broker"))
    ]
