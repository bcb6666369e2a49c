"""`edgeway up`: the whole local stack on one machine. For now: the local core with `recipes/`."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from greengrass_components.runtime.core import CoreSettings, run_core


def packaged_recipes() -> Path:
    return Path(str(files("recipes")))


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
def up(state_dir: Path, thing_name: str, recipe_dir: Path | None) -> None:
    """Run the local stack in the foreground until Ctrl-C."""
    settings = CoreSettings(
        root=state_dir / "core", recipe_dir=recipe_dir or packaged_recipes(), thing_name=thing_name
    )
    raise SystemExit(run_core(settings))
