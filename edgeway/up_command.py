"""`edgeway up`: the whole local stack on one machine: the cloud backend's stand-in (broker, rules,
handlers, stores, stream), the local core with `recipes/`, and the web origin served through the local
CloudFront and its Lambda@Edge functions."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from importlib.resources import files
from pathlib import Path

import click

from cloud_backend.local.identity import Identity, load_or_create_key
from cloud_backend.local.stack import CloudSettings, LocalCloud
from cloudfront_edge.emulator.local import EdgeSettings, LocalEdge
from edgeway.port_options import cloud_http_port_option, mqtt_port_option, ws_port_option
from greengrass_components.cloud.iot_endpoint import IotEndpoint
from greengrass_components.publish.artifact import stage_artifacts
from greengrass_components.runtime.core import Core, CoreSettings


def packaged_recipes() -> Path:
    return Path(str(files("recipes")))


def packaged_web() -> Path:
    return Path(str(files("cloud_backend"))) / "web"


UP_COMPONENTS = (
    "com.edgeway.SensorHub",
    "com.edgeway.ImageAnalyzer",
    "com.edgeway.Uplink",
    "com.edgeway.LambdaHost",
)


def stage_edge_components(state_dir: Path, recipe_dir: Path) -> tuple[Path, Path]:
    """The components `edgeway up` runs on its core, with their artifact built as an operator would."""
    recipes, artifacts = (
        state_dir / "edge-components" / "recipes",
        state_dir / "edge-components" / "artifacts",
    )
    if recipes.exists():
        shutil.rmtree(recipes)
    recipes.mkdir(parents=True)
    for path in sorted(recipe_dir.glob("*.yaml")):
        if path.stem in UP_COMPONENTS or recipe_dir != packaged_recipes():
            shutil.copy(path, recipes / path.name)
    stage_artifacts(recipes, artifacts)
    return recipes, artifacts


def local_function_config(state_dir: Path, cloud: CloudSettings) -> Path:
    """What packaging embeds for local use: the stand-in's MQTT WebSocket in the CSP's connect-src (the
    session API is on the page's own origin, through the local CloudFront)."""
    folder = state_dir / "edge" / "function-config"
    folder.mkdir(parents=True, exist_ok=True)
    sources = [f"ws://{cloud.host}:{cloud.ws_port}"]
    (folder / "security_headers.json").write_text(json.dumps({"connectSrc": sources}, indent=2))
    return folder


async def run_stack(
    cloud_settings: CloudSettings, core_settings: CoreSettings, edge_settings: EdgeSettings
) -> int:
    cloud = LocalCloud(cloud_settings)
    await cloud.start()
    edge = LocalEdge(edge_settings)
    try:
        await edge.start()
        click.echo(f"web app through the local CloudFront: {edge.url}/", err=True)
        click.echo(f"MQTT: tcp 127.0.0.1:{cloud_settings.mqtt_port}, WebSocket {cloud.mqtt_url}", err=True)
        try:
            return await Core(core_settings).run()
        finally:
            await edge.stop()
    finally:
        await cloud.stop()


@click.command()
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".edgeway"),
    show_default=True,
    envvar="EDGEWAY_STATE_DIR",
    help="Where all local state lives [env EDGEWAY_STATE_DIR].",
)
@click.option(
    "--thing-name",
    default="gateway-1",
    show_default=True,
    envvar="EDGEWAY_THING_NAME",
    help="The local core's thing name [env EDGEWAY_THING_NAME].",
)
@click.option(
    "--recipes",
    "recipe_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Recipes to deploy to the core [default: the packaged recipes/].",
)
@click.option(
    "--http-port",
    type=int,
    default=8080,
    show_default=True,
    envvar="EDGEWAY_HTTP_PORT",
    help="The local CloudFront's port [env EDGEWAY_HTTP_PORT].",
)
@mqtt_port_option
@ws_port_option
@cloud_http_port_option("--cloud-http-port")
def up(
    state_dir: Path,
    thing_name: str,
    recipe_dir: Path | None,
    http_port: int,
    mqtt_port: int,
    ws_port: int,
    cloud_http_port: int,
) -> None:
    """Run the local stack in the foreground until Ctrl-C."""
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    cloud_settings = CloudSettings(state_dir / "cloud", mqtt_port, ws_port, cloud_http_port)
    recipes, artifacts = stage_edge_components(state_dir, recipe_dir or packaged_recipes())
    token = Identity(load_or_create_key(cloud_settings.data_dir)).issue(thing_name, "device", thing_name)
    core_settings = CoreSettings(
        root=state_dir / "core",
        recipe_dir=recipes,
        artifact_dir=artifacts,
        thing_name=thing_name,
        iot_endpoint=IotEndpoint("127.0.0.1", mqtt_port, tls=False, password=token),
        reconnect_max_seconds=10.0,
    )
    edge_settings = EdgeSettings(
        port=http_port,
        origins={"WebOrigin": str(packaged_web()), "ApiOrigin": f"http://127.0.0.1:{cloud_http_port}"},
        function_config=local_function_config(state_dir, cloud_settings),
        stage_dir=state_dir / "edge" / "functions",
    )
    try:
        raise SystemExit(asyncio.run(run_stack(cloud_settings, core_settings, edge_settings)))
    except OSError as exc:
        raise click.ClickException(f"cannot start the local stack: {exc}") from exc
