"""Packaging and deployment of the Lambda@Edge functions: moto for Lambda and IAM, botocore's Stubber
for CloudFront's UpdateDistribution (moto drops LambdaFunctionAssociations and ignores IfMatch)."""

from __future__ import annotations

import copy
import io
import json
import random
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner
from moto import mock_aws

from cloudfront_edge.deploy.deployer import EdgeDeployer
from cloudfront_edge.deploy.packaging import PackagingError, package, package_distribution
from cloudfront_edge.deploy.plan import PlanError, check_version_arn, make_plan
from cloudfront_edge.model.distribution import load_distribution, load_template, parse_distribution
from cloudfront_edge.model.triggers import Trigger
from edgeway.cli import cli


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def packages_for(distribution):
    return package_distribution(distribution)


def live_config(distribution_id: str = "E2EXAMPLE") -> dict:
    behaviour = {
        "TargetOriginId": "WebOrigin",
        "ViewerProtocolPolicy": "redirect-to-https",
        "LambdaFunctionAssociations": {"Quantity": 0},
    }
    return {
        "CallerReference": "ref",
        "Comment": "",
        "Enabled": True,
        "Origins": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "WebOrigin",
                    "DomainName": "web.s3.amazonaws.com",
                    "S3OriginConfig": {"OriginAccessIdentity": ""},
                }
            ],
        },
        "DefaultCacheBehavior": copy.deepcopy(behaviour),
        "CacheBehaviors": {
            "Quantity": 3,
            "Items": [
                {**copy.deepcopy(behaviour), "PathPattern": pattern}
                for pattern in ("/api/*", "/.well-known/*", "/dash/*")
            ],
        },
    }


def expect_read(stubber: Stubber, etag: str) -> None:
    response = {"DistributionConfig": live_config(), "ETag": etag}
    stubber.add_response("get_distribution_config", response, {"Id": "E2EXAMPLE"})


def expect_write(stubber: Stubber, if_match: str, new_etag: str) -> None:
    expected = {"Id": "E2EXAMPLE", "IfMatch": if_match, "DistributionConfig": ANY}
    stubber.add_response(
        "update_distribution", {"ETag": new_etag, "Distribution": _distribution_stub()}, expected
    )


def stubbed_cloudfront(*etags_and_errors):
    client = boto3.client("cloudfront", region_name="us-east-1")
    stubber = Stubber(client)
    return client, stubber


def test_package_is_deterministic_and_embeds_its_configuration():
    first = package("auth", {"issuer": "https://x"})
    assert first.data == package("auth", {"issuer": "https://x"}).data
    with zipfile.ZipFile(io.BytesIO(first.data)) as archive:
        assert archive.namelist() == ["auth.py", "auth.json"]
        assert json.loads(archive.read("auth.json")) == {"issuer": "https://x"}
    assert first.data != package("auth", {"issuer": "https://y"}).data


def test_size_limits_per_trigger(tmp_path):
    noise = random.Random(7).randbytes(1_300_000).hex()  # incompressible enough to stay over 1 MB zipped
    (tmp_path / "huge.py").write_text(f"DATA = {noise!r}\n\ndef handler(e, c):\n    return None\n")
    with pytest.raises(PackagingError, match=r"huge: the zip is \d+ bytes; a viewer trigger allows 1048576"):
        package("huge", triggers={Trigger.VIEWER_REQUEST}, source_dir=tmp_path)
    assert package("huge", triggers={Trigger.ORIGIN_REQUEST}, source_dir=tmp_path).size > 1024 * 1024


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:lambda:us-east-1:123456789012:function:edgeway-auth:$LATEST",
        "arn:aws:lambda:us-east-1:123456789012:function:edgeway-auth:live",
        "arn:aws:lambda:us-east-1:123456789012:function:edgeway-auth",
    ],
)
def test_latest_aliases_and_unqualified_arns_are_refused(arn):
    with pytest.raises(PlanError, match="numbered function version"):
        check_version_arn(arn)
    check_version_arn("arn:aws:lambda:us-east-1:123456789012:function:edgeway-auth:7")


def test_environment_variables_in_the_template_are_refused(tmp_path):
    template = load_template(Path("cloudfront_edge/distribution.yaml"))
    template["Resources"]["AuthFunction"]["Properties"]["Environment"] = {"Variables": {"ISSUER": "x"}}
    distribution = parse_distribution(template, "t.yaml")
    with pytest.raises(PlanError, match="auth: Lambda@Edge functions cannot have environment variables"):
        make_plan(distribution, "E1", packages_for(distribution))


def test_deploy_creates_role_functions_versions_and_associations(aws):
    distribution = load_distribution()
    packages = packages_for(distribution)
    plan = make_plan(distribution, "E2EXAMPLE", packages)
    lambdas, iam = boto3.client("lambda", region_name="us-east-1"), boto3.client("iam")
    cloudfront, stubber = stubbed_cloudfront()
    expect_read(stubber, "E-ONE")
    expect_write(stubber, if_match="E-ONE", new_etag="E-TWO")
    with stubber:
        result = EdgeDeployer(lambdas, iam, cloudfront).execute(plan, packages)
    assert result.distribution_etag == "E-TWO"
    assert set(result.versions) == {
        "edgeway-auth",
        "edgeway-enrich-origin",
        "edgeway-enrich-request",
        "edgeway-security-headers",
    }
    for name, arn in result.versions.items():
        check_version_arn(arn)
        config = lambdas.get_function(FunctionName=name)["Configuration"]
        assert config["Handler"].endswith(".handler") and config["Runtime"] == "python3.12"
        assert "Environment" not in config or not config["Environment"].get("Variables")
    trust = iam.get_role(RoleName="edgeway-edge-functions")["Role"]["AssumeRolePolicyDocument"]
    services = trust["Statement"][0]["Principal"]["Service"]
    assert set(services) == {"lambda.amazonaws.com", "edgelambda.amazonaws.com"}


