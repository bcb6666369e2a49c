"""The stand-in's Greengrass control plane through boto3's own `greengrassv2` and `iot` clients, each
answer validated against botocore's output shape: component versions, thing groups, deployments to a
group carried out as IoT jobs (rollout, supersession, cancel), and what cores report of themselves."""

from __future__ import annotations

import json

import boto3
import botocore.session
import pytest
import yaml
from botocore.validate import ParamValidator

from tests.cloud_process import Client
from tests.waiting import wait_for

SESSION = botocore.session.get_session()
MODELS = {name: SESSION.get_service_model(name) for name in ("greengrassv2", "iot")}
RECIPE = {
    "RecipeFormatVersion": "2020-01-25",
    "ComponentName": "com.example.Hello",
    "ComponentVersion": "1.0.0",
    "ComponentPublisher": "tests",
    "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {"Run": "echo hello"}}],
}


def client(service: str, cloud):
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=cloud.http,
        aws_access_key_id="l",
        aws_secret_access_key="l",
    )


def valid(service: str, operation: str, answer: dict) -> dict:
    body = {k: v for k, v in answer.items() if k != "ResponseMetadata"}
    report = ParamValidator().validate(body, MODELS[service].operation_model(operation).output_shape)
    assert not report.has_errors(), report.generate_report()
    return body


def test_component_versions_are_immutable_and_a_bad_recipe_is_refused_naming_the_problem(cloud):
    gg = client("greengrassv2", cloud)
    made = valid(
        "greengrassv2",
        "CreateComponentVersion",
        gg.create_component_version(inlineRecipe=json.dumps(RECIPE).encode()),
    )
    assert made["status"]["componentState"] == "REQUESTED"
    described = valid("greengrassv2", "DescribeComponent", gg.describe_component(arn=made["arn"]))
    assert described["status"]["componentState"] == "DEPLOYABLE" and described["publisher"] == "tests"
    recipe = valid(
        "greengrassv2", "GetComponent", gg.get_component(arn=made["arn"], recipeOutputFormat="YAML")
    )
    assert yaml.safe_load(recipe["recipe"])["ComponentName"] == "com.example.Hello"
    versions = valid(
        "greengrassv2",
        "ListComponentVersions",
        gg.list_component_versions(arn=made["arn"].split(":versions:")[0]),
    )
    assert [v["componentVersion"] for v in versions["componentVersions"]] == ["1.0.0"]
    with pytest.raises(gg.exceptions.ConflictException, match="already exists"):
        gg.create_component_version(inlineRecipe=json.dumps(RECIPE).encode())
    bad = dict(RECIPE, ComponentVersion="2.0.0", Manifests=[{"Lifecycle": {"Run": {"Script": 7}}}])
    with pytest.raises(gg.exceptions.ValidationException, match=r"com\.example\.Hello 2\.0\.0"):
        gg.create_component_version(inlineRecipe=json.dumps(bad).encode())


