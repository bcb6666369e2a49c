"""`edgeway up` starts the local stack from a fresh state folder and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import requests

from edgeway.up_command import UP_COMPONENTS
from greengrass_components.runtime.control_client import control_request
from greengrass_components.runtime.core_paths import CorePaths
from tests.cloud_process import CloudProcess, user
from tests.fakes.broker import free_port
from tests.waiting import wait_for


def test_edgeway_up_runs_the_edge_components_and_their_data_reaches_the_cloud(tmp_path):
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

        def components_running() -> bool:
            if up.poll() is not None:
                raise AssertionError(f"edgeway up exited: {stderr.read_text()[-2000:]}")
            if not socket_path.exists():
                return False
            components = control_request(socket_path, {"op": "list"})["components"]
            running = {c["name"] for c in components if c["state"] == "RUNNING"}
            return set(UP_COMPONENTS) <= running

        wait_for(components_running, 60, "the edge components to run")
        page = requests.get(f"http://127.0.0.1:{http_port}/", timeout=10)
        assert page.status_code == 200 and "<h1>edgeway</h1>" in page.text
        assert f"connect-src 'self' ws://127.0.0.1:{ws_port}" in page.headers["Content-Security-Policy"]
        assert page.headers["X-Cache"] == "Miss from cloudfront"

        cloud = CloudProcess(state / "cloud", mqtt_port, ws_port, cloud_http_port)  # the one `up` started
        ada = user(cloud, "ada", "websockets")
        ada.subscribe(f"chat/in/{ada.client_id}")
        ada.send("chat/out", {"type": "join", "room": "lobby", "user": "ada"})
        assert ada.wait(f"chat/in/{ada.client_id}", lambda b: b.get("type") == "history")["room"] == "lobby"
        # the field's data reaches the cloud side: sensor hub -> uplink -> chat/stream -> rule -> stream
        # -> stream handler -> dashboard feeds
        ada.subscribe("dash/telemetry/up-test")
        ada.subscribe("dash/vision/up-test")
        window = ada.wait("dash/telemetry/up-test", lambda b: b.get("sensor") == "temperature", timeout=60)
        assert window["thing"] == "up-test" and window["count"] >= 1
        vision = ada.wait("dash/vision/up-test", lambda b: b.get("frames", 0) >= 1, timeout=60)
        assert vision["labels"]
        ada.close()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0
