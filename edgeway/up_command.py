"""`edgeway up`: the whole local stack on one machine: the cloud backend's stand-in (broker, rules,
handlers, stores, stream), the local core with `recipes/`, and the web origin served through the local
CloudFront and its Lambda@Edge functions."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import socket
import time
from importlib.resources import files
from pathlib import Path
from typing import Any

import click

from cloud_backend.broker.monitor import Monitor
from cloud_backend.local.greengrass_registry import Endpoint
from cloud_backend.local.identity import Identity, load_or_create_key
from cloud_backend.local.stack import CloudSettings, LocalCloud
from cloudfront_edge.emulator.local import EdgeSettings, LocalEdge
from edgeway.console_api import console_routes
from edgeway.console_logs import attach, log_format_option
from edgeway.local_fleet import GROUP as FLEET_GROUP
from edgeway.local_fleet import LocalFleet, fleet_things
from edgeway.output import errors, table
from edgeway.port_options import (
    cloud_http_port_option,
    discovery_port_option,
    mqtt_port_option,
    port_option,
    state_dir_option,
    ws_port_option,
)
from edgeway.recipe_check import recipe_problems
from edgeway.stack_info import StackInfo
from edgeway_common.certificates import CertificateAuthority
from greengrass_components.cloud.iot_endpoint import IotEndpoint
from greengrass_components.local_core import Core, CoreSettings
from greengrass_components.publish.artifact import stage_artifacts


def packaged_recipes() -> Path:
    return Path(str(files("recipes")))


def packaged_web() -> Path:
    return Path(str(files("cloud_backend"))) / "web"


UP_COMPONENTS = (
    "com.edgeway.SensorHub",
    "com.edgeway.ImageAnalyzer",
    "com.edgeway.ObjectModel",
    "com.edgeway.Uplink",
    "com.edgeway.LambdaHost",
    "com.edgeway.LocalBroker",
    "com.edgeway.Bridge",
)
BROKER, BRIDGE = "com.edgeway.LocalBroker", "com.edgeway.Bridge"


def device_config(trusted_ca: Path, device_port: int) -> dict[str, dict[str, Any]]:
    """The core's broker for client devices: certificates from the stand-in's CA (as IoT Core's), the
    bridge with a password made for this run (only its scrypt hash goes to the broker)."""
    from greengrass_components.components.broker_auth import hash_password

    password = secrets.token_urlsafe(24)
    return {
        BROKER: {
            "Port": device_port,
            "Clients": {"edgeway-bridge": hash_password(password)},
            "ClientDeviceAuth": {"trustedCa": str(trusted_ca.resolve())},
        },
        BRIDGE: {"brokerUri": f"mqtts://localhost:{device_port}", "password": password},
    }


CA_WAIT_SECONDS = 30.0


async def register_core(cloud: LocalCloud, core_root: Path, thing: str, device_port: int) -> str | None:
    """What a real core's client device components tell the cloud: where its broker answers
    (UpdateConnectivityInfo) and the CA of its broker's certificate (PutCertificateAuthorities). The
    broker writes its CA as it starts, just after it is RUNNING; None once registered, else why not."""
    if cloud.registry is None:
        return "the stand-in has no Greengrass registry"
    ca = core_root / "work" / BROKER / "ca" / "ca.pem"
    deadline = time.monotonic() + CA_WAIT_SECONDS
    while not ca.exists():
        if time.monotonic() > deadline:
            return f"the local broker wrote no CA at {ca} in {CA_WAIT_SECONDS:g} s"
        await asyncio.sleep(0.05)
    cloud.registry.set_connectivity(thing, [Endpoint("localhost", "127.0.0.1", device_port, "local broker")])
    cloud.registry.set_ca(thing, ca.read_text())
    return None


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


PORTS = (  # (what, the flag, the environment variable) of each port, for a message that says what to do
    ("http_port", "--http-port", "EDGEWAY_HTTP_PORT"),
    ("mqtt_port", "--mqtt-port", "EDGEWAY_MQTT_PORT"),
    ("ws_port", "--ws-port", "EDGEWAY_WS_PORT"),
    ("cloud_http_port", "--cloud-http-port", "EDGEWAY_CLOUD_HTTP_PORT"),
    ("discovery_port", "--discovery-port", "EDGEWAY_DISCOVERY_PORT"),
    ("device_port", "--device-port", "EDGEWAY_DEVICE_PORT"),
)


def taken_port(ports: dict[str, int]) -> str | None:
    """What to tell a person when one of the ports is in use (None when all are free)."""
    for name, flag, env in PORTS:
        port = ports[name]
        if port == 0:
            continue
        with socket.socket() as probe:
            # as the servers bind: a port only in TIME_WAIT from the last run is free to them
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError as exc:
                return (
                    f"port {port} is taken ({exc.strerror}): choose another with {flag} PORT "
                    f"or {env}=PORT (with make: make up ARGS='{flag} PORT')"
                )
    return None


class Stack:
    """The running local stack: the stand-in, the local CloudFront and the core, and whether each
    answers; the health `/healthz` serves and the ready table come from here."""

    def __init__(
        self,
        info: StackInfo,
        cloud: CloudSettings,
        core: CoreSettings,
        edge: EdgeSettings,
        fleet: LocalFleet | None = None,
    ) -> None:
        self.info = info
        self.fleet = fleet
        self.core = Core(core)  # first: it sets up the `edgeway` logger, which the console joins
        monitor = Monitor()
        routes = console_routes(self.core, monitor, info.console_token)
        self.cloud = LocalCloud(
            cloud, health=self.health, monitor=monitor, routes=routes, recipe_check=recipe_problems
        )
        self.edge = LocalEdge(edge)
        self.edge_up = False

    def health(self) -> tuple[bool, dict[str, Any]]:
        components = {c["name"]: c["state"] for c in self.core.supervisor.snapshot()}
        bad = {name: state for name, state in components.items() if state in ("BROKEN", "ERRORED")}
        services = {"cloud": "up", "edge": "up" if self.edge_up else "down", "core": "up"}
        waiting = not self.core.ready.is_set()
        ok = not bad and self.edge_up and not waiting and not self.core.ready_failure
        document: dict[str, Any] = {"services": services, "components": components}
        if waiting:
            document["waiting"] = "the core's components are starting"
        if self.core.ready_failure:
            document["failure"] = self.core.ready_failure
        return ok, document

    async def run(self, started: float, command: str | None) -> int:
        await self.cloud.start()
        if self.cloud.groups is not None:  # every core of the local fleet is in one thing group
            self.cloud.groups.create(FLEET_GROUP)
            for thing in self.fleet.things if self.fleet else [self.info.thing]:
                self.cloud.groups.add(FLEET_GROUP, thing)
        if self.fleet is not None:
            await self.fleet.start()
        try:
            await self.edge.start()
            self.edge_up = True
            try:
                core = asyncio.create_task(self.core.run())
                ready = asyncio.create_task(self.core.ready.wait())
                await asyncio.wait([core, ready], return_when=asyncio.FIRST_COMPLETED)
                ready.cancel()  # done, or the core ended before it was ready
                code = await self._when_ready(started, command) if self.core.ready.is_set() else None
                if code is not None:
                    self.core.request_stop()
                core_code = await core
                return core_code if code is None else code
            finally:
                self.edge_up = False
                await self.edge.stop()
        finally:
            if self.fleet is not None:
                await self.fleet.stop()
            await self.cloud.stop()

    async def _when_ready(self, started: float, command: str | None) -> int | None:
        if self.core.ready_failure:
            click.echo(f"not ready: {self.core.ready_failure}", err=True)
            return 1 if command is not None else None
        if BROKER in self.core.supervisor.plans:
            problem = await register_core(
                self.cloud, self.core.paths.root, self.info.thing, self.info.device_port
            )
            if problem is not None:
                click.echo(f"client devices cannot discover this core: {problem}", err=True)
        self.info.save()
        table("edgeway up", ["", ""], self.info.rows())
        click.echo(f"ready in {time.monotonic() - started:.1f} s (Ctrl-C stops everything)")
        if command is None:
            return None
        process = await asyncio.create_subprocess_shell(command)
        return await process.wait()


@click.command()
@state_dir_option
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
@port_option("--http-port", 8080, "EDGEWAY_HTTP_PORT", "The local CloudFront's port")
@mqtt_port_option
@ws_port_option
@cloud_http_port_option("--cloud-http-port")
@discovery_port_option
@port_option("--device-port", 8883, "EDGEWAY_DEVICE_PORT", "The core's broker for client devices (TLS)")
@click.option(
    "--cores",
    type=click.IntRange(1, 20),
    default=1,
    show_default=True,
    envvar="EDGEWAY_CORES",
    help="Cores in the local fleet (gateway-1 ... gateway-N, one thing group, deployments from the stand-in)"
    " [env EDGEWAY_CORES].",
)
@log_format_option
@click.option(
    "--exec",
    "command",
    default=None,
    metavar="CMD",
    help="Once the stack is ready, run CMD (a shell command), stop the stack and exit with its status.",
)
def up(
    state_dir: Path,
    thing_name: str,
    recipe_dir: Path | None,
    http_port: int,
    mqtt_port: int,
    ws_port: int,
    cloud_http_port: int,
    discovery_port: int,
    device_port: int,
    cores: int,
    log_format: str,
    command: str | None,
) -> None:
    """Run the local stack in the foreground until Ctrl-C: the cloud stand-in, the local CloudFront
    with the web app, and a core running the edge components. A table of addresses is printed once
    everything answers and every component is RUNNING."""
    started = time.monotonic()
    ports = {
        "http_port": http_port,
        "mqtt_port": mqtt_port,
        "ws_port": ws_port,
        "cloud_http_port": cloud_http_port,
        "discovery_port": discovery_port,
        "device_port": device_port,
    }
    taken = taken_port(ports)
    if taken is not None:
        errors.print(f"error: {taken}", markup=False, highlight=False)
        raise SystemExit(2)
    cloud_settings = CloudSettings(
        state_dir / "cloud", mqtt_port, ws_port, cloud_http_port, discovery_port=discovery_port
    )
    stand_in_ca = CertificateAuthority(cloud_settings.data_dir / "ca", "edgeway stand-in CA").ca
    recipes, artifacts = stage_edge_components(state_dir, recipe_dir or packaged_recipes())
    identity = Identity(load_or_create_key(cloud_settings.data_dir), token_seconds=86400)
    things = fleet_things(thing_name, cores)
    tokens = {thing: identity.issue(thing, "device", thing) for thing in things}
    token = tokens[thing_name]
    core_settings = CoreSettings(
        root=state_dir / "core",
        recipe_dir=recipes,
        artifact_dir=artifacts,
        thing_name=thing_name,
        iot_endpoint=IotEndpoint("127.0.0.1", mqtt_port, tls=False, password=token),
        reconnect_max_seconds=10.0,
        log_to_stderr=False,
        initial_config=device_config(stand_in_ca, device_port),
        cloud_deployments=True,
        greengrass_endpoint_url=f"http://127.0.0.1:{cloud_http_port}",
    )
    fleet = LocalFleet(state_dir, things, mqtt_port, cloud_http_port, tokens) if cores > 1 else None
    edge_settings = EdgeSettings(
        port=http_port,
        origins={"WebOrigin": str(packaged_web()), "ApiOrigin": f"http://127.0.0.1:{cloud_http_port}"},
        function_config=local_function_config(state_dir, cloud_settings),
        stage_dir=state_dir / "edge" / "functions",
    )
    info = StackInfo(
        str(state_dir.resolve()),
        thing_name,
        http_port,
        mqtt_port,
        ws_port,
        cloud_http_port,
        os.getpid(),
        secrets.token_urlsafe(24),
        device_port,
        discovery_port,
        cores,
    )
    stack = Stack(info, cloud_settings, core_settings, edge_settings, fleet)
    attach(log_format)
    try:
        raise SystemExit(asyncio.run(stack.run(started, command)))
    except OSError as exc:
        raise click.ClickException(f"cannot start the local stack: {exc}") from exc
    finally:
        (state_dir / "stack.json").unlink(missing_ok=True)
