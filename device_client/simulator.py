"""Many simulated devices in a few processes, each a real `DeviceClient` (paho, durable outbox) against
a real broker, some of them going offline for a while and coming back; one receiver measures
publish-to-subscriber latency, and what was lost or duplicated.

A worker process runs its share of devices: it connects them all, then publishes at its share of the
rate (one scheduler thread, readings spread evenly), takes the chosen devices offline for
`offline_seconds` at a random moment (their readings queue in the outbox meanwhile), and at the end
waits until every outbox has drained. Readings carry the send time and whether they were queued while
offline, so latency is reported for readings sent while connected.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .backoff import Backoff
from .client import DeviceClient
from .errors import ConnectError
from .outbox import FullPolicy, Outbox, OutboxFile
from .paho_transport import PahoTransport
from .transport import Endpoint, Transport, TransportEvents

TOPIC = "devices/{thing}/telemetry"
RECEIVER_TOPIC = "devices/+/telemetry"


@dataclass(frozen=True)
class Target:
    host: str
    port: int


@dataclass(frozen=True)
class WorkerPlan:
    index: int
    target: Target
    devices: tuple[tuple[str, str | None], ...]  # (thing, token or None)
    rate: float  # readings per second for this worker's devices together
    duration: float
    offline: tuple[str, ...] = ()
    offline_seconds: float = 0.0
    seed: int = 0
    drain_seconds: float = 120.0


class OfflineSwitch:
    """A transport that can be taken offline: it drops its connection and refuses to connect until back."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.offline = threading.Event()
        self._events: TransportEvents | None = None

    def connect(self, events: TransportEvents) -> None:
        if self.offline.is_set():
            raise ConnectError("simulated outage")
        self._events = events
        self.inner.connect(events)

    def go_offline(self) -> None:
        self.offline.set()
        self.inner.disconnect()
        if self._events is not None:
            self._events.on_connection(False, "simulated outage")

    def disconnect(self) -> None:
        self.inner.disconnect()

    def publish(self, topic: str, payload: bytes, qos: int) -> int:
        if self.offline.is_set():
            raise ConnectError("simulated outage")
        return self.inner.publish(topic, payload, qos)

    def subscribe(self, topic_filter: str, qos: int) -> None:
        self.inner.subscribe(topic_filter, qos)


@dataclass
class WorkerReport:
    index: int
    connect_seconds: list[float] = field(default_factory=list)  # from the worker's start, per device
    sent: dict[str, int] = field(default_factory=dict)  # thing -> readings stored in its outbox
    refused: int = 0
    undrained: int = 0
    cpu_seconds: float = 0.0


def _go() -> None:
    return None


