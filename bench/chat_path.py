"""The chat path through the cloud stand-in, against the same broker's raw publish-to-subscribe.

`edgeway cloud run` in its own process with the project's template, plus one policy statement that
lets signed-in users publish and subscribe to `bench/raw` (the baseline needs a topic a client may
publish to directly; the policy is enforced on it like on every other topic). 50 users subscribe to
room `lobby`; one of them sends.

  raw    publish to bench/raw -> broker -> 50 subscribers
  chat   publish to chat/out  -> rules (SQL, store in SQLite, republish to chat/pub/lobby, chat handler)
         -> broker -> 50 subscribers

Each is run paced (200 messages/s for --paced-seconds) and flat out (--burst messages at QoS 0 as fast as
the sender can). Latency is send-to-receive for every delivery (p50, p99); throughput is messages/s
delivered to all 50. Prints JSON.

    python bench/chat_path.py [--clients 50] [--paced-seconds 5] [--burst 400]

Goal: chat throughput at least half the raw throughput; chat p99 at most 10 ms at 200 messages/s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import machine
from bench.stand_in import running_stand_in

ROOT = Path(__file__).resolve().parents[1]
RAW_STATEMENT = """          - Effect: Allow
            Action: [iot:Publish, iot:Subscribe, iot:Receive]
            Resource:
              - !Sub "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/bench/raw"
              - !Sub "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topicfilter/bench/raw"
"""


def bench_template(folder: Path) -> Path:
    text = (ROOT / "cloud_backend" / "template.yaml").read_text()
    anchor = "  DevicePolicy:\n"
    assert anchor in text
    user_policy_end = text.index(anchor)
    text = text[:user_policy_end].rstrip("\n") + "\n" + RAW_STATEMENT + "\n" + text[user_policy_end:]
    path = folder / "template.yaml"
    path.write_text(text)
    return path


class Receiver:
    def __init__(self, client_id: str, token: str, port: int, topics: list[str]) -> None:
        self.latencies: list[float] = []
        self.count = 0
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set("bench", token)
        self.client.on_message = self.on_message
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *args: self.subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.client.subscribe([(t, 0) for t in topics])

    def on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        now = time.perf_counter_ns()
        try:
            sent = int(json.loads(message.payload)["id"].split(":")[1])
        except (ValueError, KeyError, IndexError):
            return
        with self.lock:
            self.latencies.append((now - sent) / 1e6)
            self.count += 1

    def reset(self) -> None:
        with self.lock:
            self.latencies, self.count = [], 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3) if ordered else float("nan")


def run_phase(
    sender: mqtt.Client, receivers: list[Receiver], topic: str, total: int, rate: float | None
) -> dict:
    for receiver in receivers:
        receiver.reset()
    started = time.perf_counter()
    deadline = started + 120
    for n in range(total):
        if rate:
            target = started + n / rate
            while time.perf_counter() < target:
                time.sleep(max(0.0, min(0.002, target - time.perf_counter())))
        stamp = f"{n}:{time.perf_counter_ns()}"
        body = {"type": "message", "room": "lobby", "text": f"bench {n}", "id": stamp, "user": "bench"}
        sender.publish(topic, json.dumps(body), qos=0)
    expected = total * len(receivers)
    while sum(r.count for r in receivers) < expected and time.perf_counter() < deadline:
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    latencies = [value for r in receivers for value in r.latencies]
    delivered = sum(r.count for r in receivers)
    return {
        "messages": total,
        "deliveries": delivered,
        "lost": expected - delivered,
        "seconds": round(elapsed, 3),
        "messages_per_s": round(delivered / len(receivers) / elapsed, 1),
        "deliveries_per_s": round(delivered / elapsed, 1),
        "p50_ms": percentile(latencies, 0.50),
        "p99_ms": percentile(latencies, 0.99),
        "mean_ms": round(statistics.fmean(latencies), 3) if latencies else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--paced-seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--burst", type=int, default=400)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        with running_stand_in(folder, bench_template(folder), start_seconds=30) as stand_in:
            mqtt_port, http_port = stand_in.mqtt_port, stand_in.http_port

            def session(nick: str) -> dict:
                return requests.post(
                    f"http://127.0.0.1:{http_port}/api/session", json={"nick": nick}, timeout=5
                ).json()

            receivers = []
            for n in range(args.clients):
                s = session(f"r{n}")
                receivers.append(
                    Receiver(s["clientId"], s["token"], mqtt_port, ["chat/pub/lobby", "bench/raw"])
                )
            for receiver in receivers:
                if not receiver.subscribed.wait(15):
                    raise SystemExit("a receiver's SUBACK never came")
            s = session("sender")
            sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=s["clientId"])
            sender.username_pw_set("bench", s["token"])
            sender.connect("127.0.0.1", mqtt_port)
            sender.loop_start()

            paced_total = int(args.rate * args.paced_seconds)
            run_phase(sender, receivers, "bench/raw", 50, None)  # warm-up
            run_phase(sender, receivers, "chat/out", 50, None)
            results: dict[str, Any] = {}
            for path, topic in (("raw", "bench/raw"), ("chat", "chat/out")):
                results[path] = {
                    "paced": run_phase(sender, receivers, topic, paced_total, args.rate),
                    "flat_out": run_phase(sender, receivers, topic, args.burst, None),
                }
            ratio = (
                results["chat"]["flat_out"]["messages_per_s"] / results["raw"]["flat_out"]["messages_per_s"]
            )
            report = {
                "benchmark": "chat_path",
                "machine": machine(),
                "clients": args.clients,
                "paced_rate_per_s": args.rate,
                **results,
                "chat_to_raw_throughput": round(ratio, 3),
                "goals": {
                    "throughput_at_least_half_raw": ratio >= 0.5,
                    "chat_p99_at_200_per_s_within_10ms": results["chat"]["paced"]["p99_ms"] <= 10.0,
                },
            }
            print(json.dumps(report, indent=2))
            sender.loop_stop()
            for receiver in receivers:
                receiver.client.loop_stop()
        if os.environ.get("EDGEWAY_BENCH_KEEP_LOG"):  # the stand-in's log tail, when a run looks wrong
            print((folder / "cloud.log").read_text()[-3000:], file=sys.stderr)


if __name__ == "__main__":
    main()
