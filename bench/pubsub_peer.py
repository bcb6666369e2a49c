"""One side of a pub/sub benchmark, over Greengrass IPC (awsiotsdk) or MQTT (paho).

    pubsub_peer.py --transport ipc|mqtt --role pub|sub --topic T --count N [--rate R]
                   --out FILE --ready-dir DIR --subscribers K [--port P]

A subscriber subscribes, writes DIR/<pid>.ready, and when it has N messages
writes its receive times, latencies and CPU seconds since it was ready to FILE.
A publisher waits for K ready files, then sends N messages of exactly 200 bytes
of JSON, as fast as it can (no --rate) or paced at R per second, and writes its
start time and CPU seconds to FILE.
Times are CLOCK_MONOTONIC nanoseconds, the same clock in every process.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

SIZE = 200
WINDOW = 500


def message(seq: int) -> bytes:
    head = {"seq": seq, "t": time.monotonic_ns(), "pad": ""}
    raw = json.dumps(head, separators=(",", ":"))
    head["pad"] = "x" * (SIZE - len(raw))
    data = json.dumps(head, separators=(",", ":")).encode()
    assert len(data) == SIZE, len(data)
    return data


class Receiver:
    def __init__(self, count: int, out: Path) -> None:
        self.count, self.out = count, out
        self.latencies: list[int] = []
        self.first = self.last = 0
        self.done = threading.Event()

    def write(self, cpu_s: float) -> None:
        self.out.write_text(
            json.dumps(
                {
                    "first": self.first,
                    "last": self.last,
                    "latencies": self.latencies,
                    "complete": len(self.latencies) >= self.count,
                    "cpu_s": cpu_s,
                }
            )
        )

    def on_payload(self, payload: bytes | dict) -> None:
        now = time.monotonic_ns()
        body = payload if isinstance(payload, dict) else json.loads(payload)
        self.latencies.append(now - body["t"])
        self.first = self.first or now
        self.last = now
        if len(self.latencies) == self.count:
            self.done.set()


def wait_ready(directory: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while len(list(directory.glob("*.ready"))) < count:
        if time.monotonic() > deadline:
            raise SystemExit("subscribers never got ready")
        time.sleep(0.01)


def pace(rate: float | None, start: float, seq: int) -> None:
    if rate:
        delay = start + seq / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def run_ipc(args: argparse.Namespace) -> None:
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

    client = GreengrassCoreIPCClientV2()
    if args.role == "sub":
        receiver = Receiver(args.count, args.out)
        client.subscribe_to_topic(
            topic=args.topic, on_stream_event=lambda event: receiver.on_payload(event.json_message.message)
        )
        (args.ready_dir / f"{os.getpid()}.ready").write_text("")
        cpu = time.process_time()
        receiver.done.wait(args.timeout)
        receiver.write(time.process_time() - cpu)
        return
    wait_ready(args.ready_dir, args.subscribers)
    cpu = time.process_time()
    start_ns, start = time.monotonic_ns(), time.monotonic()
    pending = []
    for seq in range(args.count):
        pace(args.rate, start, seq)
        body = json.loads(message(seq))
        pending.append(
            client.publish_to_topic_async(
                topic=args.topic, publish_message=PublishMessage(json_message=JsonMessage(message=body))
            )
        )
        if len(pending) >= WINDOW:
            pending.pop(0).result(30)
    for future in pending:
        future.result(30)
    args.out.write_text(json.dumps({"start": start_ns, "cpu_s": time.process_time() - cpu}))


def run_mqtt(args: argparse.Namespace) -> None:
    import paho.mqtt.client as mqtt

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{os.getpid()}")
    client.max_queued_messages_set(0)
    connected = threading.Event()
    client.on_connect = lambda *a: connected.set()
    if args.role == "sub":
        receiver = Receiver(args.count, args.out)
        subscribed = threading.Event()
        client.on_message = lambda c, u, msg: receiver.on_payload(msg.payload)
        client.on_subscribe = lambda *a: subscribed.set()
        client.connect("127.0.0.1", args.port)
        client.loop_start()
        connected.wait(10)
        client.subscribe(args.topic, qos=0)
        subscribed.wait(10)
        (args.ready_dir / f"{os.getpid()}.ready").write_text("")
        cpu = time.process_time()
        receiver.done.wait(args.timeout)
        receiver.write(time.process_time() - cpu)
        client.loop_stop()
        return
    client.connect("127.0.0.1", args.port)
    client.loop_start()
    connected.wait(10)
    wait_ready(args.ready_dir, args.subscribers)
    cpu = time.process_time()
    start_ns, start = time.monotonic_ns(), time.monotonic()
    for seq in range(args.count):
        pace(args.rate, start, seq)
        client.publish(args.topic, message(seq), qos=0)
    args.out.write_text(json.dumps({"start": start_ns, "cpu_s": time.process_time() - cpu}))
    time.sleep(1)
    client.loop_stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transport", choices=["ipc", "mqtt"], required=True)
    parser.add_argument("--role", choices=["pub", "sub"], required=True)
    parser.add_argument("--topic", default="bench/topic")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--rate", type=float)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--ready-dir", type=Path, required=True)
    parser.add_argument("--subscribers", type=int, default=1)
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    (run_ipc if args.transport == "ipc" else run_mqtt)(args)


if __name__ == "__main__":
    main()
