"""The uplink: durable ingest (records/s into its SQLite spool) and drain (records/s from local topics,
through the uplink, PublishToIoTCore and the core's MQTT session, to a subscriber on a broker), with the
broker's raw rate for the same messages in the same run.

    python bench/uplink.py [--ingest 200000] [--drain 20000] [--seconds 10] [--repeat 3]

Ingest runs in process (the component's `ingest`, as its writer thread calls it: batches of 50 messages
of 100 records), --repeat times into a new spool each: records/s and CPU µs per record, min/median/max.
Drain runs a real core, the uplink from its recipe, and Debian's mosquitto (amqtt if mosquitto is
missing); records are fed by a component on local topics. The raw rate is paho publishing the very
messages the subscriber received, QoS 1, to the same broker. The drain reports CPU per record of the
core with the uplink (the feeder, deployed for the run, is the load and is not counted) and of the
broker. Every loop is bounded in count and time. Goal: ingest >= 20,000 records/s (median).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import paho.mqtt.client as mqtt  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

from bench.machine import machine  # noqa: E402
from bench.measure import cpu_delta, cpu_seconds, spread, tree_cpu_seconds  # noqa: E402
from greengrass_components.components.uplink import Uplink  # noqa: E402


class NoLink:
    def publish_json(self, topic: str, document: Any) -> None:
        pass


def ingest_rate(total: int, seconds: float, folder: Path, repeat: int) -> dict[str, Any]:
    runs = [ingest_once(total, seconds, folder / f"ingest-{run}.sqlite3") for run in range(repeat)]
    return {
        "records": [done for done, _, _ in runs],
        "records_per_second": spread([done / elapsed for done, elapsed, _ in runs], 0),
        "cpu_us_per_record": spread([1e6 * cpu / done for done, _, cpu in runs], 2),
    }


def ingest_once(total: int, seconds: float, spool: Path) -> tuple[int, float, float]:
    """(records, seconds, CPU seconds) ingested into a new spool."""
    uplink = Uplink(NoLink(), {"Spool": {"path": str(spool)}}, logging.getLogger("bench"))  # type: ignore[arg-type]
    done, n, start, cpu = 0, 0, time.perf_counter(), time.process_time()
    while done < total and time.perf_counter() - start < seconds:
        batch = []
        for _ in range(50):
            records = [
                {"sensor": "temperature", "value": (n + i) % 40, "unit": "degC", "ts": n + i}
                for i in range(100)
            ]
            n += 100
            batch.append(("edgeway/telemetry", "telemetry", {"source": "bench", "records": records}))
        done += uplink.ingest(batch)
    elapsed, used = time.perf_counter() - start, time.process_time() - cpu
    uplink.close()
    return done, elapsed, used


class Counter:
    def __init__(self, port: int, client_id: str) -> None:
        self.records = 0
        self.payloads: list[bytes] = []
        self.last = 0.0
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.on_connect = lambda c, *a: c.subscribe("chat/stream", 1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        deadline = time.monotonic() + 10
        while not self.client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.02)

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.records += len(json.loads(message.payload).get("readings", []))
            self.payloads.append(bytes(message.payload))
            self.last = time.perf_counter()

    def wait(self, records: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.records < records and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.records >= records

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def broker_cpu(broker: Any) -> float:
    """The broker process's CPU seconds (0 for amqtt, which runs in this process)."""
    process = getattr(broker, "process", None)
    return cpu_seconds(process.pid) if process is not None else 0.0


def drain_rates(total: int, timeout: float, folder: Path) -> dict[str, Any]:
    from tests.core_process import CoreProcess
    from tests.edge_components import deploy, publish_from_component
    from tests.fakes.broker import AmqttBroker, MosquittoBroker

    broker: Any = (
        MosquittoBroker(folder)
        if shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()
        else AmqttBroker(folder)
    )
    core = CoreProcess(folder / "core", "--iot-endpoint", f"mqtt://127.0.0.1:{broker.port}").start()
    counter = Counter(broker.port, "bench-uplink")
    try:
        deploy(core, folder, {"com.edgeway.Uplink": {"StatusSeconds": 5}})
        per_message = 100
        messages = [
            (
                "edgeway/telemetry",
                {
                    "source": "bench",
                    "records": [
                        {
                            "sensor": "temperature",
                            "value": (m * per_message + i) % 40,
                            "unit": "degC",
                            "ts": m * per_message + i,
                        }
                        for i in range(per_message)
                    ],
                },
            )
            for m in range(total // per_message)
        ]
        assert core.process is not None
        core_before, broker_before = tree_cpu_seconds(core.process.pid), broker_cpu(broker)
        start = time.perf_counter()
        publish_from_component(core, folder, "bench.Feeder", messages)
        arrived = counter.wait(total, timeout)
        core_cpu = cpu_delta(core_before, tree_cpu_seconds(core.process.pid))
        broker_used = broker_cpu(broker) - broker_before
        through_uplink = {
            "records": counter.records,
            "all_arrived": arrived,
            "messages": len(counter.payloads),
            "seconds_from_feed_to_last_arrival": round(counter.last - start, 3),
            "records_per_second": round(counter.records / (counter.last - start)) if counter.last else 0,
            "cpu_us_per_record": {
                "core_and_uplink": round(1e6 * core_cpu / max(1, counter.records), 1),
                "broker": round(1e6 * broker_used / max(1, counter.records), 1),
            },
        }
        payloads = list(counter.payloads)
    finally:
        counter.close()
        core.stop()
    raw_counter = Counter(broker.port, "bench-raw")
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-publisher")
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    try:
        start = time.perf_counter()
        infos = [publisher.publish("chat/stream", p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(timeout)
        raw_counter.wait(through_uplink["records"], timeout)
        raw = {
            "records": raw_counter.records,
            "messages": len(payloads),
            "seconds": round(raw_counter.last - start, 3),
            "records_per_second": round(raw_counter.records / (raw_counter.last - start))
            if raw_counter.last
            else 0,
        }
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        raw_counter.close()
        broker.stop()
    return {
        "broker": type(broker).__name__,
        "through_uplink": through_uplink,
        "broker_raw_same_messages": raw,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ingest", type=int, default=200_000, help="records to ingest at most")
    parser.add_argument("--drain", type=int, default=20_000, help="records to drain")
    parser.add_argument("--seconds", type=float, default=10.0, help="time bound of each part")
    parser.add_argument("--repeat", type=int, default=3, help="ingest runs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeway-bench-uplink-") as tmp:
        folder = Path(tmp)
        ingest = ingest_rate(args.ingest, args.seconds, folder, args.repeat)
        drain = drain_rates(args.drain, max(args.seconds, 60), folder)
    print(
        json.dumps(
            {
                "benchmark": "uplink",
                "durable_ingest": ingest,
                "drain": drain,
                "goals": {"ingest>=20000": ingest["records_per_second"]["median"] >= 20_000},
                "machine": machine(),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
