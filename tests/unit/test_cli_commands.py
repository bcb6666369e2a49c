"""The CLI's lazy command table: every command loads, and the one-line help written in the table is
each command's own, so `edgeway --help` (which loads none of them) says what they say."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from edgeway.cli import COMMANDS, cli


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_says_what_each_command_says(name):
    command = cli.get_command(None, name)  # type: ignore[arg-type]
    assert command is not None
    assert command.get_short_help_str(limit=500) == COMMANDS[name][2]


def test_help_lists_every_command_and_an_unknown_one_is_refused():
    runner = CliRunner()
    shown = runner.invoke(cli, ["--help"])
    assert shown.exit_code == 0 and all(name in shown.output for name in COMMANDS)
    unknown = runner.invoke(cli, ["nonsense"])
    assert unknown.exit_code == 2 and "No such command 'nonsense'" in unknown.output