def test_a_group_deployment_becomes_a_job_for_each_member_released_at_the_rollout_rate(cloud):
    gg, iot = client("greengrassv2", cloud), client("iot", cloud)
    gg.create_component_version(inlineRecipe=json.dumps(RECIPE).encode())
    group = valid("iot", "CreateThingGroup", iot.create_thing_group(thingGroupName="fleet"))
    for core in ("gw-1", "gw-2", "gw-3"):
        iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=core)
    assert sorted(
        valid("iot", "ListThingsInThingGroup", iot.list_things_in_thing_group(thingGroupName="fleet"))[
            "things"
        ]
    ) == ["gw-1", "gw-2", "gw-3"]
    components = {
        "com.example.Hello": {"componentVersion": "1.0.0", "configurationUpdate": {"merge": '{"x": 1}'}}
    }
    first = valid(
        "greengrassv2",
        "CreateDeployment",
        gg.create_deployment(
            targetArn=group["thingGroupArn"],
            components=components,
            deploymentPolicies={"failureHandlingPolicy": "ROLLBACK"},
            iotJobConfiguration={"jobExecutionsRolloutConfig": {"maximumPerMinute": 1}},
        ),
    )
    statuses = {
        core: iot.describe_job_execution(jobId=first["iotJobId"], thingName=core)["execution"]["status"]
        for core in ("gw-1", "gw-2", "gw-3")
    }
    assert statuses == {"gw-1": "QUEUED", "gw-2": "QUEUED", "gw-3": "QUEUED"}
    document = json.loads(iot.get_job_document(jobId=first["iotJobId"])["document"])
    assert document["components"]["com.example.Hello"] == {
        "version": "1.0.0",
        "configurationUpdate": {"merge": {"x": 1}, "reset": []},
    }
    deployment = valid("greengrassv2", "GetDeployment", gg.get_deployment(deploymentId=first["deploymentId"]))
    assert (
        deployment["deploymentStatus"] == "ACTIVE"
        and deployment["revisionId"] == "1"
        and deployment["isLatestForTarget"]
    )
    second = gg.create_deployment(targetArn=group["thingGroupArn"], components=components)
    assert gg.get_deployment(deploymentId=first["deploymentId"])["deploymentStatus"] == "INACTIVE"
    latest = valid("greengrassv2", "ListDeployments", gg.list_deployments(targetArn=group["thingGroupArn"]))[
        "deployments"
    ]
    assert [(d["deploymentId"], d["revisionId"]) for d in latest] == [(second["deploymentId"], "2")]
    assert iot.describe_job(jobId=first["iotJobId"])["job"]["status"] == "CANCELED"
    valid("greengrassv2", "CancelDeployment", gg.cancel_deployment(deploymentId=second["deploymentId"]))
    assert gg.get_deployment(deploymentId=second["deploymentId"])["deploymentStatus"] == "CANCELED"


def test_what_a_core_reports_is_its_core_device_and_its_installed_components(cloud):
    gg = client("greengrassv2", cloud)
    core = Client(cloud, "gw-9", cloud.device_token("gw-9")).connect()
    health = {
        "ggcVersion": "2.14.3",
        "platform": "linux",
        "architecture": "amd64",
        "thing": "gw-9",
        "overallDeviceStatus": "HEALTHY",
        "messageType": "COMPLETE",
        "trigger": "NUCLEUS_LAUNCH",
        "components": [
            {"componentName": "com.example.Hello", "version": "1.0.0", "status": "RUNNING", "isRoot": True}
        ],
    }
    core.send("$aws/things/gw-9/greengrassv2/health/json", health)
    device = wait_for(lambda: _core(gg, "gw-9"), 20, "the core device to be known")
    valid("greengrassv2", "GetCoreDevice", device)
    assert device["status"] == "HEALTHY" and device["coreVersion"] == "2.14.3"
    installed = valid(
        "greengrassv2", "ListInstalledComponents", gg.list_installed_components(coreDeviceThingName="gw-9")
    )
    assert installed["installedComponents"][0]["lifecycleState"] == "RUNNING"
    cores = valid("greengrassv2", "ListCoreDevices", gg.list_core_devices())["coreDevices"]
    assert [c["coreDeviceThingName"] for c in cores] == ["gw-9"]
    core.send("$aws/things/gw-9/greengrassv2/health/json", {**health, "overallDeviceStatus": "UNHEALTHY"})
    wait_for(lambda: gg.get_core_device(coreDeviceThingName="gw-9")["status"] == "UNHEALTHY", 20, "UNHEALTHY")
    valid(
        "greengrassv2", "ListEffectiveDeployments", gg.list_effective_deployments(coreDeviceThingName="gw-9")
    )
    core.close()


def _core(gg, thing: str):
    try:
        return gg.get_core_device(coreDeviceThingName=thing)
    except gg.exceptions.ResourceNotFoundException:
        return None
