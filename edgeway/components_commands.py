"""`edgeway components ...`: work on recipes without a core."""

from __future__ import annotations

from pathlib import Path

import click

from edgeway.output import console, errors
from greengrass_components.runtime.errors import RecipeError
from greengrass_components.runtime.recipe_loader import find_recipe_files, load_recipe_file


@click.group()
def components() -> None:
    """Validate, build and publish Greengrass components."""


@components.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def validate(paths: tuple[Path, ...]) -> None:
    """Validate recipes (files or folders of .yaml/.yml/.json); list every error."""
    files = find_recipe_files(paths)
    if not files:
        raise click.UsageError("no recipe files (.yaml, .yml, .json) found in the given paths")
    failed = 0
    for path in files:
        try:
            recipe = load_recipe_file(path)
        except RecipeError as exc:
            failed += 1
            for problem in exc.problems:
                errors.print(f"[red]✗[/] {problem}", highlight=False)
            continue
        console.print(f"[green]✓[/] {path}: {recipe.key}", highlight=False)
    console.print(f"{len(files) - failed} valid, {failed} invalid", highlight=False)
    if failed:
        raise SystemExit(1)


def _operator_commands() -> None:
    from edgeway.operator_commands import build, publish

    components.add_command(build)
    components.add_command(publish)


_operator_commands()
