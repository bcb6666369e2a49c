"""The local broker (client authentication) and the bridge's mappings under a real core."""

from __future__ import annotations

import base64
import json
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greengrass_components.components.broker_auth import hash_password
from tests.edge_components import Listener, deploy, deploy_invalid, publish_from_component
from tests.fakes.broker import MosquittoBroker, free_port
from tests.functional.test_ipc_iot_core import Observer, require_mosquitto
from tests.waiting import wait_for

BROKER, BRIDGE = "com.edgeway.LocalBroker", "com.edgeway.Bridge"


class Device:
    def __init__(self, port: int, client_id: str, password: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.refused: list[str] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set(client_id, password)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self.ready.set()
        self.client.on_message = lambda c, u, m: self.messages.append((m.topic, bytes(m.payload)))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason, properties=None) -> None:
        if reason.is_failure:
            self.refused.append(str(reason))
            client.disconnect()
        else:
            client.subscribe("core/#", qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def iot(tmp_path):
    require_mosquitto()
    broker = MosquittoBroker(tmp_path)
    yield broker
    broker.stop()


def test_devices_authenticate_and_the_bridge_relays_by_its_mappings(start_core, tmp_path, iot):
    port = free_port()
    core = start_core("--iot-endpoint", f"mqtt://127.0.0.1:{iot.port}")
    listener = Listener(core, tmp_path, ["devices/+/telemetry"])
    cloud = Observer(iot.port, "edge/#")
    deploy(
        core,
        tmp_path,
        {
            BROKER: {
                "Port": port,
                "Tls": False,
                "Clients": {
                    "sensor-7": hash_password("s3cret"),
                    "edgeway-bridge": hash_password("bridge-pw"),
                },
            },
            BRIDGE: {
                "brokerUri": f"mqtt://127.0.0.1:{port}",
                "password": "bridge-pw",
                "mqttTopicMapping": {
                    "DeviceTelemetryToPubsub": {
                        "topic": "devices/+/telemetry",
                        "source": "LocalMqtt",
                        "target": "Pubsub",
                    },
                    "DeviceAlertsToCloud": {
                        "topic": "devices/+/alerts",
                        "source": "LocalMqtt",
                        "target": "IotCore",
                        "targetTopicPrefix": "edge/",
                    },
                    "CommandsToDevices": {
                        "topic": "edgeway/commands/#",
                        "source": "Pubsub",
                        "target": "LocalMqtt",
                        "targetTopicPrefix": "core/",
                    },
                },
            },
        },
    )
    intruder = Device(port, "sensor-7", "wrong")
    stranger = Device(port, "sensor-8", "s3cret")
    wait_for(lambda: intruder.refused and stranger.refused, 20, "bad credentials to be refused")
    device = Device(port, "sensor-7", "s3cret")
    try:
        assert device.ready.wait(20), "the device could not subscribe"
        device.client.publish(
            "devices/sensor-7/telemetry", json.dumps({"value": 21.5}), qos=1
        ).wait_for_publish(10)
        device.client.publish("devices/sensor-7/alerts", b"smoke", qos=1).wait_for_publish(10)
        (relayed,) = listener.wait("devices/+/telemetry", lambda r: len(r) >= 1)
        message = relayed["binaryMessage"]  # relayed as bytes, as Greengrass's bridge does
        assert json.loads(base64.b64decode(message["message"])) == {"value": 21.5}
        assert message["context"]["topic"] == "devices/sensor-7/telemetry"
        wait_for(
            lambda: ("edge/devices/sensor-7/alerts", b"smoke") in cloud.messages, 20, "the alert at IoT Core"
        )
        publish_from_component(core, tmp_path, "test.Commander", [("edgeway/commands/reboot", {"after": 5})])
        wait_for(lambda: device.messages, 20, "the command at the device")
        topic, payload = device.messages[0]
        assert (topic, json.loads(payload)) == ("core/edgeway/commands/reboot", {"after": 5})
    finally:
        for client in (device, intruder, stranger):
            client.close()
        cloud.close()


def test_a_mapping_that_does_not_validate_reports_errored(start_core, tmp_path):
    core = start_core()
    bad = {"mqttTopicMapping": {"Bad": {"topic": "a/#", "source": "Kafka", "target": "Pubsub"}}}
    log = deploy_invalid(core, tmp_path, BRIDGE, bad, BROKER)
    assert "mqttTopicMapping.Bad.source must be one of LocalMqtt, Pubsub, IotCore" in log
