"""The operator's commands: `edgeway components build|publish`, `edgeway deploy`, `edgeway deployments
status|rollback`. All through boto3's `greengrassv2`, `s3` and `iot` clients: AWS by default, the
stand-in with `--endpoint-url http://127.0.0.1:8081`. Each prints its plan; `--dry-run` stops there."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import click

from edgeway.output import fail, name_value_pairs, table

STATUS_EXIT = {"SUCCEEDED": 0, "FAILED": 1}
aws_options = [
    click.option("--region", default="us-east-1", show_default=True, envvar="AWS_REGION"),
    click.option(
        "--endpoint-url",
        default="",
        envvar="EDGEWAY_AWS_ENDPOINT_URL",
        help="The API to call instead of AWS's (the stand-in: http://127.0.0.1:8081).",
    ),
]


def with_aws(command: Any) -> Any:
    for option in reversed(aws_options):
        command = option(command)
    return command


class Aws:
    """The clients a command needs, and the account its ARNs name."""

    def __init__(self, region: str, endpoint_url: str) -> None:
        import boto3

        local = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if endpoint_url else {}
        self.region, self.endpoint = region, endpoint_url or None
        self._boto, self._local = boto3, local

    def client(self, service: str) -> Any:
        if service == "s3" and self.endpoint:  # the stand-in serves S3 path-style under /s3
            from botocore.config import Config

            return self._boto.client(
                "s3", region_name=self.region, endpoint_url=f"{self.endpoint}/s3",
                config=Config(s3={"addressing_style": "path"}), **self._local,
            )  # fmt: skip
        return self._boto.client(service, region_name=self.region, endpoint_url=self.endpoint, **self._local)

    @property
    def account(self) -> str:
        if self.endpoint:
            return "000000000000"
        return str(self.client("sts").get_caller_identity()["Account"])

    def target(self, text: str) -> str:
        kind, _, name = text.partition("/")
        if kind not in ("thing", "thinggroup") or not name:
            fail(f"--target {text!r}: use thing/NAME or thinggroup/NAME")
        return f"arn:aws:iot:{self.region}:{self.account}:{kind}/{name}"


def _built(recipes: Path, bucket: str) -> list[Any]:
    from greengrass_components.publish import model_store
    from greengrass_components.publish.artifact import ARTIFACT_NAME, components_zip
    from greengrass_components.publish.operations import build_component, load_recipe

    scratch = Path(tempfile.mkdtemp(prefix="edgeway-build-"))
    files: dict[str, Path] = {}
    built = []
    for path in sorted(recipes.glob("*.yaml")):
        recipe = load_recipe(path)
        names = [
            str(a.get("URI", "")).rsplit("/", 1)[-1]
            for m in recipe.get("Manifests") or []
            for a in m.get("Artifacts") or []
        ]
        for name in names:
            if name in files:
                continue
            if name == ARTIFACT_NAME:
                files[name] = scratch / name
                files[name].write_bytes(components_zip())
            elif name in model_store.SHA256:
                files[name] = model_store.fetch_model() / name
        built.append(build_component(recipe, files, bucket))
    return built


@click.command("build")
@click.option(
    "--recipes",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("recipes"),
    show_default=True,
)
@click.option("--bucket", required=True, help="The S3 bucket the recipes' artifact URIs will name.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("build/components"),
    show_default=True,
)
def build(recipes: Path, bucket: str, out: Path) -> None:
    """The artifacts, and each recipe with its artifacts' real URIs and SHA-256 digests, in --out."""
    from greengrass_components.publish.operations import PublishError

    try:
        components = _built(recipes, bucket)
    except (PublishError, OSError) as exc:
        fail(str(exc))
    for component in components:
        (out / "recipes").mkdir(parents=True, exist_ok=True)
        (out / "recipes" / f"{component.name}-{component.version}.json").write_bytes(component.recipe_bytes())
        for artifact in component.artifacts:
            target = out / "artifacts" / artifact.key
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(artifact.path.read_bytes())
            click.echo(f"{component.name} {component.version}: {artifact.key} sha256 {artifact.sha256}")
    click.echo(f"built {len(components)} components into {out}")


@click.command("publish")
@click.option(
    "--recipes",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=Path("recipes"),
    show_default=True,
)
@click.option("--bucket", required=True)
@click.option("--dry-run", is_flag=True, help="Print the plan; upload and create nothing.")
@with_aws
def publish(recipes: Path, bucket: str, dry_run: bool, region: str, endpoint_url: str) -> None:
    """Upload only the artifacts that changed, create each new component version, wait until DEPLOYABLE."""
    from greengrass_components.publish.operations import PublishError, execute_publish, plan_publish

    aws = Aws(region, endpoint_url)
    s3, greengrass = aws.client("s3"), aws.client("greengrassv2")
    try:
        plans = [
            plan_publish(c, bucket, s3, greengrass, aws.account, region) for c in _built(recipes, bucket)
        ]
        for plan in plans:
            for line in plan.describe():
                click.echo(line)
        if dry_run:
            return
        for plan in plans:
            state = execute_publish(plan, s3, greengrass, aws.account, region)
            click.echo(f"{plan.component.name} {plan.component.version}: {state}")
    except PublishError as exc:
        fail(str(exc))


