"""The operator's workflow with botocore's Stubber (AWS's own request and response shapes) for every
call it makes: publish uploads only what changed and creates no version for an identical recipe,
refuses an oversized recipe and reports a FAILED version's reason; deploy starts from the target's
current deployment and removes only what is named and allowed; status reads every core; rollback
deploys the previous revision."""

from __future__ import annotations

import datetime
import io

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from greengrass_components.publish.operations import (
    MAX_RECIPE_BYTES,
    DeployPlan,
    PublishError,
    PublishPlan,
    build_component,
    core_statuses,
    current_components,
    deployment_cores,
    execute_deploy,
    execute_publish,
    overall,
    plan_deploy,
    plan_publish,
    previous_components,
)

ACCOUNT, REGION, BUCKET = "123456789012", "eu-west-1", "my-artifacts"
GROUP = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/fleet"
NOW = datetime.datetime(2026, 11, 29, tzinfo=datetime.UTC)


def clients():
    kwargs = {"region_name": REGION, "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    return boto3.client("s3", **kwargs), boto3.client("greengrassv2", **kwargs), boto3.client("iot", **kwargs)


def component(tmp_path, run: str = "echo hi"):
    artifact = tmp_path / "hello.zip"
    artifact.write_bytes(b"zip bytes")
    recipe = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": "com.example.Hello",
        "ComponentVersion": "1.0.0",
        "Manifests": [
            {
                "Platform": {"os": "linux"},
                "Artifacts": [{"URI": "s3://placeholder/hello.zip"}],
                "Lifecycle": {"Run": run},
            }
        ],
    }
    return build_component(recipe, {"hello.zip": artifact}, BUCKET)


ARN = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:com.example.Hello:versions:1.0.0"


def test_build_writes_the_real_uri_and_the_digest_into_the_recipe(tmp_path):
    built = component(tmp_path)
    (artifact,) = built.recipe["Manifests"][0]["Artifacts"]
    assert artifact["URI"] == f"s3://{BUCKET}/com.example.Hello/1.0.0/hello.zip"
    assert artifact["Algorithm"] == "SHA-256" and artifact["Digest"] == built.artifacts[0].digest


def test_a_first_publish_uploads_creates_and_waits_until_deployable(tmp_path):
    s3, gg, _ = clients()
    built = component(tmp_path)
    key = built.artifacts[0].key
    with Stubber(s3) as s3_stub, Stubber(gg) as gg_stub:
        s3_stub.add_client_error(
            "head_object", "404", http_status_code=404, expected_params={"Bucket": BUCKET, "Key": key}
        )
        gg_stub.add_client_error(
            "get_component",
            "ResourceNotFoundException",
            http_status_code=404,
            expected_params={"arn": ARN, "recipeOutputFormat": "JSON"},
        )
        plan = plan_publish(built, BUCKET, s3, gg, ACCOUNT, REGION)
        assert [a.key for a in plan.uploads] == [key] and plan.create_version
        s3_stub.add_response(
            "put_object",
            {},
            {
                "Bucket": BUCKET,
                "Key": key,
                "Body": b"zip bytes",
                "Metadata": {"sha256": built.artifacts[0].sha256},
            },
        )
        gg_stub.add_response(
            "create_component_version",
            {
                "arn": ARN,
                "componentName": "com.example.Hello",
                "componentVersion": "1.0.0",
                "creationTimestamp": NOW,
                "status": {"componentState": "REQUESTED", "message": "NONE", "errors": {}},
            },
            {"inlineRecipe": built.recipe_bytes()},
        )
        for state in ("INITIATED", "DEPLOYABLE"):
            gg_stub.add_response(
                "describe_component", {"arn": ARN, "status": {"componentState": state}}, {"arn": ARN}
            )
        assert execute_publish(plan, s3, gg, ACCOUNT, REGION, sleep=lambda s: None) == "DEPLOYABLE"


