"""The cloud stand-in as a real process (`edgeway cloud run`), and real paho clients signed in to it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests

from tests.fakes.broker import free_port
from tests.waiting import wait_for


@dataclass
class CloudProcess:
    data_dir: Path
    mqtt_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    discovery_port: int = field(default_factory=free_port)
    template: Path | None = None
    token_seconds: int | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-stderr.log"

    def start(self) -> CloudProcess:
        command = [
            sys.executable, "-m", "edgeway.cli", "cloud", "run", "--data-dir", str(self.data_dir),
            "--mqtt-port", str(self.mqtt_port), "--ws-port", str(self.ws_port),
            "--http-port", str(self.http_port), "--discovery-port", str(self.discovery_port),
        ]  # fmt: skip
        if self.template is not None:
            command += ["--template", str(self.template)]
        if self.token_seconds is not None:
            command += ["--token-seconds", str(self.token_seconds)]
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        wait_for(self._healthy, timeout=30, what="the cloud stand-in to answer /healthz")
        return self

    def _healthy(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"edgeway cloud run exited {self.process.returncode}: {self.log()[-2000:]}")
        try:
            return requests.get(f"{self.http}/healthz", timeout=1).ok
        except requests.RequestException:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
        return lines

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def session(self, nick: str) -> dict[str, Any]:
        response = requests.post(f"{self.http}/api/session", json={"nick": nick}, timeout=5)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def device_token(self, thing: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "edgeway.cli", "cloud", "token", "--data-dir", str(self.data_dir), thing],
            capture_output=True, text=True, check=True, timeout=30,
        )  # fmt: skip
        return result.stdout.strip()


class Client:
    """A paho client that remembers every message, SUBACK and CONNACK, and lets a test wait on them."""

    def __init__(
        self, cloud: CloudProcess, client_id: str, token: str, transport: str = "tcp", clean: bool = True
    ) -> None:
        self.client_id = client_id
        self.messages: list[tuple[str, Any]] = []
        self.subacks: list[list[int]] = []
        self.connack: int | None = None
        self.disconnected = threading.Event()
        self._lock = threading.Lock()
        self.paho = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, transport=transport, clean_session=clean
        )
        if transport == "websockets":
            self.paho.ws_set_options(path="/mqtt")
        self.paho.username_pw_set("edgeway", token)
        self.paho.on_message = self._message
        self.paho.on_subscribe = lambda c, u, mid, codes, p: self.subacks.append([c.value for c in codes])
        self.paho.on_connect = self._connect
        self.paho.on_disconnect = lambda c, u, flags, reason, p: self.disconnected.set()
        self.port = cloud.ws_port if transport == "websockets" else cloud.mqtt_port

    def _connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connack = reason.value

    def _message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            body: Any = json.loads(message.payload)
        except ValueError:
            body = message.payload
        with self._lock:
            self.messages.append((message.topic, body))

    def connect(self, expect_ok: bool = True) -> Client:
        self.paho.connect("127.0.0.1", self.port, keepalive=30)
        self.paho.loop_start()
        wait_for(lambda: self.connack is not None or self.disconnected.is_set(), 15, "CONNACK")
        if expect_ok:
            assert self.connack == 0, f"{self.client_id}: CONNACK {self.connack}"
        return self

    def subscribe(self, *filters: str) -> list[int]:
        before = len(self.subacks)
        self.paho.subscribe([(f, 1) for f in filters])
        wait_for(lambda: len(self.subacks) > before, 10, f"SUBACK for {filters}")
        return self.subacks[before]

    def send(self, topic: str, payload: Any, qos: int = 1) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.paho.publish(topic, raw, qos=qos).wait_for_publish(10)

    def on(self, topic: str) -> list[Any]:
        with self._lock:
            return [body for t, body in self.messages if t == topic]

    def wait(self, topic: str, predicate: Any = lambda body: True, timeout: float = 10) -> Any:
        def found() -> Any:
            return next((b for b in self.on(topic) if predicate(b)), None)

        return wait_for(found, timeout, f"{self.client_id}: a message on {topic}")

    def close(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


def user(cloud: CloudProcess, nick: str, transport: str = "tcp") -> Client:
    session = cloud.session(nick)
    return Client(cloud, session["clientId"], session["token"], transport).connect()
