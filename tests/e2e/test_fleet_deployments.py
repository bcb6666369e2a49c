"""A fleet deployment on one machine: the stand-in (its Greengrass service, jobs, S3) and three real
cores that take deployments from the cloud through their things' IoT jobs, driven by the operator
CLI as against AWS: publish (a second publish uploads and creates nothing), deploy to the group and
watch it succeed, a version whose Install fails rolls back on every core with the cause in the status,
a rollback by command, removal only with --allow-remove, and a core that was off when a deployment
was made applies it when it is back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
import yaml

from tests.core_process import CoreProcess
from tests.waiting import wait_for

CORES = ("gw-1", "gw-2", "gw-3")


def recipe(name: str, version: str, install: str = "true", artifact: bool = False) -> dict:
    manifest: dict = {
        "Platform": {"os": "linux"},
        "Lifecycle": {"Install": install, "Run": "python3 -c 'import time; time.sleep(3600)'"},
    }
    if artifact:
        manifest["Artifacts"] = [
            {"URI": f"s3://placeholder/{name}/{version}/edgeway-components.zip", "Unarchive": "ZIP"}
        ]
    return {
        "RecipeFormatVersion": "2020-01-25", "ComponentName": name, "ComponentVersion": version,
        "ComponentPublisher": "tests", "Manifests": [manifest],
    }  # fmt: skip


def edgeway(cloud, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeway", *args, "--endpoint-url", cloud.http],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def start_core(cloud, tmp_path: Path, thing: str) -> CoreProcess:
    return CoreProcess(
        tmp_path / thing,
        "--thing-name", thing, "--iot-endpoint", f"mqtt://127.0.0.1:{cloud.mqtt_port}",
        "--iot-token", cloud.device_token(thing), "--cloud-deployments",
        "--greengrass-endpoint-url", cloud.http, "--reconnect-max", "2",
    ).start()  # fmt: skip


def installed(core: CoreProcess) -> dict[str, tuple[str, str]]:
    return {name: (c["version"], c["state"]) for name, c in core.components().items()}


@pytest.mark.slow
def test_a_fleet_deployment_succeeds_rolls_back_and_reaches_a_core_that_was_away(cloud, tmp_path):
    kwargs = {
        "region_name": "us-east-1",
        "endpoint_url": cloud.http,
        "aws_access_key_id": "l",
        "aws_secret_access_key": "l",
    }
    iot = boto3.client("iot", **kwargs)
    iot.create_thing_group(thingGroupName="fleet")
    for thing in CORES:
        iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=thing)
    recipes = tmp_path / "recipes"
    recipes.mkdir()
    for body in (
        recipe("test.Hello", "1.0.0", artifact=True),
        recipe("test.Hello", "1.1.0", install="exit 3", artifact=True),
        recipe("test.Other", "1.0.0"),
    ):
        (recipes / f"{body['ComponentName']}-{body['ComponentVersion']}.yaml").write_text(
            yaml.safe_dump(body)
        )
    cores = {thing: start_core(cloud, tmp_path, thing) for thing in CORES}
    try:
        first = edgeway(cloud, "components", "publish", "--recipes", str(recipes), "--bucket", "artifacts")
        assert first.returncode == 0, first.stderr
        assert first.stdout.count("upload s3://artifacts/") == 2 and first.stdout.count(": DEPLOYABLE") == 3
        again = edgeway(cloud, "components", "publish", "--recipes", str(recipes), "--bucket", "artifacts")
        assert again.returncode == 0, again.stderr
        assert "upload" not in again.stdout and again.stdout.count("nothing to create") == 3

        ok = edgeway(cloud, "deploy", "--target", "thinggroup/fleet", "--component", "test.Hello=1.0.0",
                     "--component", "test.Other=1.0.0")  # fmt: skip
        assert ok.returncode == 0, ok.stderr
        first_id = json.loads(ok.stdout.splitlines()[-1])["deploymentId"]
        watched = edgeway(cloud, "deployments", "status", first_id, "--watch", "--timeout", "120")
        assert watched.returncode == 0, watched.stdout + watched.stderr
        assert watched.stdout.count("SUCCEEDED") >= 3
        for core in cores.values():
            assert installed(core)["test.Hello"] == ("1.0.0", "RUNNING")

        bad = edgeway(cloud, "deploy", "--target", "thinggroup/fleet", "--component", "test.Hello=1.1.0")
        assert bad.returncode == 0, bad.stderr
        bad_id = json.loads(bad.stdout.splitlines()[-1])["deploymentId"]
        failed = edgeway(cloud, "deployments", "status", bad_id, "--watch", "--timeout", "180")
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert "Install" in failed.stdout  # the cause, per core
        for core in cores.values():  # every core rolled back to what it ran
            wait_for(
                lambda core=core: installed(core).get("test.Hello") == ("1.0.0", "RUNNING"),
                60,
                "the rollback",
            )

        back = edgeway(cloud, "deployments", "rollback", "--target", "thinggroup/fleet")
        assert back.returncode == 0 and "roll back to revision 1" in back.stdout, back.stdout + back.stderr

        refused = edgeway(cloud, "deploy", "--target", "thinggroup/fleet", "--remove", "test.Other")
        assert refused.returncode == 1 and "--allow-remove" in refused.stderr
        cores["gw-3"].stop()  # away while the next deployment is made
        removal = edgeway(
            cloud, "deploy", "--target", "thinggroup/fleet", "--remove", "test.Other", "--allow-remove"
        )
        assert removal.returncode == 0, removal.stderr
        for thing in ("gw-1", "gw-2"):
            wait_for(
                lambda thing=thing: "test.Other" not in installed(cores[thing]),
                90,
                f"{thing} to remove test.Other",
            )
        cores["gw-3"] = start_core(cloud, tmp_path, "gw-3")
        wait_for(lambda: "test.Other" not in installed(cores["gw-3"]), 90, "gw-3 to apply it once back")
        assert installed(cores["gw-3"])["test.Hello"] == ("1.0.0", "RUNNING")
        gg = boto3.client("greengrassv2", **kwargs)
        assert {c["coreDeviceThingName"] for c in gg.list_core_devices()["coreDevices"]} == set(CORES)
    finally:
        for core in cores.values():
            if core.process is not None and core.process.poll() is None:
                core.stop()
