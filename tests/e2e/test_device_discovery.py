"""A field device finds the local core through discovery on the stand-in, connects to the core's broker
with its certificate, and its telemetry reaches `dash/telemetry/<thing>` through the bridge, the uplink
and the cloud's stream. A certificate from another CA, and a thing in no device group, are refused with
a log line that says why; discovery refuses a certificate asking for another thing."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import requests
from paho.mqtt.enums import CallbackAPIVersion

from device_client.discovery import DiscoveryEndpoint, discover
from device_client.errors import DiscoveryError
from edgeway_common.certificates import CertificateAuthority
from tests.e2e.test_edgeway_up import up_command
from tests.waiting import wait_for


def edgeway(*args: str, env: dict[str, str], cwd: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "edgeway", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Dashboard:
    """A browser-like subscriber: a session from the stand-in's API, then dash/telemetry/<thing>."""

    def __init__(self, cloud_port: int, mqtt_port: int, thing: str) -> None:
        session = requests.post(
            f"http://127.0.0.1:{cloud_port}/api/session", json={"nick": "ops"}, timeout=5
        ).json()
        self.messages: list[dict] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=session["clientId"])
        self.client.username_pw_set("edgeway", session["token"])
        self.client.on_connect = lambda c, u, f, r, p: c.subscribe(f"dash/telemetry/{thing}", qos=1)
        self.client.on_message = lambda c, u, m: self.messages.append(json.loads(m.payload))
        self.client.connect("127.0.0.1", mqtt_port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def connect_with(cert, key, ca: Path, client_id: str, port: int) -> str:
    """What happens to a device connecting with these credentials: "accepted", a CONNACK refusal, or
    the TLS failure."""
    answered, result = threading.Event(), []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
    context = ssl.create_default_context(cafile=str(ca))
    context.load_cert_chain(str(cert), str(key))
    client.tls_set_context(context)
    client.on_connect = lambda c, u, f, reason, p: (result.append(str(reason)), answered.set())
    try:
        client.connect("127.0.0.1", port)
    except (ssl.SSLError, OSError) as exc:
        return f"tls: {exc}"
    client.loop_start()
    answered.wait(10)
    client.loop_stop()
    client.disconnect()
    return result[0] if result else "closed"


def broker_log(state: Path) -> list[dict]:
    path = state / "core" / "logs" / "com.edgeway.LocalBroker.log"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_a_device_discovers_the_core_and_its_telemetry_reaches_the_dashboard(tmp_path):
    command, env, ports = up_command(tmp_path)
    up = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    device = None
    dashboard = None
    try:
        assert up.stdout is not None
        assert any(line.startswith("ready in ") for line in up.stdout), "edgeway up did not get ready"
        state = tmp_path / "state"
        certs = tmp_path / "certs"
        made = edgeway("cloud", "thing", "create", "sensor-1", "--core", "gateway-1", "--out", str(certs),
                       "--data-dir", str(state / "cloud"), env=env, cwd=tmp_path)  # fmt: skip
        dashboard = Dashboard(ports["cloud"], ports["mqtt"], "sensor-1")
        device = subprocess.Popen(
            [sys.executable, "-m", "edgeway", "device", "run", "--thing", "sensor-1", "--cert", made["cert"],
             "--key", made["key"], "--ca", made["ca"], "--discover",
             "--discovery-port", str(ports["discovery"]), "--interval", "0.2",
             "--state-dir", str(tmp_path / "device")],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        window = wait_for(
            lambda: next((m for m in dashboard.messages if m.get("sensor") == "temperature"), None),
            90,
            "sensor-1's telemetry on dash/telemetry/sensor-1",
        )
        assert window["thing"] == "sensor-1" and window["count"] >= 1
        remembered = json.loads((tmp_path / "device" / "last-good-core.json").read_text())
        assert remembered["port"] == ports["device"] and remembered["core"].endswith("thing/gateway-1")

        group_ca = tmp_path / "device" / "group-ca-0.pem"
        stranger = CertificateAuthority(tmp_path / "stranger", "not the stand-in").issue("sensor-2")
        outcome = connect_with(stranger.cert, stranger.key, group_ca, "sensor-2", ports["device"])
        assert outcome != "Success"
        wait_for(
            lambda: any(
                e["event"] == "client refused" and "not signed by the trusted CA" in e.get("reason", "")
                for e in broker_log(state)
            ),
            20,
            "the broker to say why it refused the stranger's certificate",
        )
        camera = edgeway("cloud", "thing", "create", "camera-9", "--out", str(certs), "--data-dir",
                         str(state / "cloud"), env=env, cwd=tmp_path)  # fmt: skip
        assert connect_with(camera["cert"], camera["key"], group_ca, "camera-9", ports["device"]) != "Success"
        wait_for(
            lambda: any(
                "thing 'camera-9' is in no device group" in e.get("reason", "") for e in broker_log(state)
            ),
            20,
            "the broker to say the thing is in no device group",
        )
        with pytest.raises(DiscoveryError, match="HTTP 403"):
            discover(
                "sensor-2",
                DiscoveryEndpoint("127.0.0.1", ports["discovery"], Path(made["ca"])),
                Path(made["cert"]),
                Path(made["key"]),
            )
    finally:
        if device is not None:
            device.send_signal(signal.SIGTERM)
            device.wait(30)
        if dashboard is not None:
            dashboard.close()
        up.send_signal(signal.SIGINT)
        up.wait(60)
        if up.stdout is not None:
            up.stdout.close()
