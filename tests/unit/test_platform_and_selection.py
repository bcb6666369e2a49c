from __future__ import annotations

import pytest

from greengrass_components.runtime.errors import PlatformError
from greengrass_components.runtime.lifecycle_selection import effective_lifecycle, parse_lifecycle
from greengrass_components.runtime.platform import detect_platform, select_manifest, value_matches
from greengrass_components.runtime.recipe_loader import load_recipe_text

LINUX_ARM = {"os": "linux", "architecture": "arm", "architecture.detail": "armv7l"}


def recipe_with(manifests: str, extra: str = ""):
    return load_recipe_text(
        "RecipeFormatVersion: '2020-01-25'\nComponentName: t.P\nComponentVersion: '1.0.0'\n"
        + extra
        + "Manifests:\n"
        + manifests,
        "p.yaml",
    )


@pytest.mark.parametrize(
    ("expected", "actual", "matches"),
    [
        ("linux", "linux", True),
        ("linux", "windows", False),
        ("*", None, True),
        ("*", "x", True),
        ("/arm.*/", "armv7l", True),
        ("/arm/", "armv7l", False),
        ("/.+/", "", False),
        ("linux", None, False),
    ],
)
def test_value_matching(expected, actual, matches):
    assert value_matches(expected, actual) is matches


def test_first_matching_manifest_wins_and_custom_keys_count():
    recipe = recipe_with(
        "  - Platform: {os: linux, architecture: amd64}\n    Lifecycle: {Run: amd64}\n"
        "  - Platform: {os: linux, architecture.detail: '/armv[67]l/', com.example.radio: lora}\n"
        "    Lifecycle: {Run: lora}\n"
        "  - Platform: {os: linux, architecture: arm}\n    Lifecycle: {Run: arm}\n"
        "  - Lifecycle: {Run: anything}\n"
    )
    assert select_manifest(recipe, LINUX_ARM).lifecycle == {"Run": "arm"}
    assert select_manifest(recipe, {**LINUX_ARM, "com.example.radio": "lora"}).lifecycle == {"Run": "lora"}
    assert select_manifest(recipe, {"os": "darwin"}).lifecycle == {"Run": "anything"}


def test_no_matching_manifest_is_an_error_naming_both_sides():
    recipe = recipe_with("  - Platform: {os: windows}\n    Lifecycle: {Run: x}\n")
    with pytest.raises(
        PlatformError,
        match=r"t.P-1.0.0: no manifest matches this device \(architecture=arm, "
        r"architecture.detail=armv7l, os=linux\); manifests want: os=windows",
    ):
        select_manifest(recipe, LINUX_ARM)


def test_detect_platform_applies_overrides():
    detected = detect_platform({"com.example.radio": "lora"})
    assert detected["os"] == "linux" and detected["architecture"] and detected["com.example.radio"] == "lora"


GLOBAL = """\
Lifecycle:
  key1:
    Install:
      Skipif: onpath executable
      Script: command1
  key2:
    Install:
      Script: command2
  all:
    Install:
      Script:
        key3: command3
        key4: command4
        all: command5
"""


@pytest.mark.parametrize(
    ("selections", "script"),
    [
        ("[key1]", "command1"),
        ("[key2, key1]", "command2"),
        ("[key3]", "command3"),
        ("[key4, key3]", "command4"),
        ("[]", "command5"),
        ("[all]", "command5"),
    ],
)
def test_global_lifecycle_selection_keys(selections, script):
    recipe = recipe_with(f"  - Selections: {selections}\n  - Selections: [key1, key2, key3, key4]\n", GLOBAL)
    lifecycle, problems = parse_lifecycle(effective_lifecycle(recipe, recipe.manifests[0]), "L", "p.yaml")
    assert problems == []
    assert lifecycle.install is not None and lifecycle.install.script == script


def test_manifest_lifecycle_wins_over_global():
    recipe = recipe_with("  - Lifecycle: {Run: mine}\n    Selections: [key1]\n", GLOBAL)
    lifecycle, _ = parse_lifecycle(effective_lifecycle(recipe, recipe.manifests[0]), "L", "p.yaml")
    assert lifecycle.run is not None and lifecycle.run.script == "mine" and lifecycle.install is None


def test_step_defaults_follow_the_nucleus():
    recipe = recipe_with(
        "  - Lifecycle:\n      Install: i\n      Startup: s\n      Shutdown: d\n      Recover: r\n"
    )
    lifecycle, _ = parse_lifecycle(effective_lifecycle(recipe, recipe.manifests[0]), "L", "p.yaml")
    assert [
        s.timeout for s in (lifecycle.install, lifecycle.startup, lifecycle.shutdown, lifecycle.recover)
    ] == [120.0, 120.0, 15.0, 60.0]
    run = recipe_with("  - Lifecycle: {Run: r}\n")
    parsed, _ = parse_lifecycle(effective_lifecycle(run, run.manifests[0]), "L", "p.yaml")
    assert parsed.run is not None and parsed.run.timeout is None
