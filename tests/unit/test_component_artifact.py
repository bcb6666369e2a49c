"""The components' artifact takes its requirements from pyproject.toml, and says so when it cannot."""

from __future__ import annotations

import io
import tomllib
import zipfile
from pathlib import Path

import pytest

from greengrass_components.publish.artifact import PROJECT, component_requirements, components_zip
from greengrass_components.runtime.errors import ArtifactError


def test_the_requirements_are_the_projects_own_lines_for_the_named_distributions():
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())
    dependencies = project["project"]["dependencies"]
    lines = component_requirements(PROJECT / "pyproject.toml").splitlines()
    assert lines and all(line in dependencies for line in lines)
    assert len(lines) == len(project["tool"]["edgeway"]["component-requirements"])
    assert not [line for line in lines if line.startswith(("click", "rich", "aiohttp"))]  # CLI-only


def test_the_zip_ships_the_leaf_and_the_requirements(tmp_path):
    names = zipfile.ZipFile(io.BytesIO(components_zip())).namelist()
    assert "edgeway_common/topics.py" in names and "greengrass_components/components/uplink.py" in names
    text = zipfile.ZipFile(io.BytesIO(components_zip())).read("requirements.txt").decode()
    assert text == component_requirements(PROJECT / "pyproject.toml")


def test_a_named_requirement_the_project_does_not_list_is_refused_with_its_name(tmp_path: Path):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\ndependencies = ["boto3>=1.34"]\n'
        '[tool.edgeway]\ncomponent-requirements = ["boto3", "numpy"]\n'
    )
    with pytest.raises(ArtifactError, match=r"pyproject.toml: .*names numpy"):
        component_requirements(pyproject)