def test_a_second_publish_of_the_same_thing_uploads_nothing_and_creates_nothing(tmp_path):
    s3, gg, _ = clients()
    built = component(tmp_path)
    with Stubber(s3) as s3_stub, Stubber(gg) as gg_stub:
        s3_stub.add_response(
            "head_object", {"Metadata": {"sha256": built.artifacts[0].sha256}}, {"Bucket": BUCKET, "Key": ANY}
        )
        body = StreamingBody(io.BytesIO(built.recipe_bytes()), len(built.recipe_bytes()))
        gg_stub.add_response(
            "get_component",
            {"recipeOutputFormat": "JSON", "recipe": body.read()},
            {"arn": ARN, "recipeOutputFormat": "JSON"},
        )
        plan = plan_publish(built, BUCKET, s3, gg, ACCOUNT, REGION)
        assert plan.uploads == () and not plan.create_version
        assert (
            execute_publish(plan, s3, gg, ACCOUNT, REGION) == "DEPLOYABLE"
        )  # no call made: the stubs are empty


def test_publish_refuses_an_oversized_recipe_and_a_changed_recipe_under_the_same_version(tmp_path):
    s3, gg, _ = clients()
    with pytest.raises(PublishError, match=f"Greengrass allows {MAX_RECIPE_BYTES}"):
        plan_publish(component(tmp_path, run="x" * MAX_RECIPE_BYTES), BUCKET, s3, gg, ACCOUNT, REGION)
    built = component(tmp_path)
    older = component(tmp_path, run="echo older")
    with Stubber(s3) as s3_stub, Stubber(gg) as gg_stub:
        s3_stub.add_response(
            "head_object", {"Metadata": {"sha256": built.artifacts[0].sha256}}, {"Bucket": BUCKET, "Key": ANY}
        )
        gg_stub.add_response(
            "get_component",
            {"recipeOutputFormat": "JSON", "recipe": older.recipe_bytes()},
            {"arn": ARN, "recipeOutputFormat": "JSON"},
        )
        with pytest.raises(PublishError, match="already exists with a different recipe"):
            plan_publish(built, BUCKET, s3, gg, ACCOUNT, REGION)


def test_a_version_that_fails_says_why(tmp_path):
    s3, gg, _ = clients()
    built = component(tmp_path)
    plan = PublishPlan(built, (), built.artifacts, True, BUCKET)
    with Stubber(gg) as gg_stub:
        gg_stub.add_response(
            "create_component_version",
            {
                "arn": ARN,
                "componentName": "com.example.Hello",
                "componentVersion": "1.0.0",
                "creationTimestamp": NOW,
                "status": {"componentState": "REQUESTED"},
            },
            {"inlineRecipe": ANY},
        )
        gg_stub.add_response(
            "describe_component",
            {
                "arn": ARN,
                "status": {
                    "componentState": "FAILED",
                    "message": "NOT_FOUND",
                    "errors": {"s3://b/k": "missing"},
                },
            },
            {"arn": ARN},
        )
        with pytest.raises(PublishError, match=r"FAILED: NOT_FOUND s3://b/k: missing"):
            execute_publish(plan, s3, gg, ACCOUNT, REGION, sleep=lambda s: None)


def current(gg_stub: Stubber, components: dict) -> None:
    gg_stub.add_response(
        "list_deployments",
        {"deployments": [{"deploymentId": "d-1", "revisionId": "1", "targetArn": GROUP}]},
        {"targetArn": GROUP, "historyFilter": "LATEST_ONLY"},
    )
    gg_stub.add_response(
        "get_deployment", {"deploymentId": "d-1", "components": components}, {"deploymentId": "d-1"}
    )


