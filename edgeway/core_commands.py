"""`edgeway core ...`: run the local core and talk to it over its control socket."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from edgeway.console_logs import log_format_option
from edgeway.output import emit_json, fail, table
from edgeway_common.json_logs import render
from greengrass_components.cloud.iot_endpoint import IotEndpoint
from greengrass_components.local_core import CoreSettings, run_core
from greengrass_components.runtime.control_client import control_request
from greengrass_components.runtime.core_paths import CorePaths
from greengrass_components.runtime.errors import CoreError

ROOT_OPTION = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".edgeway/core"),
    show_default=True,
    envvar="EDGEWAY_CORE_ROOT",
    help="Core root folder [env EDGEWAY_CORE_ROOT].",
)


def _key_value(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not NAME=VALUE", param_hint=option)
        pairs[key] = value
    return pairs


def _ask(root: Path, request: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    try:
        answer = control_request(CorePaths(root.resolve()).control_socket, request, timeout)
    except (CoreError, OSError) as exc:
        fail(str(exc))
        raise  # unreachable: fail exits
    if not answer.get("ok"):
        fail(str(answer.get("error")))
    return answer


@click.group()
def core() -> None:
    """Run the local Greengrass core and deploy to it."""


@core.command()
@ROOT_OPTION
@click.option(
    "--recipes",
    "recipe_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Deploy the newest version of every recipe in this folder on start.",
)
@click.option(
    "--artifacts",
    "artifact_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Local artifacts: <dir>/<Component>/<version>/<file>.",
)
@click.option(
    "--thing-name",
    default="gateway-1",
    show_default=True,
    envvar="EDGEWAY_THING_NAME",
    help="The core's thing name [env EDGEWAY_THING_NAME].",
)
@click.option("--region", default="us-east-1", show_default=True, envvar="AWS_REGION")
@click.option(
    "--platform",
    "platform_overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override or add a platform attribute for manifest matching.",
)
@click.option(
    "--iot-endpoint",
    envvar="EDGEWAY_IOT_ENDPOINT",
    help="IoT Core or broker: mqtt://HOST:PORT or mqtts://HOST:8883 [env EDGEWAY_IOT_ENDPOINT].",
)
@click.option(
    "--cert", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Device certificate (mqtts)."
)
@click.option(
    "--key", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Private key (mqtts)."
)
@click.option("--ca", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Root CA (mqtts).")
@click.option(
    "--iot-token",
    envvar="EDGEWAY_IOT_TOKEN",
    help="A token for a custom authorizer, sent as the MQTT password (`edgeway cloud token THING`) "
    "[env EDGEWAY_IOT_TOKEN].",
)
@click.option("--spool-max-bytes", default=2_621_440, show_default=True, help="Bound of the offline spool.")
@click.option("--keep-qos0-when-offline", is_flag=True, help="Spool QoS 0 messages while offline too.")
@click.option("--reconnect-min", default=1.0, show_default=True, help="First reconnect delay, seconds.")
@click.option("--reconnect-max", default=120.0, show_default=True, help="Longest reconnect delay, seconds.")
@click.option(
    "--deployment-timeout",
    default=300.0,
    show_default=True,
    help="Seconds a deployment waits for its components to be RUNNING or FINISHED.",
)
@click.option(
    "--cloud-deployments",
    is_flag=True,
    help="Take deployments from the cloud through the IoT jobs of this core's thing (needs --iot-endpoint).",
)
@click.option(
    "--greengrass-endpoint-url",
    default=None,
    envvar="EDGEWAY_GREENGRASS_ENDPOINT_URL",
    help="Greengrass's API and S3 at this URL (the stand-in: http://127.0.0.1:8081) instead of AWS's.",
)
@log_format_option
def run(
    root: Path,
    recipe_dir: Path | None,
    artifact_dir: Path | None,
    thing_name: str,
    region: str,
    platform_overrides: tuple[str, ...],
    iot_endpoint: str | None,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    iot_token: str | None,
    spool_max_bytes: int,
    keep_qos0_when_offline: bool,
    reconnect_min: float,
    reconnect_max: float,
    deployment_timeout: float,
    cloud_deployments: bool,
    greengrass_endpoint_url: str | None,
    log_format: str,
) -> None:
    """Run the core in the foreground until SIGINT or SIGTERM."""
    if cloud_deployments and not iot_endpoint:
        raise click.BadParameter(
            "cloud deployments come through IoT jobs: give --iot-endpoint", param_hint="--cloud-deployments"
        )
    try:
        endpoint = IotEndpoint.parse(iot_endpoint, cert, key, ca, iot_token) if iot_endpoint else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--iot-endpoint") from exc
    settings = CoreSettings(
        iot_endpoint=endpoint,
        spool_max_bytes=spool_max_bytes,
        keep_qos0_when_offline=keep_qos0_when_offline,
        reconnect_min_seconds=reconnect_min,
        reconnect_max_seconds=reconnect_max,
        root=root,
        recipe_dir=recipe_dir,
        artifact_dir=artifact_dir,
        thing_name=thing_name,
        region=region,
        platform_overrides=_key_value(platform_overrides, "--platform"),
        deployment_timeout=deployment_timeout,
        cloud_deployments=cloud_deployments,
        greengrass_endpoint_url=greengrass_endpoint_url,
        log_format=log_format,
    )
    raise SystemExit(run_core(settings))


@core.command()
@ROOT_OPTION
@click.option("--recipe-dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--artifact-dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--merge", multiple=True, metavar="NAME=VERSION", help="Add or update a component.")
@click.option("--remove", multiple=True, metavar="NAME", help="Remove a component.")
@click.option(
    "--update-config",
    multiple=True,
    metavar="NAME=JSON",
    help='Configuration update, e.g. Comp=\'{"MERGE": {"Port": 8080}, "RESET": ["/Old"]}\'.',
)
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the deployment to finish.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the answer.")
def deploy(
    root: Path,
    recipe_dir: Path | None,
    artifact_dir: Path | None,
    merge: tuple[str, ...],
    remove: tuple[str, ...],
    update_config: tuple[str, ...],
    wait: bool,
    timeout: float,
) -> None:
    """Deploy into the running core: merge, remove, update configuration."""
    updates = {}
    for name, raw in _key_value(update_config, "--update-config").items():
        try:
            updates[name] = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"{name}: not JSON: {exc}", param_hint="--update-config") from exc
    request = {
        "op": "deploy",
        "merge": _key_value(merge, "--merge"),
        "remove": list(remove),
        "update_config": updates,
        "recipe_dir": str(recipe_dir.resolve()) if recipe_dir else None,
        "artifact_dir": str(artifact_dir.resolve()) if artifact_dir else None,
        "wait": wait,
    }
    answer = _ask(root, request, timeout)
    click.echo(
        f"deployment {answer['id']}: {answer['status']}"
        + (f": {answer['reason']}" if answer.get("reason") else "")
    )
    if answer["status"] == "FAILED":
        raise SystemExit(1)


@core.command(name="list")
@ROOT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_components(root: Path, as_json: bool) -> None:
    """Components with their versions and states."""
    components = _ask(root, {"op": "list"})["components"]
    if as_json:
        emit_json(components)
        return
    table(
        "components",
        ["name", "version", "state", "reason"],
        [(c["name"], c["version"], c["state"], c["reason"]) for c in components],
    )


@core.command()
@ROOT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def deployments(root: Path, as_json: bool) -> None:
    """Deployments and their status, oldest first."""
    found = _ask(root, {"op": "deployments"})["deployments"]
    if as_json:
        emit_json(found)
        return
    table(
        "deployments",
        ["id", "created", "status", "reason"],
        [
            (
                d["id"],
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(d["created"])),
                d["status"],
                d["reason"],
            )
            for d in found
        ],
    )


@core.command()
@ROOT_OPTION
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option("-n", "--lines", default=50, show_default=True, help="How many past lines to show.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON lines.")
def logs(root: Path, name: str, follow: bool, lines: int, as_json: bool) -> None:
    """Show a component's log (`greengrass` for the core's own)."""
    path = CorePaths(root.resolve()).logs / f"{name}.log"
    if not path.exists():
        fail(f"no log for {name!r} at {path}")
    show = (lambda line: line.rstrip("\n")) if as_json else render
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle.readlines()[-lines:] if lines > 0 else []:
            click.echo(show(line))
        while follow:
            line = handle.readline()
            if line:
                click.echo(show(line))
                continue
            if path.exists() and path.stat().st_size < handle.tell():  # rotated
                handle.close()
                handle = path.open(encoding="utf-8", errors="replace")
                continue
            time.sleep(0.2)
