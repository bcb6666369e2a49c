"""The uplink's promise, under a real core and a real broker: every record accepted arrives, in order per
source, through a broker outage and through the uplink being killed mid-drain."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.edge_components import Listener, deploy, hand_off_from_component
from tests.fakes.broker import MosquittoBroker
from tests.functional.test_ipc_iot_core import require_mosquitto
from tests.waiting import wait_for

UPLINK = "com.edgeway.Uplink"
RECORDS = 10_000
PER_MESSAGE = 100
pytestmark = pytest.mark.slow


class CloudSubscriber:
    """A persistent QoS 1 session on the broker (as the rules engine is on IoT Core): what is published
    while it is away waits for it in the broker."""

    def __init__(self, port: int) -> None:
        self.arrivals: list[tuple[str, str]] = []  # (source, id) in arrival order
        self.alerts: list[dict[str, Any]] = []
        self.oversized = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cloud-rules", clean_session=False)
        self.client.on_connect = lambda c, *a: c.subscribe([("chat/stream", 1), ("chat/out", 1)])
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        wait_for(self.client.is_connected, 10, "the cloud subscriber")

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        document = json.loads(message.payload)
        with self._lock:
            if len(message.payload) > 128 * 1024:
                self.oversized += 1
            if message.topic == "chat/out":
                self.alerts.append(document)
                self.arrivals.append(("alerts", document["id"]))
            else:
                self.arrivals += [(r["source"], r["id"]) for r in document.get("readings", [])]

    def ids(self) -> set[str]:
        with self._lock:
            return {record_id for _, record_id in self.arrivals}

    def first_arrival_order(self) -> dict[str, list[str]]:
        seen: set[str] = set()
        order: dict[str, list[str]] = {}
        with self._lock:
            for source, record_id in self.arrivals:
                if record_id not in seen:
                    seen.add(record_id)
                    order.setdefault(source, []).append(record_id)
        return order

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def feed_messages() -> tuple[list[tuple[str, Any]], dict[str, list[str]]]:
    """10,000 telemetry records from two sources, interleaved, and an alert every 1,000 records."""
    messages: list[tuple[str, Any]] = []
    expected: dict[str, list[str]] = {"sensor-a": [], "sensor-b": [], "alerts": []}
    n = 0
    while n < RECORDS:
        for source in ("sensor-a", "sensor-b"):
            records = []
            for _ in range(PER_MESSAGE // 2):
                record_id = f"{source}-{n:05d}"
                records.append({"id": record_id, "sensor": "temperature", "value": n % 40, "ts": 1_000 + n})
                expected[source].append(record_id)
                n += 1
            messages.append(("edgeway/telemetry", {"source": source, "records": records}))
        if n % 1000 == 0:
            alert_id = f"alert-{n:05d}"
            expected["alerts"].append(alert_id)
            messages.append(("edgeway/alerts", {"id": alert_id, "kind": "alert", "text": f"alert at {n}"}))
    return messages, expected


def start(start_core, tmp_path: Path, broker: MosquittoBroker) -> tuple[Any, Listener]:
    core = start_core(
        "--iot-endpoint",
        f"mqtt://127.0.0.1:{broker.port}",
        "--spool-max-bytes",
        "65536",  # small: the core refuses once it holds 64 KB, so the uplink must hold the rest
        "--reconnect-min",
        "0.1",
        "--reconnect-max",
        "0.5",
    )
    status = Listener(core, tmp_path / "status", ["edgeway/uplink/status"])
    deploy(
        core,
        tmp_path,
        {
            UPLINK: {
                "BackoffMinSeconds": 0.05,
                "BackoffMaxSeconds": 0.3,
                "StatusSeconds": 0.2,
                "BatchRecords": 500,
            }
        },
    )
    core.wait_state(UPLINK, "RUNNING")
    return core, status


def feed(core: Any, tmp_path: Path) -> dict[str, list[str]]:
    messages, expected = feed_messages()
    hand_off_from_component(core, tmp_path, "test.Feeder", messages)
    return expected


def latest_status(status: Listener) -> dict[str, Any]:
    messages = status.messages("edgeway/uplink/status")
    return messages[-1] if messages else {}


def assert_all_arrived_in_order(cloud: CloudSubscriber, expected: dict[str, list[str]]) -> None:
    everything = {i for ids in expected.values() for i in ids}
    wait_for(lambda: everything <= cloud.ids(), 120, f"all {len(everything)} ids at the subscriber")
    order = cloud.first_arrival_order()
    for source, ids in expected.items():
        assert order[source] == ids, f"{source}: first arrivals out of order"
    assert cloud.oversized == 0
    assert {a["room"] for a in cloud.alerts} == {"alerts"} and cloud.alerts[0]["user"] == "gateway-1"


@pytest.fixture
def broker_dir(tmp_path: Path) -> Path:
    require_mosquitto()
    folder = tmp_path / "broker"
    folder.mkdir()
    return folder


class Outage:
    """A core with the uplink, its broker stopped, and 10,000 records fed in."""

    def __init__(self, start_core, tmp_path: Path, broker_dir: Path) -> None:
        self.broker_dir = broker_dir
        self.broker = MosquittoBroker(broker_dir, persistent=True)
        self.cloud = CloudSubscriber(self.broker.port)
        self.core, self.status = start(start_core, tmp_path, self.broker)
        self.broker.stop()
        self.expected = feed(self.core, tmp_path)

    def status_has(self, predicate: Any, what: str) -> dict[str, Any]:
        return wait_for(
            lambda: predicate(latest_status(self.status)) and latest_status(self.status), 60, what
        )

    def broker_back(self) -> None:
        self.broker = MosquittoBroker(self.broker_dir, port=self.broker.port, persistent=True)

    def close(self) -> None:
        self.cloud.close()
        self.broker.stop()


@pytest.fixture
def outage(start_core, tmp_path, broker_dir):
    running = Outage(start_core, tmp_path, broker_dir)
    yield running
    running.close()


def test_broker_stopped_10000_records_sent_then_started_every_id_arrives_in_order(outage):
    held = outage.status_has(lambda s: s.get("accepted", 0) >= RECORDS + 10, "the uplink to spool everything")
    assert held["spooled"] > 0, "the uplink should hold what the core's full spool refused"
    outage.broker_back()
    assert_all_arrived_in_order(outage.cloud, outage.expected)
    final = outage.status_has(lambda s: s.get("spooled") == 0, "an empty spool")
    assert final["sent"] == RECORDS + 10
    assert final["dropped_telemetry"] == final["dropped_alerts"] == final["expired"] == 0


def test_uplink_killed_mid_drain_and_restarted_loses_nothing(outage):
    outage.status_has(
        lambda s: s.get("sent", 0) > 0 and s.get("spooled", 0) > 0,
        "the uplink to be part way through its spool",
    )
    core = outage.core
    (pid,) = core.components()[UPLINK]["pids"]
    os.killpg(pid, signal.SIGKILL)  # the script's process group: its shell and the Python in it
    wait_for(
        lambda: core.components()[UPLINK]["pids"] not in ([], [pid]), 60, "the core to restart the uplink"
    )
    outage.broker_back()
    assert_all_arrived_in_order(outage.cloud, outage.expected)


def test_records_handed_over_while_no_uplink_runs_arrive_once_it_does(start_core, tmp_path, broker_dir):
    """The hand-off is durable on append: a producer hands 10,010 records over before the uplink has
    ever run; deployed afterwards, the uplink sends every one of them, in order per source."""
    broker = MosquittoBroker(broker_dir, persistent=True)
    cloud = CloudSubscriber(broker.port)
    try:
        core = start_core("--iot-endpoint", f"mqtt://127.0.0.1:{broker.port}")
        expected = feed(core, tmp_path)
        assert UPLINK not in core.components()
        deploy(core, tmp_path, {UPLINK: {"StatusSeconds": 0.2}})
        assert_all_arrived_in_order(cloud, expected)
    finally:
        cloud.close()
        broker.stop()
