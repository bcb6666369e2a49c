"""Recipes load into the model; every invalid recipe gets exactly the problems it should."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from greengrass_components.runtime.errors import RecipeError
from greengrass_components.runtime.recipe_loader import load_recipe_file, load_recipe_text
from greengrass_components.runtime.recipe_model import DependencyType, Permission, Unarchive

CORPUS = Path(__file__).parents[1] / "recipes"
EXPECTED = yaml.safe_load((CORPUS / "invalid" / "expected.yaml").read_text())


def test_every_invalid_recipe_has_an_expectation():
    files = {p.name for p in (CORPUS / "invalid").iterdir() if p.name != "expected.yaml"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_recipe_reports_exactly_its_problems(name):
    path = CORPUS / "invalid" / name
    with pytest.raises(RecipeError) as caught:
        load_recipe_file(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}: {message}" for message in EXPECTED[name]]


def test_hello_world_json_with_two_platforms():
    recipe = load_recipe_file(CORPUS / "valid" / "hello-world.json")
    assert (recipe.name, recipe.version, recipe.publisher) == ("com.example.HelloWorld", "1.0.0", "Example")
    assert [m.platform for m in recipe.manifests] == [{"os": "linux"}, {"os": "windows"}]
    assert recipe.default_configuration == {"Message": "world"}


def test_all_fields_load_into_the_model():
    recipe = load_recipe_file(CORPUS / "valid" / "all-fields.yaml")
    assert recipe.version == "1.2.3-beta.1+build.7"
    assert [(d.name, d.version_requirement, d.type) for d in recipe.dependencies] == [
        ("com.example.Bar", ">=1.1.0 <2.0.0", DependencyType.SOFT),
        ("com.example.Baz", "^2.0.0", DependencyType.HARD),
    ]
    linux = recipe.manifests[0]
    assert linux.name == "Linux 64-bit"
    assert linux.platform == {"os": "linux", "architecture": "/amd64|aarch64/", "com.example.radio": "*"}
    zip_artifact, script = linux.artifacts
    assert (zip_artifact.unarchive, zip_artifact.read, zip_artifact.execute) == (
        Unarchive.ZIP,
        Permission.ALL,
        Permission.ALL,
    )
    assert zip_artifact.unarchived_dir_name == "app"
    assert (script.file_name, script.algorithm, script.read) == ("run.sh", "SHA-256", Permission.OWNER)
    assert recipe.manifests[1].selections == ("other",)
    assert recipe.default_configuration["accessControl"]["aws.greengrass.ipc.pubsub"]


def test_an_empty_file_is_a_clear_error():
    with pytest.raises(RecipeError, match="a recipe must be a mapping, got empty"):
        load_recipe_text("", "empty.yaml")
