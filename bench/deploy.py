"""Fleet deployment benchmark: the stand-in and 1, then 5, local cores taking deployments from it.

    python bench/deploy.py [--cores 1 5]

For each fleet size: a thing group of that many cores (real `edgeway core run` processes with
`--cloud-deployments`), one small component (an artifact and a Run that sleeps) published once, then
timed: from `create_deployment` to every core SUCCEEDED (read as the operator CLI reads it, through
ListEffectiveDeployments). Also timed: a second publish of the unchanged component (no upload, no new
version), both as the whole `edgeway components publish` command and in process. Prints one JSON object.
Goals (issue 17): 5 cores under 10 s; the unchanged publish under 1 s with no upload.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.stand_in import StandIn, running_stand_in  # noqa: E402
from greengrass_components.publish.operations import core_statuses, overall  # noqa: E402
from tests.core_process import CoreProcess  # noqa: E402

RECIPE = {
    "RecipeFormatVersion": "2020-01-25", "ComponentName": "bench.Hello", "ComponentVersion": "1.0.0",
    "Manifests": [{"Platform": {"os": "linux"},
                   "Artifacts": [{"URI": "s3://x/bench.Hello/1.0.0/edgeway-components.zip",
                                  "Unarchive": "ZIP"}],
                   "Lifecycle": {"Run": "python3 -c 'import time; time.sleep(3600)'"}}],
}  # fmt: skip


def token(stand_in: StandIn, thing: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "edgeway", "cloud", "token", "--data-dir", str(stand_in.data_dir), thing],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return done.stdout.strip()


def publish(stand_in: StandIn, recipes: Path) -> tuple[float, str]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "edgeway", "components", "publish", "--recipes", str(recipes),
         "--bucket", "bench", "--endpoint-url", f"http://127.0.0.1:{stand_in.http_port}"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return time.monotonic() - started, done.stdout


def fleet_run(stand_in: StandIn, folder: Path, size: int, group: str, clients: dict) -> dict:
    iot, gg = clients["iot"], clients["greengrassv2"]
    iot.create_thing_group(thingGroupName=group)
    things = [f"{group}-{i}" for i in range(1, size + 1)]
    cores = []
    try:
        for thing in things:
            iot.add_thing_to_thing_group(thingGroupName=group, thingName=thing)
            cores.append(
                CoreProcess(
                    folder / thing, "--thing-name", thing, "--iot-endpoint", f"mqtt://127.0.0.1:{stand_in.mqtt_port}",
                    "--iot-token", token(stand_in, thing), "--cloud-deployments",
                    "--greengrass-endpoint-url", f"http://127.0.0.1:{stand_in.http_port}",
                ).start(60)
            )  # fmt: skip
        arn = f"arn:aws:iot:us-east-1:000000000000:thinggroup/{group}"
        started = time.monotonic()
        answer = gg.create_deployment(
            targetArn=arn, components={"bench.Hello": {"componentVersion": "1.0.0"}}
        )
        while True:
            statuses = core_statuses(gg, answer["deploymentId"], things)
            result = overall(statuses)
            if result != "IN_PROGRESS" or time.monotonic() - started > 120:
                break
            time.sleep(0.05)
        return {
            "cores": size,
            "result": result,
            "deploy_to_all_succeeded_s": round(time.monotonic() - started, 2),
        }
    finally:
        for core in cores:
            core.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cores", type=int, nargs="+", default=[1, 5])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name, running_stand_in(Path(name)) as stand_in:
        folder = Path(name)
        recipes = folder / "recipes"
        recipes.mkdir()
        (recipes / "bench.Hello-1.0.0.yaml").write_text(yaml.safe_dump(RECIPE))
        first_s, _ = publish(stand_in, recipes)
        again_s, again_out = publish(stand_in, recipes)
        from edgeway.operator_commands import Aws, _built
        from greengrass_components.publish.operations import execute_publish, plan_publish

        aws = Aws("us-east-1", f"http://127.0.0.1:{stand_in.http_port}")
        clients = {name: aws.client(name) for name in ("s3", "greengrassv2", "iot")}
        built = _built(recipes, "bench")
        started = time.monotonic()
        plans = [
            plan_publish(c, "bench", clients["s3"], clients["greengrassv2"], aws.account, aws.region)
            for c in built
        ]
        for plan in plans:
            execute_publish(plan, clients["s3"], clients["greengrassv2"], aws.account, aws.region)
        in_process_s = time.monotonic() - started
        runs = [fleet_run(stand_in, folder, size, f"bench{size}", clients) for size in args.cores]
    five = next((r for r in runs if r["cores"] == 5), None)
    report = {
        "benchmark": "deploy",
        "machine": machine(),
        "publish_first_s": round(first_s, 2),
        "publish_unchanged_command_s": round(again_s, 2),
        "publish_unchanged_in_process_s": round(in_process_s, 3),
        "unchanged_uploaded": again_out.count("upload "),
        "unchanged_created": again_out.count(": DEPLOYABLE") - again_out.count("nothing to create"),
        "fleets": runs,
        "goals": {
            "five_cores_under_10s": bool(
                five and five["result"] == "SUCCEEDED" and five["deploy_to_all_succeeded_s"] < 10
            ),
            "unchanged_publish_no_upload_under_1s": again_out.count("upload ") == 0 and in_process_s < 1.0,
        },
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