def run_worker(
    plan: WorkerPlan,
    report: Callable[[str, Any], None],
    settled: Callable[[], None] | None = None,
    start: Callable[[], None] = _go,
    finish: Callable[[], None] = _go,
) -> WorkerReport:
    """Runs one worker's devices to the end. `report(kind, value)` hears progress: ("connected", 1) per
    device, ("ready", n) when all are, ("drained", n) when every outbox is empty. `settled()` is called
    once all are connected; `start()` returns when the fleet may begin publishing (every worker
    connected, the broker settled), `finish()` when every worker has drained: so one worker's connects
    and disconnects do not fall inside another's measured run."""
    rng = random.Random(plan.seed)
    result = WorkerReport(plan.index)
    started = time.monotonic()
    cpu_started = time.process_time()
    folder = Path(tempfile.mkdtemp(prefix=f"edgeway-fleet-{plan.index}-"))
    switches: dict[str, OfflineSwitch] = {}
    clients: dict[str, DeviceClient] = {}
    connected = threading.Event()
    count = [0]
    lock = threading.Lock()

    def listener(thing: str) -> Callable[[bool, str], None]:
        seen = [False]

        def heard(up: bool, reason: str) -> None:
            if up and not seen[0]:
                seen[0] = True
                with lock:
                    result.connect_seconds.append(time.monotonic() - started)
                    count[0] += 1
                    if count[0] == len(plan.devices):
                        connected.set()
                report("connected", 1)

        return heard

    shared = OutboxFile(folder / "outbox.sqlite3", synchronous="NORMAL")
    for thing, token in plan.devices:
        endpoint = Endpoint(plan.target.host, plan.target.port, thing, token=token, keepalive=60)
        switch = OfflineSwitch(PahoTransport(endpoint))
        outbox = Outbox(shared, thing, policy=FullPolicy.DROP_OLDEST)
        client = DeviceClient(
            switch, outbox, window=20, backoff=Backoff(0.2, 5.0, random.Random(rng.random()))
        )
        client.add_state_listener(listener(thing))
        switches[thing], clients[thing] = switch, client
        result.sent[thing] = 0
        client.start()
    connected.wait(60.0)
    if settled is not None:
        settled()
    report("ready", count[0])
    start()
    outages = {
        thing: rng.uniform(0.1, max(0.2, plan.duration - plan.offline_seconds)) for thing in plan.offline
    }
    things = [thing for thing, _ in plan.devices]
    interval = 1.0 / plan.rate if plan.rate > 0 else math.inf
    begin = time.monotonic()
    due = begin
    turn = 0
    back: dict[str, float] = {}
    while (now := time.monotonic()) < begin + plan.duration:
        for thing, at in list(outages.items()):
            if now - begin >= at:
                switches[thing].go_offline()
                back[thing] = now + plan.offline_seconds
                del outages[thing]
        for thing, until in list(back.items()):
            if now >= until:
                switches[thing].offline.clear()
                del back[thing]
        while due <= now and due < begin + plan.duration:
            thing = things[turn % len(things)]
            turn += 1
            due += interval
            sequence = result.sent[thing]
            document = {
                "thing": thing,
                "seq": sequence,
                "sent": time.time(),
                "queued": not clients[thing].connected,
            }
            try:
                clients[thing].publish(TOPIC.format(thing=thing), document)
                result.sent[thing] = sequence + 1
            except Exception:
                result.refused += 1
        time.sleep(max(0.0, min(0.005, due - time.monotonic())))
    for switch in switches.values():
        switch.offline.clear()
    deadline = time.monotonic() + plan.drain_seconds
    for client in clients.values():
        client.wait_until_drained(max(0.0, deadline - time.monotonic()))
    result.undrained = sum(len(c.outbox) for c in clients.values())
    report("drained", result.undrained)
    finish()
    for client in clients.values():
        client.stop(5.0)
    shared.close()
    result.cpu_seconds = time.process_time() - cpu_started
    return result


