"""`edgeway edge`: serve the local CloudFront, invoke one function, deploy the functions."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import click

from cloudfront_edge.deploy.packaging import FUNCTIONS_DIR, PackagingError
from cloudfront_edge.emulator.invoke import build_event, invoke_once
from cloudfront_edge.emulator.local import EdgeSettings, LocalEdge
from cloudfront_edge.emulator.messages import ViewerRequest
from cloudfront_edge.model.triggers import Trigger
from edgeway.console_logs import attach, log_format_option
from edgeway.output import fail, name_value_pairs

template_option = click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Template with the distribution [default: cloudfront_edge/distribution.yaml].",
)
functions_option = click.option(
    "--functions",
    "functions_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=FUNCTIONS_DIR,
    show_default="cloudfront_edge/functions",
    help="Folder of function modules (<module>.py), packaged from here as they deploy.",
)
function_config_option = click.option(
    "--function-config",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Folder of <function>.json, embedded in each function as packaging does.",
)


@click.group()
def edge() -> None:
    """Lambda@Edge: a local CloudFront, single invocations, deployment."""


async def _serve(settings: EdgeSettings) -> None:
    edge_site = LocalEdge(settings)
    await edge_site.start()
    click.echo(f"local CloudFront on {edge_site.url} ({edge_site.distribution.source})", err=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await edge_site.stop()


@edge.command()
@click.option(
    "--port", type=int, default=8080, show_default=True, envvar="EDGEWAY_EDGE_PORT", show_envvar=True
)
@template_option
@click.option(
    "--origin", "origins", multiple=True, help="ORIGIN_ID=http://HOST:PORT or ORIGIN_ID=FOLDER (S3 stand-in)."
)
@function_config_option
@functions_option
@click.option(
    "--viewer-country", default="US", show_default=True, help="CloudFront-Viewer-Country for local viewers."
)
@log_format_option
def serve(
    port: int,
    config: Path | None,
    origins: tuple[str, ...],
    function_config: Path | None,
    functions_dir: Path,
    viewer_country: str,
    log_format: str,
) -> None:
    """Serve the distribution's behaviours and functions on 127.0.0.1:PORT.

    Your own distribution and functions: --config your template (its functions' Handler names
    module.function) and --functions the folder of their modules."""
    attach(log_format)
    settings = EdgeSettings(
        port,
        config,
        name_value_pairs(origins, "--origin", "ORIGIN_ID=http://HOST:PORT or ORIGIN_ID=FOLDER"),
        function_config,
        viewer_country=viewer_country,
        functions_dir=functions_dir,
    )
    try:
        asyncio.run(_serve(settings))
    except (ValueError, OSError) as exc:
        fail(str(exc))


@edge.command()
@click.argument("function")
@click.option(
    "--trigger", type=click.Choice([t.value for t in Trigger]), help="[default: the event's eventType]"
)
@click.option(
    "--event",
    "event_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Replay this Lambda@Edge event (JSON, as CloudFront sends it) instead of building one.",
)
@functions_option
@click.option("--uri", default="/", show_default=True)
@click.option("--method", default="GET", show_default=True)
@click.option("--querystring", default="")
@click.option("--header", "headers", multiple=True, help="K:V, repeatable.")
@click.option(
    "--status", type=int, default=200, show_default=True, help="The origin's status, for response triggers."
)
@function_config_option
def invoke(
    function: str,
    trigger: str | None,
    event_file: Path | None,
    functions_dir: Path,
    uri: str,
    method: str,
    querystring: str,
    headers: tuple[str, ...],
    status: int,
    function_config: Path | None,
) -> None:
    """Run FUNCTION once; print the event, the result and CloudFront's verdict.

    FUNCTION is a module in --functions, with the function Lambda calls after a dot when it is not
    `handler` (`lambda_function.lambda_handler`, as AWS's examples name it)."""
    module, _, handler = function.partition(".")
    handler = handler or "handler"
    if not module.isidentifier() or not handler.isidentifier():
        fail(f"FUNCTION {function!r}: use MODULE or MODULE.HANDLER, as in lambda_function.lambda_handler")
    if not (functions_dir / f"{module}.py").is_file():
        fail(f"FUNCTION {function!r}: no {module}.py in {functions_dir} (set --functions)")
    if event_file is not None:
        event, event_trigger = _event_from_file(event_file)
        if trigger is not None and trigger != event_trigger:
            fail(f"--trigger {trigger}: the event in {event_file} is a {event_trigger} event")
        chosen = Trigger(event_trigger)
    else:
        if trigger is None:
            fail("--trigger is required unless --event gives one")
        chosen = Trigger(trigger)
        request = ViewerRequest(
            method,
            uri,
            querystring,
            [("Host", "d111111abcdef8.cloudfront.net"), *_headers(headers)],
            "203.0.113.10",
        )
        event = build_event(chosen, request, response_status=status)
    try:
        verdict = asyncio.run(
            invoke_once(module, chosen, event, function_config, source_dir=functions_dir, handler=handler)
        )
    except (AttributeError, ImportError, SyntaxError, PackagingError) as exc:  # loading the module
        fail(f"FUNCTION {function!r} in {functions_dir}: {exc}")
    click.echo(json.dumps(verdict.as_json(), indent=2))
    if verdict.status != 200:
        sys.exit(1)


def _headers(values: tuple[str, ...]) -> list[tuple[str, str]]:
    pairs = []
    for item in values:
        key, sep, value = item.partition(":")
        if not sep or not key.strip():
            fail(f"--header {item!r}: use NAME:VALUE")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _event_from_file(path: Path) -> tuple[dict[str, Any], str]:
    """A Lambda@Edge event from a file, and its trigger; every way it can be wrong says where."""
    try:
        event = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        fail(f"--event {path}: not a JSON file ({exc})")
    try:
        cf = event["Records"][0]["cf"]
        event_type = cf["config"]["eventType"]
    except (KeyError, IndexError, TypeError):
        fail(
            f"--event {path}: expected a Lambda@Edge event with Records[0].cf.config.eventType "
            "(as CloudFront sends it)"
        )
    if event_type not in {t.value for t in Trigger}:
        fail(f"--event {path}: Records[0].cf.config.eventType {event_type!r} is not a Lambda@Edge trigger")
    if not isinstance(cf.get("request"), dict):
        fail(f"--event {path}: Records[0].cf.request is missing")
    if not Trigger(event_type).is_request and not isinstance(cf.get("response"), dict):
        fail(f"--event {path}: a {event_type} event needs Records[0].cf.response")
    return event, str(event_type)


@edge.command()
@click.option(
    "--distribution-id", required=True, help="The CloudFront distribution to associate the functions with."
)
@template_option
@function_config_option
@click.option(
    "--prefix", default="edgeway", show_default=True, help="Lambda function names are PREFIX-<function>."
)
@click.option("--role-name", default="edgeway-edge-functions", show_default=True)
@click.option("--dry-run", is_flag=True, help="Print the plan and stop.")
def deploy(
    distribution_id: str,
    config: Path | None,
    function_config: Path | None,
    prefix: str,
    role_name: str,
    dry_run: bool,
) -> None:
    """Package the functions, publish numbered versions in us-east-1, and associate them."""
    import boto3

    from cloudfront_edge.deploy.deployer import EdgeDeployer
    from cloudfront_edge.deploy.packaging import PackagingError, package_distribution
    from cloudfront_edge.deploy.plan import REGION, PlanError, make_plan
    from cloudfront_edge.errors import EdgeDeployError
    from cloudfront_edge.model.distribution import DistributionError, load_distribution

    try:
        distribution = load_distribution(config)
        packages = package_distribution(distribution, function_config)
        plan = make_plan(distribution, distribution_id, packages, prefix, role_name)
    except (DistributionError, PackagingError, PlanError) as exc:
        fail(str(exc))
    for line in plan.describe():
        click.echo(line)
    if dry_run:
        return
    deployer = EdgeDeployer(
        boto3.client("lambda", region_name=REGION), boto3.client("iam"), boto3.client("cloudfront")
    )
    try:
        result = deployer.execute(plan, packages)
    except (EdgeDeployError, PlanError) as exc:
        fail(str(exc))
    for name, arn in sorted(result.versions.items()):
        click.echo(f"published {name}: {arn}")
    click.echo(f"distribution {distribution_id} updated (ETag {result.distribution_etag})")
