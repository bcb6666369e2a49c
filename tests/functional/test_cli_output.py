"""What the CLI prints does not depend on the terminal's width: an error stays on one line and a table
row keeps its cells whole, whether COLUMNS says 20 or nothing at all (rich falls back to 80)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PRINT = """
from edgeway.output import table, fail
name = "com.edgeway.AComponentWithAVeryLongName" + "x" * 90
table("components", ["component", "state"], [[name, "RUNNING"]])
fail("/a/very/long/path/" + "d" * 80 + "/template.yaml: rule TelemetryStreamRule: SQL does not parse")
"""


@pytest.mark.parametrize("columns", [None, "20", "300"])
def test_errors_and_tables_are_never_wrapped(columns):
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns:
        env["COLUMNS"] = columns
    result = subprocess.run(
        [sys.executable, "-c", PRINT], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1
    error_lines = result.stderr.strip().splitlines()
    assert len(error_lines) == 1, result.stderr
    assert error_lines[0].endswith("template.yaml: rule TelemetryStreamRule: SQL does not parse")
    row = [line for line in result.stdout.splitlines() if "AComponentWithAVeryLongName" in line]
    assert len(row) == 1 and "x" * 90 in row[0] and "RUNNING" in row[0], result.stdout
