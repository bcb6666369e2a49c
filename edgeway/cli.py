"""The `edgeway` command: one group per area, each command a few lines."""

from __future__ import annotations

import click

from edgeway.cloud_commands import cloud
from edgeway.components_commands import components
from edgeway.core_commands import core
from edgeway.device_commands import device, fleet
from edgeway.edge_commands import edge
from edgeway.operator_commands import build, deploy, deployments, publish
from edgeway.status_command import status
from edgeway.up_command import up


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="edgeway")
def cli() -> None:
    """Edge and device gateway for AWS IoT Greengrass v2 and Lambda@Edge.

    Run `edgeway up` for the whole local stack, or use the groups below.
    """


cli.add_command(cloud)
cli.add_command(components)
cli.add_command(core)
cli.add_command(deploy)
cli.add_command(deployments)
cli.add_command(device)
cli.add_command(edge)
cli.add_command(fleet)
cli.add_command(status)
cli.add_command(up)
components.add_command(build)
components.add_command(publish)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