class Receiver:
    """The subscriber whose clock the latency is read on (same machine as the senders): paho in this
    process, or (`MosquittoSubReceiver`) Mosquitto's C client, which costs the broker's host less than
    the broker it measures and stamps each arrival itself."""

    kind = "paho"

    def __init__(self, target: Target, client_id: str, token: str | None) -> None:
        self.latencies: list[float] = []  # seconds, readings sent while connected
        self.timeline: list[tuple[float, float]] = []  # (sent at, latency) for the same readings
        self.seen: dict[str, set[int]] = {}
        self.received = 0
        self.ready = threading.Event()
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
        if token is not None:
            self.client.username_pw_set(client_id, token)
        self.client.on_connect = lambda c, u, f, reason, p: c.subscribe(RECEIVER_TOPIC, qos=1)
        self.client.on_subscribe = lambda *args: self.ready.set()
        self.client.on_message = self._message
        self.client.connect(target.host, target.port, keepalive=60)
        self.client.loop_start()

    def _message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.arrived(time.time(), bytes(message.payload))

    def arrived(self, now: float, payload: bytes) -> None:
        try:
            document = json.loads(payload)
            thing, sequence = str(document["thing"]), int(document["seq"])
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            self.received += 1
            seen = self.seen.setdefault(thing, set())
            if sequence not in seen:
                seen.add(sequence)
                if not document.get("queued"):
                    self.latencies.append(now - float(document["sent"]))
                    self.timeline.append((float(document["sent"]), now - float(document["sent"])))

    def unique(self) -> int:
        with self._lock:
            return sum(len(s) for s in self.seen.values())

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class MosquittoSubReceiver(Receiver):
    """`mosquitto_sub -F "%U %p"`: each line is its own arrival time and the payload."""

    kind = "mosquitto_sub"

    def __init__(self, target: Target, client_id: str, token: str | None, binary: str) -> None:
        self.latencies, self.timeline, self.seen = [], [], {}
        self.received = 0
        self.ready = threading.Event()
        self._lock = threading.Lock()
        command = [binary, "-h", target.host, "-p", str(target.port), "-i", client_id, "-q", "1",
                   "-t", RECEIVER_TOPIC, "-F", "%U %p", "-d", "-k", "60"]  # fmt: skip
        if token is not None:
            command += ["-u", client_id, "-P", token]
        line_buffered = shutil.which("stdbuf")  # its stdout is a pipe: without this, lines come in 4 KB lumps
        if line_buffered:
            command = [line_buffered, "-oL", *command]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._reader = threading.Thread(target=self._read, name="mosquitto_sub", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(b"Client ") or line.startswith(b"Subscribed"):
                if b"SUBACK" in line or line.startswith(b"Subscribed"):
                    self.ready.set()
                continue
            stamp, _, payload = line.partition(b" ")
            try:
                self.arrived(float(stamp), payload)
            except ValueError:
                continue

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


def make_receiver(target: Target, client_id: str, token: str | None) -> Receiver:
    binary = shutil.which("mosquitto_sub")
    return (
        MosquittoSubReceiver(target, client_id, token, binary)
        if binary
        else Receiver(target, client_id, token)
    )


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def summary(
    reports: Sequence[WorkerReport],
    receiver: Receiver,
    devices: int,
    duration: float,
    offline: int,
    wall: float,
) -> dict[str, Any]:
    connects = sorted(s for r in reports for s in r.connect_seconds)
    sent = sum(sum(r.sent.values()) for r in reports)
    unique = receiver.unique()
    latencies_ms = [1000.0 * v for v in receiver.latencies]
    return {
        "devices": devices,
        "connected": len(connects),
        "all_connected_s": round(connects[-1], 3) if connects else None,
        "connect_rate_per_s": round(len(connects) / connects[-1], 1)
        if connects and connects[-1] > 0
        else None,
        "duration_s": duration,
        "sent": sent,
        "messages_per_s": round(sent / duration, 1) if duration else None,
        "received_unique": unique,
        "lost": max(0, sent - unique),
        "duplicated": receiver.received - unique,
        "refused_by_outbox": sum(r.refused for r in reports),
        "undrained": sum(r.undrained for r in reports),
        "offline_devices": offline,
        "latency_ms": {
            "p50": round(percentile(latencies_ms, 0.50), 2),
            "p95": round(percentile(latencies_ms, 0.95), 2),
            "p99": round(percentile(latencies_ms, 0.99), 2),
            "mean": round(statistics.fmean(latencies_ms), 2) if latencies_ms else None,
            "count": len(latencies_ms),
        },
        "receiver": receiver.kind,
        "worker_cpu_s": [round(r.cpu_seconds, 2) for r in reports],
        "p99_ms_by_10s": _p99_by_window(receiver.timeline, 10.0),
        "wall_s": round(wall, 2),
    }


def _p99_by_window(timeline: Sequence[tuple[float, float]], seconds: float) -> list[float]:
    """p99 latency (ms) of the readings sent in each window from the first: where in the run the tail is."""
    if not timeline:
        return []
    start = min(at for at, _ in timeline)
    windows: dict[int, list[float]] = {}
    for at, latency in timeline:
        windows.setdefault(int((at - start) // seconds), []).append(1000.0 * latency)
    return [round(percentile(windows[i], 0.99), 1) for i in sorted(windows)]


def report_dict(report: WorkerReport) -> dict[str, Any]:
    return asdict(report)
