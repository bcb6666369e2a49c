"""The `edgeway` command: one group per area, each command a few lines.

A command's module is imported only when that command runs (`LazyGroup`), so `edgeway --help` and
`edgeway core run` do not pay for the cloud stack's imports. The one-line help of each command is
written here for the same reason; a test holds it to each command's own help.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "cloud": (
        "edgeway.cloud_commands",
        "cloud",
        "The cloud backend: the local stand-in, tokens, deployment.",
    ),
    "components": (
        "edgeway.components_commands",
        "components",
        "Validate, build and publish Greengrass components.",
    ),
    "core": ("edgeway.core_commands", "core", "Run the local Greengrass core and deploy to it."),
    "deploy": (
        "edgeway.operator_commands",
        "deploy",
        "Deploy to a core or a group: start from its current deployment, print the difference, go.",
    ),
    "deployments": ("edgeway.operator_commands", "deployments", "Watch and roll back deployments."),
    "device": (
        "edgeway.device_commands",
        "device",
        "Run a field device: telemetry through a durable outbox, its shadow, and jobs.",
    ),
    "edge": (
        "edgeway.edge_commands",
        "edge",
        "Lambda@Edge: a local CloudFront, single invocations, deployment.",
    ),
    "fleet": (
        "edgeway.device_commands",
        "fleet",
        "Simulate a fleet of devices against the stand-in (or any MQTT broker).",
    ),
    "status": (
        "edgeway.status_command",
        "status",
        "Where the running stack is and whether it is healthy: exit 0 healthy, 1 not, 3 not running.",
    ),
    "up": (
        "edgeway.up_command",
        "up",
        "Run the local stack in the foreground until Ctrl-C: the cloud stand-in, the local CloudFront with"
        " the web app, and a core running the edge components.",
    ),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[cmd_name]
        command: Any = getattr(importlib.import_module(module), attribute)
        return command  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in sorted(COMMANDS)])


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(package_name="edgeway")
def cli() -> None:
    """Edge and device gateway for AWS IoT Greengrass v2 and Lambda@Edge.

    Run `edgeway up` for the whole local stack, or use the groups below.
    """


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
