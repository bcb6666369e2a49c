"""Public Greengrass recipes validate, and run where their artifacts can be made local.

Public recipes are not committed here. Point EDGEWAY_PUBLIC_RECIPES at a folder
of them (for example the recipes of the aws-greengrass-labs repositories) to
validate them all; GDK placeholders are filled in first, as `gdk component
build` does.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from greengrass_components.runtime.recipe_loader import RECIPE_SUFFIXES, load_recipe_text
from tests.core_process import write_recipe
from tests.waiting import wait_for

PUBLIC = os.environ.get("EDGEWAY_PUBLIC_RECIPES")
GDK_PLACEHOLDERS = {
    "{COMPONENT_NAME}": "com.example.Public",
    "{COMPONENT_VERSION}": "1.0.0",
    "{COMPONENT_AUTHOR}": "Example",
    "{BUCKET_NAME}": "example-bucket",
    "{COMPONENT_REGION}": "us-east-1",
}


def fill_build_placeholders(text: str) -> str:
    for placeholder, value in GDK_PLACEHOLDERS.items():
        text = text.replace(placeholder, value)
    # The certificate rotator's own build script replaces a bare COMPONENT_VERSION.
    return re.sub(r"(ComponentVersion:\s*['\"]?)COMPONENT_VERSION", r"\g<1>1.0.0", text)


def public_recipe_files() -> list[Path]:
    if not PUBLIC:
        return []
    return sorted(p for p in Path(PUBLIC).rglob("*") if p.suffix.lower() in RECIPE_SUFFIXES)


@pytest.mark.skipif(not PUBLIC, reason="set EDGEWAY_PUBLIC_RECIPES to a folder of public recipes")
@pytest.mark.parametrize("path", public_recipe_files(), ids=lambda p: p.name)
def test_public_recipe_validates(path: Path):
    text = fill_build_placeholders(path.read_text())
    recipe = load_recipe_text(text, str(path), json_format=path.suffix.lower() == ".json")
    assert recipe.manifests


HELLO_WORLD = """\
{
  "RecipeFormatVersion": "2020-01-25",
  "ComponentName": "com.example.HelloWorld",
  "ComponentVersion": "1.0.0",
  "ComponentDescription": "My first AWS IoT Greengrass component.",
  "ComponentPublisher": "Amazon",
  "ComponentConfiguration": {"DefaultConfiguration": {"Message": "world"}},
  "Manifests": [
    {"Platform": {"os": "linux"},
     "Lifecycle": {"Run": "python3 -u {artifacts:path}/hello_world.py \\"{configuration:/Message}\\""}},
    {"Platform": {"os": "windows"},
     "Lifecycle": {"Run": "py -3 -u {artifacts:path}/hello_world.py \\"{configuration:/Message}\\""}}
  ]
}
"""


def test_the_getting_started_hello_world_runs_and_takes_a_new_message(tmp_path, start_core):
    recipes, artifacts = tmp_path / "recipes", tmp_path / "artifacts"
    write_recipe(recipes, HELLO_WORLD, name="com.example.HelloWorld-1.0.0.json")
    script = artifacts / "com.example.HelloWorld" / "1.0.0" / "hello_world.py"
    script.parent.mkdir(parents=True)
    script.write_text("import sys\nprint(f'Hello, {sys.argv[1]}!')\n")
    core = start_core("--recipes", str(recipes), "--artifacts", str(artifacts))
    core.wait_state("com.example.HelloWorld", "FINISHED")
    assert '"message": "Hello, world!"' in core.log_text("com.example.HelloWorld")

    update = {"com.example.HelloWorld": {"MERGE": {"Message": "Friend"}}}
    assert core.deploy(update_config=update)["status"] == "SUCCEEDED"
    wait_for(
        lambda: '"message": "Hello, Friend!"' in core.log_text("com.example.HelloWorld"),
        what="the new greeting",
    )
