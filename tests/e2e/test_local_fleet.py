"""`edgeway up --cores 3`: three cores in one thing group taking deployments from the stand-in, so a
fleet deployment can be tried on one machine with the operator CLI as against AWS."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
import yaml

from tests.e2e.test_edgeway_up import up_command


@pytest.mark.slow
def test_up_with_three_cores_takes_a_group_deployment_on_every_core(tmp_path):
    command, env, ports = up_command(tmp_path, "--cores", "3")
    up = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert up.stdout is not None
        lines = []
        for line in up.stdout:
            lines.append(line)
            if line.startswith("ready in "):
                break
        assert any("3 core(s) in thinggroup/edgeway-fleet" in line for line in lines), "".join(lines)
        recipes = tmp_path / "fleet-recipes"
        recipes.mkdir()
        body = {
            "RecipeFormatVersion": "2020-01-25",
            "ComponentName": "test.Everywhere",
            "ComponentVersion": "1.0.0",
            "Manifests": [
                {
                    "Platform": {"os": "linux"},
                    "Lifecycle": {"Run": "python3 -c 'import time; time.sleep(3600)'"},
                }
            ],
        }
        (recipes / "test.Everywhere.yaml").write_text(yaml.safe_dump(body))
        url = f"http://127.0.0.1:{ports['cloud']}"

        def edgeway(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "edgeway", *args, "--endpoint-url", url], env=env,
                                  capture_output=True, text=True, timeout=240)  # fmt: skip

        published = edgeway("components", "publish", "--recipes", str(recipes), "--bucket", "fleet")
        assert published.returncode == 0, published.stderr
        deployed = edgeway(
            "deploy", "--target", "thinggroup/edgeway-fleet", "--component", "test.Everywhere=1.0.0"
        )
        assert deployed.returncode == 0, deployed.stderr
        deployment = json.loads(deployed.stdout.splitlines()[-1])["deploymentId"]
        watched = edgeway("deployments", "status", deployment, "--watch", "--timeout", "180")
        assert watched.returncode == 0, watched.stdout + watched.stderr
        for thing in ("gateway-1", "gateway-2", "gateway-3"):
            assert thing in watched.stdout
        assert watched.stdout.count("test.Everywhere 1.0.0 RUNNING") == 3
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(90) == 0
        if up.stdout is not None:
            up.stdout.close()
