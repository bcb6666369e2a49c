"""Click options shared by the stack's commands: the ports the local stack listens on (`edgeway up`,
`edgeway cloud run`) or a device connects to (`edgeway device run`), and the stack's state folder
(`edgeway up`, `edgeway status`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def port_option(
    flag: str, default: int, env: str, what: str, zero_is_off: bool = False
) -> Callable[[Any], Any]:
    """A port: 1-65535 (for a listener, 0, a port the system picks, would leave the URLs the stack hands
    out wrong), or 0 where that turns the listener off."""
    return click.option(
        flag,
        type=click.IntRange(0 if zero_is_off else 1, 65535),
        default=default,
        show_default=True,
        envvar=env,
        help=f"{what} [env {env}].",
    )


state_dir_option = click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".edgeway"),
    show_default=True,
    envvar="EDGEWAY_STATE_DIR",
    help="Where all the local stack's state lives [env EDGEWAY_STATE_DIR].",
)
mqtt_port_option = port_option("--mqtt-port", 1883, "EDGEWAY_MQTT_PORT", "MQTT over TCP")
ws_port_option = port_option("--ws-port", 8083, "EDGEWAY_WS_PORT", "MQTT over WebSocket at /mqtt")
discovery_port_option = port_option(
    "--discovery-port", 8443, "EDGEWAY_DISCOVERY_PORT", "Greengrass discovery over mutual TLS (0: off)", True
)


def cloud_http_port_option(flag: str) -> Callable[[Any], Any]:
    return port_option(flag, 8081, "EDGEWAY_CLOUD_HTTP_PORT", "The stand-in's session API and JWKS")
