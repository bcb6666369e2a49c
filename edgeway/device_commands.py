"""`edgeway device run`: one field device (the agent in `device_client`), against IoT Core, the local
stand-in, or a Greengrass core found by discovery; `edgeway fleet simulate`: many of them."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from edgeway.console_logs import attach, log_format_option
from edgeway.output import fail
from edgeway.port_options import port_option

DEFAULT_STATE = Path(".edgeway") / "devices"


@click.group()
def device() -> None:
    """Run a field device: telemetry through a durable outbox, its shadow, and jobs."""


@device.command("run")
@click.option("--thing", required=True, help="The device's thing name (its MQTT client id).")
@click.option(
    "--cert", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Its certificate (PEM)."
)
@click.option(
    "--key", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Its private key (PEM)."
)
@click.option(
    "--ca",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="The CA that signs the servers.",
)
@click.option("--token", envvar="EDGEWAY_DEVICE_TOKEN", help="A stand-in token (edgeway cloud token THING).")
@click.option("--host", default="127.0.0.1", show_default=True, help="IoT Core's (or the stand-in's) host.")
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    help="Its MQTT port [default: 8883 with a certificate, else 1883].",
)
@click.option("--discover", is_flag=True, help="Find a Greengrass core through discovery and connect to it.")
@click.option("--discovery-host", default="127.0.0.1", show_default=True)
@port_option("--discovery-port", 8443, "EDGEWAY_DISCOVERY_PORT", "Greengrass discovery's port")
@click.option("--interval", type=float, default=5.0, show_default=True, help="Seconds between samples.")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"Outbox, shadow copy, last good core [default: {DEFAULT_STATE}/THING].",
)
@log_format_option
def run(
    thing: str,
    cert: Path | None,
    key: Path | None,
    ca: Path | None,
    token: str | None,
    host: str,
    port: int | None,
    discover: bool,
    discovery_host: str,
    discovery_port: int,
    interval: float,
    state_dir: Path | None,
    log_format: str,
) -> None:
    """Sample, publish, follow the shadow's samplingSeconds, run jobs, until Ctrl-C."""
    from device_client.agent import AgentSettings, DeviceAgent, check_interval
    from device_client.client import DeviceClient
    from device_client.discovery import (
        Candidate,
        CoreFinder,
        DiscoveryEndpoint,
        FailoverTransport,
        with_fallback,
    )
    from device_client.discovery import (
        discover as discover_cores,
    )
    from device_client.errors import DeviceClientError
    from device_client.jobs import JobFailed
    from device_client.outbox import Outbox
    from device_client.paho_transport import PahoTransport
    from device_client.transport import Endpoint, TlsFiles, Transport

    attach(log_format)
    if (cert is None) != (key is None):
        fail("--cert and --key go together")
    if cert is None and token is None:
        fail("give the device's identity: --cert and --key (with --ca), or --token")
    if discover and cert is None:
        fail("--discover needs the device's certificate: --cert and --key")
    try:
        check_interval(interval)
    except JobFailed as exc:
        fail(f"--interval: {exc}")
    folder = state_dir or DEFAULT_STATE / thing
    tls = TlsFiles(ca, cert, key) if cert is not None and ca is not None else None
    direct = Endpoint(host, port or (8883 if cert else 1883), thing, tls=tls, token=token)
    transport: Transport
    route = "cloud"
    try:
        if discover:
            assert cert is not None and key is not None
            finder = CoreFinder(thing, folder, cert, key)
            where = DiscoveryEndpoint(discovery_host, discovery_port, ca)
            fallback = direct if (tls is not None or token is not None) and port is not None else None

            def found() -> list[Candidate]:
                assert cert is not None and key is not None
                return with_fallback(finder.candidates(discover_cores(thing, where, cert, key)), fallback)

            transport = FailoverTransport(found(), on_good=finder.remember, rediscover=found)
            route = "core"
        else:
            transport = PahoTransport(direct)
        outbox = Outbox(folder / "outbox.sqlite3", thing)
    except DeviceClientError as exc:
        fail(str(exc))
    client = DeviceClient(transport, outbox)
    agent = DeviceAgent(AgentSettings(thing, folder, route, interval), client)  # type: ignore[arg-type]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(json.dumps({"event": "device-started", "thing": thing, "route": route, "state": str(folder)}))
    agent.run(stop)


@click.group()
def fleet() -> None:
    """Simulate a fleet of devices against the stand-in (or any MQTT broker)."""


@fleet.command("simulate")
@click.option("--devices", type=click.IntRange(1, 20000), default=100, show_default=True)
@click.option(
    "--rate",
    type=click.FloatRange(0.1, 100000),
    default=100.0,
    show_default=True,
    help="Readings/s, all devices.",
)
@click.option("--duration", type=click.FloatRange(1, 86400), default=30.0, show_default=True, help="Seconds.")
@click.option("--offline-share", type=click.FloatRange(0, 1), default=0.0, show_default=True)
@click.option("--offline-seconds", type=click.FloatRange(0, 86400), default=10.0, show_default=True)
@click.option(
    "--target", default="127.0.0.1:1883", show_default=True, envvar="EDGEWAY_FLEET_TARGET", help="host:port"
)
@click.option(
    "--workers", type=click.IntRange(1, 32), help="Processes [default: one per 250 devices, at most 4]."
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".edgeway") / "cloud",
    show_default=True,
    envvar="EDGEWAY_CLOUD_DATA_DIR",
    help="The stand-in's folder, whose key signs the devices' tokens; none needed for a plain broker.",
)
@click.option(
    "--no-tokens", is_flag=True, help="Connect without tokens (a broker that allows anonymous clients)."
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option(
    "--warmup",
    type=click.FloatRange(0, 600),
    default=5.0,
    show_default=True,
    help="Seconds between the last connect and the first reading (the broker settles its connects).",
)
def simulate(
    devices: int,
    rate: float,
    duration: float,
    offline_share: float,
    offline_seconds: float,
    target: str,
    workers: int | None,
    data_dir: Path,
    no_tokens: bool,
    seed: int,
    warmup: float,
) -> None:
    """Prints progress on stderr and one JSON line on stdout: connect rate, messages/s, latency
    percentiles, lost and duplicated readings."""
    from edgeway.fleet import FleetSettings, run_fleet

    host, _, port_text = target.rpartition(":")
    if not host or not port_text.isdigit():
        fail(f"--target {target!r}: use host:port")
    settings = FleetSettings(
        devices, rate, duration, offline_share, offline_seconds, host, int(port_text),
        workers or max(1, min(4, devices // 250)), None if no_tokens else data_dir, seed, warmup,
    )  # fmt: skip
    click.echo(json.dumps(run_fleet(settings)))
