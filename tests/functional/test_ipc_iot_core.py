"""PublishToIoTCore and SubscribeToIoTCore through the core's MQTT session to a real broker."""

from __future__ import annotations

import base64
import json
import shutil
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.fakes.broker import AmqttBroker, MosquittoBroker, MosquittoTls, TcpProxy
from tests.fakes.tls import CertificateAuthority, Credentials
from tests.ipc_components import Probe
from tests.waiting import wait_for

MQTT_PROXY = "aws.greengrass.ipc.mqttproxy"


@pytest.fixture
def broker(tmp_path):
    running = AmqttBroker(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def iot_broker(tmp_path):
    """A broker that, like IoT Core, accepts publishes to `$aws/...` (amqtt refuses them)."""
    require_mosquitto()
    running = MosquittoBroker(tmp_path)
    yield running
    running.stop()


def require_mosquitto() -> None:
    if shutil.which("mosquitto") is None and not Path("/usr/sbin/mosquitto").exists():
        pytest.skip("Debian's mosquitto is not installed (.ci/run installs it)")


@pytest.fixture
def closing():
    """Things to close at the end of the test, whether it passed or not."""
    things: list = []
    yield things.append
    for thing in reversed(things):
        thing.close()


class Observer:
    """A paho client on the broker, as a cloud application would be."""

    def __init__(self, port: int, topic_filter: str, tls: tuple[Path, Credentials] | None = None) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="observer")
        if tls is not None:
            ca, credentials = tls
            self.client.tls_set(
                ca_certs=str(ca), certfile=str(credentials.cert), keyfile=str(credentials.key)
            )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe(topic_filter, qos=1)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert subscribed.wait(10), "the observer could not subscribe"

    def _on_message(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def publish(self, topic: str, payload: bytes) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        sock = self.client.socket()
        if sock is not None:
            sock.close()


def start_device_core(start_core, tmp_path, port: int, *more: str, scheme: str = "mqtt"):
    """A core with the test's recipes, thing `pi`, connected to <scheme>://127.0.0.1:<port>."""
    return start_core(
        "--recipes",
        str(tmp_path / "recipes"),
        "--artifacts",
        str(tmp_path / "artifacts"),
        "--iot-endpoint",
        f"{scheme}://127.0.0.1:{port}",
        "--thing-name",
        "pi",
        *more,
    )


def policy() -> dict:
    return {MQTT_PROXY: {"cloud": {"operations": ["*"], "resources": ["devices/pi/#", "commands/+"]}}}


def publish(seq: int, qos: str = "1") -> dict:
    return {
        "op": "publish_to_iot_core",
        "args": {"topic_name": "devices/pi/telemetry", "qos": qos, "payload": json.dumps({"seq": seq})},
    }


def test_publish_subscribe_and_denial(tmp_path, start_core, broker, closing):
    observer = Observer(broker.port, "devices/#")
    closing(observer)
    go = tmp_path / "go"
    probe = Probe(
        tmp_path,
        "test.Device",
        [
            {"op": "subscribe_to_iot_core", "args": {"topic_name": "commands/+", "qos": "1"}},
            publish(1),
            {
                "op": "publish_to_iot_core",
                "args": {"topic_name": "forbidden/topic", "qos": "0", "payload": "x"},
            },
            {"op": "wait_file", "args": {"path": str(go)}},
        ],
        access=policy(),
    )
    core = start_device_core(
        start_core,
        tmp_path,
        broker.port,
    )
    wait_for(lambda: core.request("ipc")["iot"]["connected"], what="the core's IoT connection")
    assert probe.step(0)["ok"] and probe.step(1)["ok"]
    wait_for(lambda: observer.messages, what="the telemetry at the broker")
    assert observer.messages == [("devices/pi/telemetry", b'{"seq": 1}')]
    assert probe.step(2)["error"] == "UnauthorizedError"
    assert probe.step(2)["message"] == (
        "Principal test.Device is not authorized to perform "
        "aws.greengrass.ipc.mqttproxy:aws.greengrass#PublishToIoTCore "
        "on resource forbidden/topic"
    )
    observer.publish("commands/reboot", b"now")
    event = probe.wait_events(0, 1)[0]["message"]
    assert event["topicName"] == "commands/reboot" and base64.b64decode(event["payload"]) == b"now"


def test_offline_messages_are_spooled_and_replayed_in_order(tmp_path, start_core, broker, closing):
    proxy = TcpProxy(broker.port)
    closing(proxy)
    observer = Observer(broker.port, "devices/#")
    closing(observer)
    offline, online = tmp_path / "offline", tmp_path / "online"
    probe = Probe(
        tmp_path,
        "test.Device",
        [
            {"op": "subscribe_to_iot_core", "args": {"topic_name": "commands/+", "qos": "1"}},
            {"op": "wait_file", "args": {"path": str(offline)}},
            *[publish(seq) for seq in range(100)],
            publish(999, qos="0"),
            {"op": "wait_file", "args": {"path": str(online)}},
        ],
        access=policy(),
    )
    core = start_device_core(
        start_core,
        tmp_path,
        proxy.port,
        "--reconnect-min",
        "0.1",
        "--reconnect-max",
        "0.5",
    )
    wait_for(lambda: core.request("ipc")["iot"]["connected"], what="the first connection")
    assert probe.step(0)["ok"]
    proxy.go_offline()
    wait_for(lambda: not core.request("ipc")["iot"]["connected"], what="the core to notice it is offline")
    offline.write_text("")
    probe.step(102)
    status = core.request("ipc")["iot"]
    assert (status["spooled"], status["dropped_qos0"]) == (100, 1)
    assert observer.messages == []
    proxy.go_online()
    wait_for(lambda: len(observer.messages) >= 100, timeout=30, what="the spool to drain")
    seqs = [json.loads(payload)["seq"] for _, payload in observer.messages]
    assert list(dict.fromkeys(seqs)) == list(range(100))  # in order; QoS 1 may repeat, never reorder
    assert core.request("ipc")["iot"]["spooled"] == 0
    observer.publish("commands/after-reconnect", b"hello again")
    event = probe.wait_events(0, 1)[0]["message"]
    assert event["topicName"] == "commands/after-reconnect"
    online.write_text("")


def test_shadows_sync_both_ways_without_echo(tmp_path, start_core, iot_broker, closing):
    cloud = Observer(iot_broker.port, "$aws/things/pi/shadow/#")
    closing(cloud)
    synced = tmp_path / "synced"
    probe = Probe(
        tmp_path,
        "test.Device",
        [
            {
                "op": "update_thing_shadow",
                "args": {"thing_name": "pi", "payload": json.dumps({"state": {"reported": {"temp": 21}}})},
            },
            {"op": "wait_file", "args": {"path": str(synced)}},
            {"op": "get_thing_shadow", "args": {"thing_name": "pi", "shadow_name": "config"}},
            {"op": "get_thing_shadow", "args": {"thing_name": "pi"}},
        ],
        access={
            "aws.greengrass.ShadowManager": {"own": {"operations": ["*"], "resources": ["$aws/things/pi/*"]}}
        },
    )
    core = start_device_core(start_core, tmp_path, iot_broker.port)
    wait_for(lambda: core.request("ipc")["iot"]["connected"], what="the core's IoT connection")
    assert probe.step(0)["ok"]
    wait_for(lambda: cloud.messages, what="the local update at the cloud")
    topic, payload = cloud.messages[0]
    sent = json.loads(payload)
    assert topic == "$aws/things/pi/shadow/update"
    assert sent["state"] == {"reported": {"temp": 21}} and sent["clientToken"].startswith("edgeway-sync-")

    # The cloud changes a named shadow, and echoes the core's own update back.
    cloud.publish(
        "$aws/things/pi/shadow/name/config/update/documents",
        json.dumps(
            {"previous": None, "current": {"state": {"desired": {"rate": 9}}, "version": 5}, "timestamp": 1}
        ).encode(),
    )
    cloud.publish(
        "$aws/things/pi/shadow/update/documents",
        json.dumps(
            {
                "current": {"state": {"reported": {"temp": -40}}, "version": 2},
                "clientToken": sent["clientToken"],
            }
        ).encode(),
    )
    wait_for(lambda: '"shadow-synced-from-cloud"' in core.log_text(), what="the cloud document to apply")
    synced.write_text("")
    config = json.loads(base64.b64decode(probe.step(2)["result"]["payload"]))
    assert config["state"] == {"desired": {"rate": 9}, "delta": {"rate": 9}}
    classic = json.loads(base64.b64decode(probe.step(3)["result"]["payload"]))
    assert classic["state"] == {"reported": {"temp": 21}} and classic["version"] == 1


@pytest.fixture
def authority(tmp_path):
    return CertificateAuthority(tmp_path / "pki")


@pytest.fixture
def tls_broker(tmp_path, authority):
    """Mosquitto on TLS requiring a client certificate from `authority`, as IoT Core on 8883 does."""
    require_mosquitto()
    server = authority.issue("broker", server=True)
    running = MosquittoBroker(tmp_path, MosquittoTls(authority.ca, server.cert, server.key))
    yield running
    running.stop()


def tls_core(start_core, tmp_path, port: int, ca: Path, device: Credentials):
    """The same core, to an mqtts:// endpoint with the device's certificate, as to AWS IoT Core."""
    return start_device_core(
        start_core,
        tmp_path,
        port,
        "--cert",
        str(device.cert),
        "--key",
        str(device.key),
        "--ca",
        str(ca),
        "--reconnect-min",
        "0.2",
        "--reconnect-max",
        "0.5",
        scheme="mqtts",
    )


def test_mutual_tls_as_iot_core_uses_it(tmp_path, start_core, authority, tls_broker, closing):
    """mqtts:// with --cert --key --ca: the broker requires the device's certificate; client id = thing."""
    observer = Observer(tls_broker.port, "devices/#", tls=(authority.ca, authority.issue("observer")))
    closing(observer)
    probe = Probe(tmp_path, "test.Device", [publish(7)], access=policy())
    core = tls_core(start_core, tmp_path, tls_broker.port, authority.ca, authority.issue("pi"))
    wait_for(lambda: core.request("ipc")["iot"]["connected"], what="the core's TLS connection")
    assert probe.step(0)["ok"]
    wait_for(lambda: observer.messages, what="the telemetry at the broker")
    assert observer.messages == [("devices/pi/telemetry", b'{"seq": 7}')]
    log = tls_broker.log_path.read_text()
    assert " as pi " in log and "u'pi'" in log  # client id is the thing; identity is the certificate's CN


def test_a_certificate_from_another_authority_is_refused_and_the_core_keeps_serving(
    tmp_path, start_core, authority, tls_broker
):
    stranger = CertificateAuthority(tmp_path / "other-pki", "stranger CA").issue("pi")
    probe = Probe(tmp_path, "test.Device", [publish(1)], access=policy())
    core = tls_core(start_core, tmp_path, tls_broker.port, authority.ca, stranger)
    wait_for(lambda: "iot-connect-failed" in core.log_text(), what="the refused handshake to be logged")
    assert probe.step(0)["ok"]  # accepted into the spool: the component does not see the outage
    status = core.request("ipc")["iot"]
    assert not status["connected"] and status["spooled"] == 1
    assert core.state("test.Device") == "RUNNING"
