"""The CloudFormation templates that deploy (and configure the local stand-ins) are cfn-lint clean."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = [
    path
    for path in (ROOT / "cloudfront_edge" / "distribution.yaml", ROOT / "cloud_backend" / "template.yaml")
    if path.exists()
]


@pytest.mark.parametrize("template", TEMPLATES, ids=[p.name for p in TEMPLATES])
def test_cfn_lint_clean(template):
    lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(lint), str(template)], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