def _distribution_stub() -> dict:
    return {
        "Id": "E2EXAMPLE",
        "ARN": "arn:aws:cloudfront::123456789012:distribution/E2EXAMPLE",
        "Status": "InProgress",
        "LastModifiedTime": "2026-11-22T00:00:00Z",
        "InProgressInvalidationBatches": 0,
        "DomainName": "d111111abcdef8.cloudfront.net",
        "ActiveTrustedSigners": {"Enabled": False, "Quantity": 0},
        "DistributionConfig": live_config(),
    }


class Recorder:
    """Keeps what the deployer sent to UpdateDistribution, for the test to inspect."""

    def __init__(self, client):
        self.sent: list[dict] = []
        client.meta.events.register("provide-client-params.cloudfront.UpdateDistribution", self._keep)

    def _keep(self, params, **kwargs):
        self.sent.append(copy.deepcopy(params))


def test_associations_use_numbered_versions_and_ifmatch_and_retry_once_on_a_changed_etag(aws):
    distribution = load_distribution()
    packages = packages_for(distribution)
    plan = make_plan(distribution, "E2EXAMPLE", packages)
    lambdas, iam = boto3.client("lambda", region_name="us-east-1"), boto3.client("iam")
    cloudfront, stubber = stubbed_cloudfront()
    recorder = Recorder(cloudfront)
    expect_read(stubber, "E-ONE")
    stubber.add_client_error(
        "update_distribution", "PreconditionFailed", "The If-Match version is missing or not valid", 412
    )
    stubber.add_response(
        "get_distribution_config",
        {"DistributionConfig": live_config(), "ETag": "E-CHANGED"},
        {"Id": "E2EXAMPLE"},
    )
    expect_write(stubber, if_match="E-CHANGED", new_etag="E-THREE")
    with stubber:
        result = EdgeDeployer(lambdas, iam, cloudfront).execute(plan, packages)
    stubber.assert_no_pending_responses()
    assert [params["IfMatch"] for params in recorder.sent] == ["E-ONE", "E-CHANGED"]
    config = recorder.sent[-1]["DistributionConfig"]
    default = config["DefaultCacheBehavior"]["LambdaFunctionAssociations"]
    assert default["Quantity"] == 3
    by_event = {item["EventType"]: item["LambdaFunctionARN"] for item in default["Items"]}
    assert by_event["viewer-request"] == result.versions["edgeway-enrich-request"]
    assert by_event["origin-request"] == result.versions["edgeway-enrich-origin"]
    assert by_event["viewer-response"] == result.versions["edgeway-security-headers"]
    behaviours = {item["PathPattern"]: item for item in config["CacheBehaviors"]["Items"]}
    dash = behaviours["/dash/*"]["LambdaFunctionAssociations"]
    assert {item["EventType"]: item["LambdaFunctionARN"] for item in dash["Items"]} == {
        "viewer-request": result.versions["edgeway-auth"],
        "viewer-response": result.versions["edgeway-security-headers"],
    }
    for arn in by_event.values():
        assert arn.rsplit(":", 1)[-1].isdigit()


def test_a_deployed_function_with_environment_variables_is_refused(aws):
    distribution = load_distribution()
    packages = packages_for(distribution)
    plan = make_plan(distribution, "E2EXAMPLE", packages)
    lambdas, iam = boto3.client("lambda", region_name="us-east-1"), boto3.client("iam")
    role = iam.create_role(
        RoleName="other", AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []})
    )["Role"]["Arn"]
    lambdas.create_function(
        FunctionName="edgeway-auth",
        Runtime="python3.12",
        Role=role,
        Handler="auth.handler",
        Code={"ZipFile": packages["auth"].data},
        Environment={"Variables": {"SECRET": "x"}},
    )
    cloudfront, _ = stubbed_cloudfront()
    with pytest.raises(PlanError, match="edgeway-auth: the deployed function has environment variables"):
        EdgeDeployer(lambdas, iam, cloudfront).execute(plan, packages)


def test_functions_must_be_in_us_east_1(aws):
    distribution = load_distribution()
    packages = packages_for(distribution)
    plan = make_plan(distribution, "E1", packages)
    deployer = EdgeDeployer(
        boto3.client("lambda", region_name="eu-west-1"), boto3.client("iam"), boto3.client("cloudfront")
    )
    with pytest.raises(PlanError, match="must be in us-east-1"):
        deployer.execute(plan, packages)


def test_dry_run_prints_the_plan_and_calls_nothing(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "none")  # any call would fail: there is no endpoint to reach
    result = CliRunner().invoke(cli, ["edge", "deploy", "--distribution-id", "E2EXAMPLE", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "region us-east-1; role edgeway-edge-functions (trusts lambda and edgelambda)" in result.output
    assert (
        "distribution E2EXAMPLE behaviour /dash/*: viewer-request -> edgeway-auth:<new version>"
        in result.output
    )
    assert "update distribution E2EXAMPLE with IfMatch on its current ETag" in result.output
