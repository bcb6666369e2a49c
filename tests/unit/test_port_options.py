"""The port options: a port the stack listens on, or a device connects to, is 1-65535; 0 only turns the
stack's discovery off."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgeway.cli import cli


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["cloud", "run"], "--mqtt-port"),
        (["cloud", "run"], "--ws-port"),
        (["cloud", "run"], "--http-port"),
        (["up"], "--http-port"),
        (["up"], "--cloud-http-port"),
        (["up"], "--device-port"),
        (["device", "run", "--thing", "t-1", "--token", "x"], "--port"),
        (["device", "run", "--thing", "t-1", "--token", "x"], "--discovery-port"),
    ],
)
def test_port_0_is_refused_naming_the_flag_and_the_range(command, flag):
    result = CliRunner().invoke(cli, [*command, flag, "0"])
    assert result.exit_code == 2
    assert f"Invalid value for '{flag}': 0 is not in the range 1<=x<=65535." in " ".join(
        result.output.split()
    )


def test_port_65536_is_refused_and_the_help_says_discovery_port_0_turns_it_off():
    result = CliRunner().invoke(cli, ["cloud", "run", "--discovery-port", "65536"])
    assert result.exit_code == 2 and "0<=x<=65535" in result.output
    assert "(0: off)" in CliRunner().invoke(cli, ["cloud", "run", "--help"]).output
