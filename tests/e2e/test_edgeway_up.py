"""`edgeway up` starts the local stack from a fresh state folder and stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import requests

from greengrass_components.runtime.control_client import control_request
from greengrass_components.runtime.core_paths import CorePaths
from tests.cloud_process import CloudProcess, user
from tests.fakes.broker import free_port
from tests.waiting import wait_for


def test_edgeway_up_runs_the_packaged_recipes(tmp_path):
    state = tmp_path / "state"
    http_port, mqtt_port, ws_port, cloud_http_port = free_port(), free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "EDGEWAY_STATE_DIR": str(state),
        "EDGEWAY_THING_NAME": "up-test",
        "EDGEWAY_HTTP_PORT": str(http_port),
        "EDGEWAY_MQTT_PORT": str(mqtt_port),
        "EDGEWAY_WS_PORT": str(ws_port),
        "EDGEWAY_CLOUD_HTTP_PORT": str(cloud_http_port),
    }
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
        page = requests.get(f"http://127.0.0.1:{http_port}/", timeout=10)
        assert page.status_code == 200 and "<h1>edgeway</h1>" in page.text
        assert f"connect-src 'self' ws://127.0.0.1:{ws_port}" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Cache"] == "Miss from cloudfront"

        cloud = CloudProcess(state / "cloud", mqtt_port, ws_port, cloud_http_port)  # the one `up` started
        ada = user(cloud, "ada", "websockets")
        ada.subscribe(f"chat/in/{ada.client_id}")
        ada.send("chat/out", {"type": "join", "room": "lobby", "user": "ada"})
        assert ada.wait(f"chat/in/{ada.client_id}", lambda b: b.get("type") == "history")["room"] == "lobby"
        ada.close()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
