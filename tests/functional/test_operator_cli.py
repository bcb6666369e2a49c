"""`edgeway deploy` and `edgeway deployments` against the stand-in's Greengrass service (a real
`edgeway cloud run`), through boto3 as against AWS: the plan and the difference, removal only when
allowed, a status table per core with its exit code, and a rollback to the previous revision."""

from __future__ import annotations

import json
import subprocess
import sys

import boto3

RECIPE = {
    "RecipeFormatVersion": "2020-01-25", "ComponentName": "com.example.Hello", "ComponentVersion": "1.0.0",
    "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {"Run": "echo hello"}}],
}  # fmt: skip


def edgeway(cloud, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edgeway", *args, "--endpoint-url", cloud.http],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_deploy_status_and_rollback_to_a_group(cloud):
    kwargs = {
        "region_name": "us-east-1",
        "endpoint_url": cloud.http,
        "aws_access_key_id": "l",
        "aws_secret_access_key": "l",
    }
    gg, iot = boto3.client("greengrassv2", **kwargs), boto3.client("iot", **kwargs)
    for version in ("1.0.0", "1.1.0"):
        gg.create_component_version(inlineRecipe=json.dumps(dict(RECIPE, ComponentVersion=version)).encode())
    iot.create_thing_group(thingGroupName="fleet")
    for core in ("gw-1", "gw-2", "gw-3"):
        iot.add_thing_to_thing_group(thingGroupName="fleet", thingName=core)

    first = edgeway(cloud, "deploy", "--target", "thinggroup/fleet", "--component", "com.example.Hello=1.0.0",
                    "--max-per-minute", "10")  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert "+ com.example.Hello 1.0.0" in first.stdout and '"rollout"' not in first.stdout
    first_id = json.loads(first.stdout.strip().splitlines()[-1])["deploymentId"]

    dry = edgeway(cloud, "deploy", "--target", "thinggroup/fleet", "--component", "com.example.Hello=1.1.0",
                  "--update-config", 'com.example.Hello={"greeting": "hej"}', "--dry-run")  # fmt: skip
    assert dry.returncode == 0 and "~ com.example.Hello 1.0.0 -> 1.1.0 (configuration)" in dry.stdout
    assert (
        len(
            gg.list_deployments(
                targetArn="arn:aws:iot:us-east-1:000000000000:thinggroup/fleet", historyFilter="ALL"
            )["deployments"]
        )
        == 1
    )

    refused = edgeway(cloud, "deploy", "--target", "thinggroup/fleet", "--remove", "com.example.Hello")
    assert refused.returncode == 1 and "takes --allow-remove" in " ".join(refused.stderr.split())

    status = edgeway(cloud, "deployments", "status", first_id)
    assert status.returncode == 2  # no core has run it: still going
    for core in ("gw-1", "gw-2", "gw-3"):
        assert core in status.stdout
    assert "QUEUED" in status.stdout

    second = edgeway(
        cloud, "deploy", "--target", "thinggroup/fleet", "--component", "com.example.Hello=1.1.0"
    )
    assert second.returncode == 0, second.stderr
    back = edgeway(cloud, "deployments", "rollback", "--target", "thinggroup/fleet")
    assert back.returncode == 0, back.stderr
    assert "roll back to revision 1" in back.stdout and "~ com.example.Hello 1.1.0 -> 1.0.0" in back.stdout
    latest = gg.list_deployments(targetArn="arn:aws:iot:us-east-1:000000000000:thinggroup/fleet")[
        "deployments"
    ]
    (now,) = latest
    assert now["revisionId"] == "3"
    assert gg.get_deployment(deploymentId=now["deploymentId"])["components"] == {
        "com.example.Hello": {"componentVersion": "1.0.0"}
    }


def test_components_build_writes_each_recipe_with_its_artifacts_real_uri_and_digest(tmp_path):
    import base64
    import hashlib

    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "edgeway", "components", "build", "--bucket", "my-bucket", "--out", str(out)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    uplink = json.loads((out / "recipes" / "com.edgeway.Uplink-1.0.0.json").read_text())
    (artifact,) = uplink["Manifests"][0]["Artifacts"]
    assert artifact["URI"] == "s3://my-bucket/com.edgeway.Uplink/1.0.0/edgeway-components.zip"
    built = (out / "artifacts" / "com.edgeway.Uplink" / "1.0.0" / "edgeway-components.zip").read_bytes()
    assert artifact["Algorithm"] == "SHA-256"
    assert artifact["Digest"] == base64.b64encode(hashlib.sha256(built).digest()).decode()
    model = json.loads((out / "recipes" / "com.edgeway.ObjectModel-1.0.0.json").read_text())
    digests = [a["Digest"] for a in model["Manifests"][0]["Artifacts"]]
    assert digests == [
        "cEbzGnLsAEWle5QZkUTJbPWEDH3BBrgItkoe1VWaoM0=",
        "k/I1iWdIU3/HEyWgcO4y6aCv2iSBzrlDVZMlYZdj+m0=",
    ]
