"""`edgeway cloud`: run the cloud backend's local stand-in, mint a device token, deploy to AWS."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import click

from cloud_backend.local.identity import Identity, load_or_create_key
from cloud_backend.local.stack import DEFAULT_TEMPLATE, CloudSettings, LocalCloud
from cloud_backend.rules.loader import RuleLoadError
from edgeway.console_logs import attach, log_format_option
from edgeway.output import fail, name_value_pairs
from edgeway.port_options import (
    cloud_http_port_option,
    discovery_port_option,
    mqtt_port_option,
    ws_port_option,
)
from edgeway.recipe_check import recipe_problems
from edgeway_common.cfn import TemplateError
from edgeway_common.gc_tuning import settle

data_dir_option = click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".edgeway") / "cloud",
    show_default=True,
    envvar="EDGEWAY_CLOUD_DATA_DIR",
    help="SQLite files, the signing key and rule errors [env EDGEWAY_CLOUD_DATA_DIR].",
)


@click.group()
def cloud() -> None:
    """The cloud backend: the local stand-in, tokens, deployment."""


async def serve(cloud_site: LocalCloud) -> None:
    await cloud_site.start()
    settle()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await cloud_site.stop()


@cloud.command()
@data_dir_option
@mqtt_port_option
@ws_port_option
@cloud_http_port_option("--http-port")
@discovery_port_option
@click.option(
    "--template",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_TEMPLATE,
    help="The SAM template [default: cloud_backend/template.yaml].",
)
@click.option(
    "--token-seconds",
    type=click.IntRange(5, 86400),
    default=3600,
    show_default=True,
    envvar="EDGEWAY_TOKEN_SECONDS",
    show_envvar=True,
    help="How long a session token from POST /api/session holds (the page renews it before then).",
)
@log_format_option
def run(
    data_dir: Path,
    mqtt_port: int,
    ws_port: int,
    http_port: int,
    discovery_port: int,
    template: Path,
    token_seconds: int,
    log_format: str,
) -> None:
    """Run the broker, rules, handlers, stores and stream on loopback until Ctrl-C."""
    attach(log_format)
    # The broker's loop shares the GIL with the handler and store threads; a shorter switch interval
    # keeps a busy thread from holding a delivery back for the default 5 ms.
    sys.setswitchinterval(0.0005)
    settings = CloudSettings(
        data_dir,
        mqtt_port,
        ws_port,
        http_port,
        template,
        token_seconds=token_seconds,
        discovery_port=discovery_port,
    )
    try:
        asyncio.run(serve(LocalCloud(settings, recipe_check=recipe_problems)))
    except (TemplateError, RuleLoadError) as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot start the cloud stand-in: {exc}")


@cloud.command()
@data_dir_option
@click.option(
    "--role",
    type=click.Choice(["device", "observer"]),
    default="device",
    show_default=True,
    help="device: its own topics; observer: hears every device's devices/<thing>/telemetry.",
)
@click.argument("thing")
def token(data_dir: Path, role: str, thing: str) -> None:
    """Print a token for THING (the MQTT client id it must connect with)."""
    from cloud_backend.handlers.tokens import CLIENT_ID

    if not CLIENT_ID.match(thing):
        fail(f"thing name {thing!r}: use 1 to 128 letters, digits, _ or -")
    click.echo(Identity(load_or_create_key(data_dir)).issue(thing, role, thing))


@cloud.group()
def thing() -> None:
    """Things of the stand-in: certificates and their association with cores."""


@thing.command("create")
@data_dir_option
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Where to write."
)
@click.option("--core", "cores", multiple=True, help="Associate it with this core device (for discovery).")
@click.argument("name")
def thing_create(data_dir: Path, out: Path, cores: tuple[str, ...], name: str) -> None:
    """A certificate and key for thing NAME from the stand-in's CA (as IoT's CreateKeysAndCertificate),
    and the CA its servers present (as Amazon's root CA), written to --out."""
    import shutil

    from cloud_backend.handlers.tokens import CLIENT_ID
    from cloud_backend.local.greengrass_registry import GreengrassRegistry
    from edgeway_common.certificates import CertificateAuthority

    if not CLIENT_ID.match(name):
        fail(f"thing name {name!r}: use 1 to 128 letters, digits, _ or -")
    authority = CertificateAuthority(data_dir / "ca", "edgeway stand-in CA")
    made = authority.issue(name, folder=out)
    shutil.copy(authority.ca, out / "root-ca.pem")
    if cores:
        registry = GreengrassRegistry(data_dir / "greengrass.sqlite3")
        for core_name in cores:
            registry.associate(core_name, [name])
        registry.close()
    click.echo(
        json.dumps(
            {
                "thing": name,
                "cert": str(made.cert),
                "key": str(made.key),
                "ca": str(out / "root-ca.pem"),
                "cores": list(cores),
            }
        )
    )


@cloud.group()
def job() -> None:
    """IoT jobs for devices, through boto3's iot client (the stand-in's API by default)."""


@job.command("create")
@click.option("--job-id", required=True, help="1 to 64 letters, digits, _ or -.")
@click.option("--thing", "things", multiple=True, required=True, help="A target thing (repeat for more).")
@click.option("--document", required=True, help="The job document: JSON, or @FILE.")
@click.option(
    "--timeout-minutes", type=click.IntRange(1, 10080), help="In progress longer than this: TIMED_OUT."
)
@click.option("--description", default="", help="What the job is for.")
@click.option(
    "--endpoint-url",
    default="http://127.0.0.1:8081",
    show_default=True,
    envvar="EDGEWAY_IOT_ENDPOINT_URL",
    help="The IoT API to call; empty for AWS's own.",
)
@click.option("--region", default="us-east-1", show_default=True)
def job_create(
    job_id: str,
    things: tuple[str, ...],
    document: str,
    timeout_minutes: int | None,
    description: str,
    endpoint_url: str,
    region: str,
) -> None:
    """CreateJob with IoT's request shape; prints IoT's answer."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    text = Path(document[1:]).read_text() if document.startswith("@") else document
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        fail(f"--document is not JSON: {exc}")
    if not isinstance(parsed, dict):
        fail("--document must be a JSON object")
    local = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if endpoint_url else {}
    iot = boto3.client("iot", region_name=region, endpoint_url=endpoint_url or None, **local)
    arns = [f"arn:aws:iot:{region}:{_account(iot, endpoint_url)}:thing/{name}" for name in things]
    request: dict[str, object] = {"jobId": job_id, "targets": arns, "document": json.dumps(parsed)}
    if description:
        request["description"] = description
    if timeout_minutes is not None:
        request["timeoutConfig"] = {"inProgressTimeoutInMinutes": timeout_minutes}
    try:
        answer = iot.create_job(**request)
    except (ClientError, BotoCoreError) as exc:
        fail(f"CreateJob {job_id}: {exc}")
    click.echo(json.dumps({k: answer[k] for k in ("jobArn", "jobId") if k in answer}))


def _account(iot: object, endpoint_url: str) -> str:
    """The stand-in's pretend account, or the caller's own in AWS."""
    if endpoint_url:
        return "000000000000"
    import boto3

    return str(boto3.client("sts").get_caller_identity()["Account"])


@cloud.command()
@click.option("--stack-name", required=True, help="The CloudFormation stack to create or update.")
@click.option("--region", required=True, help="The AWS region of the backend.")
@click.option("--bucket", required=True, help="An S3 bucket in that region for the handlers' zip.")
@click.option("--parameter", "parameters", multiple=True, metavar="KEY=VALUE", help="A template parameter.")
@click.option("--dry-run", is_flag=True, help="Package and print the plan; call nothing in AWS.")
@click.option(
    "--artifact-out",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the handlers' zip to this file.",
)
@click.option(
    "--no-vendor",
    "vendor",
    flag_value=False,
    default=True,
    help="Leave out the third-party wheels (offline; the zip cannot run on Lambda, the plan says so).",
)
def deploy(
    stack_name: str,
    region: str,
    bucket: str,
    parameters: tuple[str, ...],
    dry_run: bool,
    output: Path | None,
    vendor: bool,
) -> None:
    """Package the handlers, print the plan, and deploy the template with a CloudFormation change set."""
    import boto3

    from cloud_backend.deploy.deployer import CloudDeployer, CloudDeployError
    from cloud_backend.deploy.packaging import build, vendored_dependencies
    from cloud_backend.deploy.plan import make_plan
    from cloud_backend.errors import ArtifactError

    pairs = name_value_pairs(parameters, "--parameter", "KEY=VALUE", empty_value=True)
    try:  # a dry run packages exactly as a deploy does: the plan it prints is the plan a deploy runs
        artifact = build(vendored_dependencies() if vendor else None)
        plan = make_plan(stack_name, region, bucket, artifact, DEFAULT_TEMPLATE.read_text(), pairs)
    except (ArtifactError, ValueError, OSError) as exc:
        fail(str(exc))
    for line in plan.describe():
        click.echo(line)
    if output is not None:
        output.write_bytes(artifact.data)
        click.echo(f"  the artifact is written to {output}")
    if dry_run:
        return
    deployer = CloudDeployer(
        boto3.client("s3", region_name=region), boto3.client("cloudformation", region_name=region)
    )
    try:
        result = deployer.execute(plan, artifact)
    except CloudDeployError as exc:
        fail(str(exc))
    click.echo(f"stack {stack_name}: {result.status} (change set {result.change_set})")