@click.command("deploy")
@click.option("--target", required=True, help="thing/NAME or thinggroup/NAME")
@click.option("--component", "components", multiple=True, metavar="NAME=VERSION")
@click.option("--update-config", "configs", multiple=True, metavar="NAME=JSON", help="A configuration MERGE.")
@click.option(
    "--remove", multiple=True, metavar="NAME", help="Take a component off the target (with --allow-remove)."
)
@click.option("--allow-remove", is_flag=True)
@click.option(
    "--failure-handling", type=click.Choice(["ROLLBACK", "DO_NOTHING"]), default="ROLLBACK", show_default=True
)
@click.option("--component-update-timeout", type=click.IntRange(1, 86400), default=60, show_default=True)
@click.option("--config-validation-timeout", type=click.IntRange(1, 86400), default=30, show_default=True)
@click.option("--max-per-minute", type=click.IntRange(1, 1000), help="Rollout: cores started per minute.")
@click.option(
    "--abort-failed-percent", type=click.FloatRange(0, 100), help="Abort the rollout past this share failed."
)
@click.option("--abort-min-cores", type=click.IntRange(1, 10000), default=1, show_default=True)
@click.option("--dry-run", is_flag=True)
@with_aws
def deploy(
    target: str,
    components: tuple[str, ...],
    configs: tuple[str, ...],
    remove: tuple[str, ...],
    allow_remove: bool,
    failure_handling: str,
    component_update_timeout: int,
    config_validation_timeout: int,
    max_per_minute: int | None,
    abort_failed_percent: float | None,
    abort_min_cores: int,
    dry_run: bool,
    region: str,
    endpoint_url: str,
) -> None:
    """Deploy to a core or a group: start from its current deployment, print the difference, go."""
    from greengrass_components.publish.operations import PublishError, current_components, plan_deploy

    aws = Aws(region, endpoint_url)
    greengrass = aws.client("greengrassv2")
    arn = aws.target(target)
    policies = {
        "failureHandlingPolicy": failure_handling,
        "componentUpdatePolicy": {
            "timeoutInSeconds": component_update_timeout,
            "action": "NOTIFY_COMPONENTS",
        },
        "configurationValidationPolicy": {"timeoutInSeconds": config_validation_timeout},
    }
    job: dict[str, Any] = {}
    if max_per_minute is not None:
        job["jobExecutionsRolloutConfig"] = {"maximumPerMinute": max_per_minute}
    if abort_failed_percent is not None:
        job["abortConfig"] = {
            "criteriaList": [
                {
                    "failureType": "FAILED",
                    "action": "CANCEL",
                    "thresholdPercentage": abort_failed_percent,
                    "minNumberOfExecutedThings": abort_min_cores,
                }
            ]
        }
    try:
        plan = plan_deploy(
            current_components(greengrass, arn),
            arn,
            name_value_pairs(components, "--component"),
            name_value_pairs(configs, "--update-config"),
            remove,
            allow_remove,
            policies,
            job,
        )
        _show_and_deploy(plan, greengrass, dry_run)
    except PublishError as exc:
        fail(str(exc))


@click.group()
def deployments() -> None:
    """Watch and roll back deployments."""


@deployments.command("status")
@click.argument("deployment_id")
@click.option("--watch", is_flag=True, help="Wait until every core finished (or --timeout).")
@click.option("--timeout", type=click.FloatRange(1, 86400), default=600, show_default=True)
@with_aws
def status(deployment_id: str, watch: bool, timeout: float, region: str, endpoint_url: str) -> None:
    """A table per core: its status, the reason, its components' states. Exit 0 all succeeded, 1 one
    failed, 2 still going at the timeout."""
    from greengrass_components.publish.operations import core_statuses, deployment_cores, overall

    aws = Aws(region, endpoint_url)
    greengrass, iot = aws.client("greengrassv2"), aws.client("iot")
    deployment = greengrass.get_deployment(deploymentId=deployment_id)
    cores = deployment_cores(iot, deployment["targetArn"])
    deadline = time.monotonic() + timeout
    while True:
        statuses = core_statuses(greengrass, deployment_id, cores)
        result = overall(statuses)
        if not watch or result != "IN_PROGRESS" or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    rows = [
        (s.core, s.status, s.reason, ", ".join(f"{n} {v} {st}" for n, v, st in s.components))
        for s in statuses
    ]
    table(
        f"deployment {deployment_id} to {deployment['targetArn']}: {result}",
        ["core", "status", "reason", "components"],
        rows,
    )
    raise SystemExit(STATUS_EXIT.get(result, 2))


@deployments.command("rollback")
@click.option("--target", required=True, help="thing/NAME or thinggroup/NAME")
@click.option("--dry-run", is_flag=True)
@with_aws
def rollback(target: str, dry_run: bool, region: str, endpoint_url: str) -> None:
    """Deploy the previous revision's components and configuration to the target again."""
    from greengrass_components.publish.operations import (
        DeployPlan,
        PublishError,
        current_components,
        previous_components,
    )

    aws = Aws(region, endpoint_url)
    greengrass = aws.client("greengrassv2")
    arn = aws.target(target)
    try:
        revision, components = previous_components(greengrass, arn)
        plan = DeployPlan(arn, current_components(greengrass, arn), components)
        click.echo(f"roll back to revision {revision}")
        _show_and_deploy(plan, greengrass, dry_run)
    except PublishError as exc:
        fail(str(exc))


def _show_and_deploy(plan: Any, greengrass: Any, dry_run: bool) -> None:
    """The plan first; then, unless it is a dry run, the deployment and its ids."""
    from greengrass_components.publish.operations import execute_deploy

    for line in plan.describe():
        click.echo(line)
    if dry_run:
        return
    answer = execute_deploy(plan, greengrass)
    click.echo(json.dumps({"deploymentId": answer["deploymentId"], "iotJobId": answer.get("iotJobId")}))
