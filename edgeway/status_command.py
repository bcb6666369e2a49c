"""`edgeway status`: the running stack's table and its health, from `<state>/stack.json` and the
stand-in's `/healthz`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import click

from edgeway.output import errors, table
from edgeway.port_options import state_dir_option
from edgeway.stack_info import StackInfo


@click.command()
@state_dir_option
def status(state_dir: Path) -> None:
    """Where the running stack is and whether it is healthy: exit 0 healthy, 1 not, 3 not running."""
    info = StackInfo.load(state_dir)
    if info is None:
        errors.print(f"no stack is running from {state_dir} (start one with: edgeway up)", highlight=False)
        raise SystemExit(3)
    try:
        with urllib.request.urlopen(info.health_url, timeout=5) as response:
            health = json.load(response)
    except urllib.error.HTTPError as exc:
        health = json.load(exc)
    except (OSError, ValueError) as exc:
        errors.print(
            f"the stack from {state_dir} does not answer at {info.health_url}: {exc}", highlight=False
        )
        raise SystemExit(3) from None
    table("edgeway up", ["", ""], info.rows())
    components = health.get("components", {})
    table("health", ["part", "state"], [*health.get("services", {}).items(), *components.items()])
    if not health.get("ok"):
        reason = health.get("failure") or health.get("waiting") or "a component is BROKEN or ERRORED"
        click.echo(f"not healthy: {reason}")
        raise SystemExit(1)
    click.echo("healthy")
