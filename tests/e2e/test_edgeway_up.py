"""`edgeway up` starts the local stack from a fresh state folder and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from greengrass_components.runtime.control_client import control_request
from greengrass_components.runtime.core_paths import CorePaths
from tests.waiting import wait_for


def test_edgeway_up_runs_the_packaged_recipes(tmp_path):
    state = tmp_path / "state"
    env = {**os.environ, "EDGEWAY_STATE_DIR": str(state), "EDGEWAY_THING_NAME": "up-test"}
    stderr = tmp_path / "up.stderr"
    with stderr.open("wb") as err:
        up = subprocess.Popen(
            [sys.executable, "-m", "edgeway", "up"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        socket_path = CorePaths(state.resolve() / "core").control_socket

        def heartbeat_running() -> bool:
            if up.poll() is not None:
                raise AssertionError(f"edgeway up exited: {stderr.read_text()[-2000:]}")
            if not socket_path.exists():
                return False
            components = control_request(socket_path, {"op": "list"})["components"]
            return any(c["name"] == "com.edgeway.Heartbeat" and c["state"] == "RUNNING" for c in components)

        wait_for(heartbeat_running, 30, "the heartbeat component to run")
        log = state / "core" / "logs" / "com.edgeway.Heartbeat.log"
        wait_for(lambda: log.exists() and '"heartbeat' in log.read_text(), 30, "a heartbeat line")
        beat = next(
            json.loads(json.loads(line)["message"])
            for line in log.read_text().splitlines()
            if '"heartbeat' in line
        )
        assert beat["thing"] == "up-test"
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