def test_deploy_starts_from_the_current_deployment_and_removes_only_what_is_named_and_allowed():
    _, gg, _ = clients()
    running = {
        "com.example.Hello": {"componentVersion": "1.0.0"},
        "com.example.Keep": {"componentVersion": "2.0.0"},
    }
    with Stubber(gg) as gg_stub:
        current(gg_stub, running)
        now = current_components(gg, GROUP)
    plan = plan_deploy(
        now,
        GROUP,
        {"com.example.Hello": "1.1.0"},
        {"com.example.Hello": '{"level": 2}'},
        (),
        False,
        {"failureHandlingPolicy": "ROLLBACK"},
        {"jobExecutionsRolloutConfig": {"maximumPerMinute": 2}},
    )
    assert plan.differences() == [
        "  ~ com.example.Hello 1.0.0 -> 1.1.0 (configuration)",
        "    com.example.Keep 2.0.0",
    ]
    with pytest.raises(PublishError, match="takes --allow-remove"):
        plan_deploy(now, GROUP, {}, {}, ("com.example.Keep",), False, {}, {})
    removing = plan_deploy(now, GROUP, {}, {}, ("com.example.Keep",), True, {}, {})
    assert (
        "  - com.example.Keep 2.0.0" in removing.differences()
        and "com.example.Keep" not in removing.components
    )
    with Stubber(gg) as gg_stub:
        gg_stub.add_response(
            "create_deployment",
            {"deploymentId": "d-2", "iotJobId": "j-2"},
            {
                "targetArn": GROUP,
                "components": dict(plan.components),
                "deploymentPolicies": {"failureHandlingPolicy": "ROLLBACK"},
                "iotJobConfiguration": {"jobExecutionsRolloutConfig": {"maximumPerMinute": 2}},
            },
        )
        assert execute_deploy(plan, gg)["deploymentId"] == "d-2"


def test_status_reads_every_core_of_the_group_and_rollback_takes_the_previous_revision():
    _, gg, iot = clients()
    with Stubber(iot) as iot_stub, Stubber(gg) as gg_stub:
        iot_stub.add_response(
            "list_things_in_thing_group", {"things": ["gw-1", "gw-2"]}, {"thingGroupName": "fleet"}
        )
        cores = deployment_cores(iot, GROUP)
        for core, state, reason in (
            ("gw-1", "SUCCEEDED", ""),
            ("gw-2", "FAILED", "Install exited with code 1"),
        ):
            gg_stub.add_response(
                "list_effective_deployments",
                {
                    "effectiveDeployments": [
                        {
                            "deploymentId": "d-2",
                            "deploymentName": "n",
                            "targetArn": GROUP,
                            "coreDeviceExecutionStatus": state,
                            "reason": reason,
                            "creationTimestamp": NOW,
                            "modifiedTimestamp": NOW,
                        }
                    ]
                },
                {"coreDeviceThingName": core},
            )
            gg_stub.add_response(
                "list_installed_components",
                {
                    "installedComponents": [
                        {
                            "componentName": "com.example.Hello",
                            "componentVersion": "1.0.0",
                            "lifecycleState": "RUNNING",
                        }
                    ]
                },
                {"coreDeviceThingName": core},
            )
        statuses = core_statuses(gg, "d-2", cores)
    assert [(s.core, s.status, s.reason) for s in statuses] == [
        ("gw-1", "SUCCEEDED", ""),
        ("gw-2", "FAILED", "Install exited with code 1"),
    ]
    assert overall(statuses) == "FAILED"
    with Stubber(gg) as gg_stub:
        gg_stub.add_response(
            "list_deployments",
            {
                "deployments": [
                    {"deploymentId": "d-2", "revisionId": "2"},
                    {"deploymentId": "d-1", "revisionId": "1"},
                ]
            },
            {"targetArn": GROUP, "historyFilter": "ALL"},
        )
        gg_stub.add_response(
            "get_deployment",
            {"components": {"com.example.Hello": {"componentVersion": "1.0.0"}}},
            {"deploymentId": "d-1"},
        )
        revision, components = previous_components(gg, GROUP)
    assert revision == "1" and components == {"com.example.Hello": {"componentVersion": "1.0.0"}}
    assert DeployPlan(
        GROUP, {"com.example.Hello": {"componentVersion": "1.1.0"}}, components
    ).differences() == ["  ~ com.example.Hello 1.1.0 -> 1.0.0"]
