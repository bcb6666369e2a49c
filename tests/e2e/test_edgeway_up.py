"""`edgeway up` starts the local stack from a fresh state folder and stops cleanly."""

from __future__ import annotations

import json
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
        "EDGEWAY_DISCOVERY_PORT": str(free_port()),
        "EDGEWAY_DEVICE_PORT": str(free_port()),
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
            ready = {c["name"] for c in components if c["state"] in ("RUNNING", "FINISHED")}
            return set(UP_COMPONENTS) <= ready  # the model store has nothing to run: it is FINISHED

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
        # the tag cloud counts what the object model (the model-store component) saw: the demo camera's
        # second photograph is scikit-image's coffee cup, which no heuristic label names
        cloud_of_tags = ada.wait("dash/vision/up-test", lambda b: "cup" in b.get("labels", {}), timeout=120)
        assert cloud_of_tags["labels"]["cup"] >= 1
        ada.close()
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0


def up_command(tmp_path, *args: str, recipes=None) -> tuple[list[str], dict[str, str], dict[str, int]]:
    ports = {
        "http": free_port(),
        "mqtt": free_port(),
        "ws": free_port(),
        "cloud": free_port(),
        "discovery": free_port(),
        "device": free_port(),
    }
    env = {
        **os.environ,
        "EDGEWAY_STATE_DIR": str(tmp_path / "state"),
        "EDGEWAY_HTTP_PORT": str(ports["http"]),
        "EDGEWAY_MQTT_PORT": str(ports["mqtt"]),
        "EDGEWAY_WS_PORT": str(ports["ws"]),
        "EDGEWAY_CLOUD_HTTP_PORT": str(ports["cloud"]),
        "EDGEWAY_DISCOVERY_PORT": str(ports["discovery"]),
        "EDGEWAY_DEVICE_PORT": str(ports["device"]),
        "EDGEWAY_LOG_FORMAT": "json",
    }
    command = [sys.executable, "-m", "edgeway", "up", *args]
    if recipes is not None:
        command += ["--recipes", str(recipes)]
    return command, env, ports


def recipe_folder(tmp_path, **lifecycles: str):
    from tests.core_process import write_recipe
    from tests.functional.test_core_lifecycle import recipe

    folder = tmp_path / "recipes"
    for name, lifecycle in lifecycles.items():
        write_recipe(folder, recipe(f"test.{name}", lifecycle))
    return folder


def test_the_ready_table_comes_only_once_every_component_runs_and_exec_returns_the_commands_status(tmp_path):
    # A component that takes its time to start: the table must wait for it.
    recipes = recipe_folder(tmp_path, Slow="Startup: sleep 2", Quick="Run: exec sleep 300")
    check = f"{sys.executable} -m edgeway status; exit 7"
    command, env, _ = up_command(tmp_path, "--exec", check, recipes=recipes)
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 7, done.stderr[-2000:]  # the command's own status
    lines = done.stdout.splitlines()
    ready_at = next(i for i, line in enumerate(lines) if line.startswith("ready in "))
    assert any("web app (chat, dashboard)" in line for line in lines[:ready_at])
    after = "\n".join(lines[ready_at:])
    assert "test.Slow" in after and "healthy" in after and "not healthy" not in after  # status at that moment
    assert "RUNNING" in after and "STARTING" not in after
    assert not (tmp_path / "state" / "stack.json").exists()  # gone with the stack


def test_healthz_turns_503_when_a_component_is_broken(tmp_path):
    recipes = recipe_folder(tmp_path, Crashy="Run: sleep 0.5; exit 3")
    command, env, ports = up_command(tmp_path, recipes=recipes)
    up = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        url = f"http://127.0.0.1:{ports['cloud']}/healthz"

        def broken() -> dict | None:
            try:
                answer = requests.get(url, timeout=5)
            except requests.ConnectionError:
                return None
            body = answer.json()
            return (
                body
                if answer.status_code == 503 and body["components"].get("test.Crashy") == "BROKEN"
                else None
            )

        body = wait_for(broken, 60, "/healthz to report the broken component")
        assert body["ok"] is False and body["services"]["cloud"] == "up"
        status = subprocess.run(
            [sys.executable, "-m", "edgeway", "status"], env=env, capture_output=True, text=True, timeout=60
        )
        assert status.returncode == 1 and "not healthy" in status.stdout and "BROKEN" in status.stdout
    finally:
        up.send_signal(signal.SIGINT)
        assert up.wait(60) == 0


def test_a_taken_port_names_the_flag_and_the_variable_and_exits_2(tmp_path):
    import socket

    command, env, ports = up_command(tmp_path)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["mqtt"]))
        holder.listen()
        done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    message = " ".join(done.stderr.split())
    assert (
        f"port {ports['mqtt']} is taken" in message
        and "--mqtt-port" in message
        and "EDGEWAY_MQTT_PORT" in message
    )


def started_until_ready(tmp_path, *args: str) -> subprocess.Popen[str]:
    """`edgeway up` in the background, returned once it has printed its ready line."""
    command, env, _ = up_command(tmp_path, *args)
    up = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert up.stdout is not None
    for line in up.stdout:
        if line.startswith("ready in "):
            return up
    raise AssertionError(f"edgeway up ended before it was ready (exit {up.wait()})")


def test_ctrl_c_with_every_component_running_stops_everything_promptly(tmp_path):
    import time

    up = started_until_ready(tmp_path)
    pids = [
        p
        for c in control_request(
            CorePaths((tmp_path / "state").resolve() / "core").control_socket, {"op": "list"}
        )["components"]
        for p in c["pids"]
    ]
    assert pids, "the components should be running"
    started = time.monotonic()
    up.send_signal(signal.SIGINT)
    assert up.wait(30) == 0
    took = time.monotonic() - started
    up.stdout.close()
    print(f"Ctrl-C to exit: {took:.2f} s")
    assert took < 5, f"stopping took {took:.1f} s"
    from tests.functional.test_core_lifecycle import _cmdline

    assert [pid for pid in pids if _cmdline(pid)] == [], "a component process outlived edgeway up"


def test_log_lines_are_for_people_in_text_format_and_json_otherwise(tmp_path):
    command, env, _ = up_command(tmp_path, "--exec", "true")
    text = subprocess.run(
        [*command, "--log-format", "text"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert text.returncode == 0, text.stderr[-2000:]
    lines = [line for line in text.stderr.splitlines() if line.strip()]
    assert any("state-change" in line and "component=com.edgeway.Uplink" in line for line in lines)
    assert not any(line.lstrip().startswith("{") for line in lines)
    assert not any("connections acquired" in line or "exit callbacks" in line for line in lines)
    env["EDGEWAY_STATE_DIR"] = str(tmp_path / "state2")
    machine = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert machine.returncode == 0
    entries = [json.loads(line) for line in machine.stderr.splitlines() if line.startswith("{")]
    assert any(e["event"] == "state-change" and e["component"] == "com.edgeway.Uplink" for e in entries)
    stray = [line for line in machine.stderr.splitlines() if line.strip() and not line.startswith("{")]
    assert stray == []
