"""The chat path through the cloud stand-in, beside the same broker's raw fan-out and Mosquitto's.

`edgeway cloud run` in its own process with the project's template, plus one policy statement that
lets signed-in users publish and subscribe to `bench/raw` (the baseline needs a topic a client may
publish to directly; the policy is enforced on it like on every other topic), and a Mosquitto broker
(`mosquitto`, Debian's) on another loopback port. Three paths, each to `--clients` receivers:

  mosquitto  publish to bench/raw -> Mosquitto -> receivers
  raw        publish to bench/raw -> the stand-in's broker -> receivers
  chat       publish to chat/out  -> rules (SQL, store in SQLite, republish to chat/pub/lobby, chat
             handler) -> the stand-in's broker -> receivers

The receivers are one child process (`bench/receivers.py`: every connection in one `selectors`
loop that only stamps and keeps what it reads, so they cost less CPU than the broker they measure).
The sender is one paho client in this process. Each path runs paced (`--rate` messages/s for
`--paced-seconds`) and flat out (`--burst` messages at QoS 0 as fast as the sender can), `--repeat`
times. For every run: latency send-to-arrival over every delivery (p50, p99, max), messages/s
delivered to all receivers, and CPU time per message of each process (the broker, the receivers
together, the sender) from /proc and getrusage, and of the broker's main thread (the stand-in's event
loop, without its SQLite writer and Lambda pool). Repeated figures are given as min/median/max.

    python bench/chat_path.py [--clients 50] [--rate 200] [--paced-seconds 30] [--burst 20000] [--repeat 3]

The flat-out burst is 20,000 messages (one to two seconds here): a burst of 2,000 lasted 0.1 to 0.2 s,
so each process's CPU time, counted in 10 ms ticks, came in steps of 5 µs a message, the start of the
burst (threads waking, the first writes) weighed as much as the rest, and the same code measured chat
to raw 0.66 and 0.73 in two runs back to back.

Goals (issue 18): chat at 200 messages/s, p99 at most 10 ms, and the stand-in's CPU per chat message
at most 2x Mosquitto's per raw message; chat flat out at least 70% of the raw path's throughput.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.measure import cpu_seconds, percentile, spread, thread_cpu_seconds  # noqa: E402
from bench.stand_in import running_stand_in  # noqa: E402
from tests.fakes.broker import free_port  # noqa: E402

RAW_STATEMENT = """          - Effect: Allow
            Action: [iot:Publish, iot:RetainPublish, iot:Subscribe, iot:Receive]
            Resource:
              - !Sub "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topic/bench/*"
              - !Sub "arn:${AWS::Partition}:iot:${AWS::Region}:${AWS::AccountId}:topicfilter/bench/*"
"""
PATHS = {  # path -> (broker, topic published to, topic received on)
    "mosquitto": ("mosquitto", "bench/raw", "bench/raw"),
    "raw": ("stand_in", "bench/raw", "bench/raw"),
    "chat": ("stand_in", "chat/out", "chat/pub/lobby"),
}


def bench_template(folder: Path) -> Path:
    text = (ROOT / "cloud_backend" / "template.yaml").read_text()
    anchor = "  DevicePolicy:\n"
    assert anchor in text
    user_policy_end = text.index(anchor)
    text = text[:user_policy_end].rstrip("\n") + "\n" + RAW_STATEMENT + "\n" + text[user_policy_end:]
    path = folder / "template.yaml"
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Broker:
    pid: int
    port: int
    credentials: list[tuple[str, str | None]]  # (client id, password) per receiver, then the sender's


@contextlib.contextmanager
def running_mosquitto(folder: Path, clients: int) -> Iterator[Broker]:
    port = free_port()
    config = folder / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n")
    with (folder / "mosquitto.log").open("wb") as log:  # a pipe nobody reads would fill and stall it
        process = subprocess.Popen(["mosquitto", "-c", str(config)], stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("mosquitto did not start")
            time.sleep(0.05)
        yield Broker(process.pid, port, [(f"m{n}", None) for n in range(clients + 1)])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


def stand_in_sessions(http_port: int, clients: int) -> list[tuple[str, str | None]]:
    credentials: list[tuple[str, str | None]] = []
    for n in range(clients + 1):
        nick = f"r{n}" if n < clients else "sender"
        body = requests.post(
            f"http://127.0.0.1:{http_port}/api/session", json={"nick": nick}, timeout=10
        ).json()
        credentials.append((body["clientId"], body["token"]))
    return credentials


class Receivers:
    """Every receiver in one child process (`bench/receivers.py`): connected and subscribed first."""

    def __init__(self, folder: Path, broker: Broker, topic: str, count: int) -> None:
        credentials = folder / "receivers.json"
        credentials.write_text(json.dumps(broker.credentials[:-1]))
        command = [sys.executable, str(ROOT / "bench" / "receivers.py"), "--port", str(broker.port),
                   "--topic", topic, "--count", str(count), "--credentials", str(credentials),
                   "--seconds", str(60 + count / 50)]  # fmt: skip
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout

    def wait_subscribed(self) -> None:
        line = self.stdout.readline()
        if not line or not json.loads(line).get("ready"):
            raise SystemExit(f"the receivers did not subscribe: {line!r}")

    def go(self) -> None:
        self.stdin.write("go\n")
        self.stdin.flush()

    def report(self) -> dict[str, Any]:
        """The receivers' CPU seconds in the window and (arrival ns, sent ns) of every message."""
        line = self.stdout.readline()
        self.process.wait(60)
        if not line:
            raise SystemExit("the receivers ended without a report")
        report = json.loads(line)
        arrivals = [
            (arrived, int(message_id.split(":")[1]))
            for receiver in report["receivers"]
            for arrived, message_id in receiver["arrivals"]
        ]
        return {"cpu_s": report["cpu_s"], "arrivals": arrivals}


def connect_sender(broker: Broker) -> mqtt.Client:
    client_id, password = broker.credentials[-1]
    sender = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    if password is not None:
        sender.username_pw_set(client_id, password)
    connected = sender.connect("127.0.0.1", broker.port)
    if connected != 0:
        raise SystemExit(f"the sender could not connect: {connected}")
    sender.loop_start()
    return sender


def run_phase(folder: Path, broker: Broker, path: str, total: int, rate: float | None) -> dict[str, Any]:
    _, topic_out, topic_in = PATHS[path]
    clients = len(broker.credentials) - 1
    receivers = Receivers(folder, broker, topic_in, total)
    receivers.wait_subscribed()
    sender = connect_sender(broker)
    self_before = resource.getrusage(resource.RUSAGE_SELF)
    broker_before = cpu_seconds(broker.pid)
    threads_before = thread_cpu_seconds(broker.pid)
    receivers.go()
    started_ns = time.time_ns()
    started = time.perf_counter()
    for n in range(total):
        if rate:
            target = started + n / rate
            while time.perf_counter() < target:
                time.sleep(max(0.0, min(0.002, target - time.perf_counter())))
        body = {
            "type": "message",
            "room": "lobby",
            "text": f"bench {n}",
            "user": "bench",
            "id": f"{n}:{time.time_ns()}",
        }
        sender.publish(topic_out, json.dumps(body), qos=0)
    received = receivers.report()
    broker_used = cpu_seconds(broker.pid) - broker_before
    threads_after = thread_cpu_seconds(broker.pid)
    loop_used = threads_after.get(broker.pid, 0.0) - threads_before.get(broker.pid, 0.0)
    self_after = resource.getrusage(resource.RUSAGE_SELF)
    sender.loop_stop()
    sender.disconnect()
    arrivals = received["arrivals"]
    latencies = [(arrived - sent) / 1e6 for arrived, sent in arrivals]
    last = max((arrived for arrived, _ in arrivals), default=started_ns)
    elapsed = max(1e-9, (last - started_ns) / 1e9)
    per_message = 1e6 / max(1, total)
    sender_cpu = (self_after.ru_utime + self_after.ru_stime) - (self_before.ru_utime + self_before.ru_stime)
    return {
        "messages": total,
        "deliveries": len(arrivals),
        "lost": total * clients - len(arrivals),
        "seconds": round(elapsed, 3),
        "messages_per_s": round(len(arrivals) / clients / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "max_ms": round(max(latencies, default=float("nan")), 3),
        "cpu_us_per_message": {
            "broker": round(broker_used * per_message, 1),
            # the broker's main thread (its event loop); the rest is its other threads (the stand-in's
            # SQLite writer and Lambda pool) and threads that ended during the run
            "broker_main_thread": round(loop_used * per_message, 1),
            "receivers": round(received["cpu_s"] * per_message, 1),
            "sender_and_bench": round(sender_cpu * per_message, 1),
        },
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": runs,
        "messages_per_s": spread([r["messages_per_s"] for r in runs], 1),
        "p50_ms": spread([r["p50_ms"] for r in runs]),
        "p99_ms": spread([r["p99_ms"] for r in runs]),
        "broker_cpu_us_per_message": spread([r["cpu_us_per_message"]["broker"] for r in runs], 1),
        "broker_main_thread_cpu_us_per_message": spread(
            [r["cpu_us_per_message"]["broker_main_thread"] for r in runs], 1
        ),
        "lost": sum(r["lost"] for r in runs),
    }


def goals(results: dict[str, Any]) -> dict[str, Any]:
    """The ratios and goals the paths that ran allow (None where a path they need did not run)."""

    def median(path: str, phase: str, figure: str) -> float | None:
        return results[path][phase][figure]["median"] if path in results else None

    chat_cpu = median("chat", "paced", "broker_cpu_us_per_message")
    mosquitto_cpu = median("mosquitto", "paced", "broker_cpu_us_per_message")
    chat_rate = median("chat", "flat_out", "messages_per_s")
    raw_rate = median("raw", "flat_out", "messages_per_s")
    chat_p99 = median("chat", "paced", "p99_ms")
    cpu_ratio = chat_cpu / mosquitto_cpu if chat_cpu is not None and mosquitto_cpu else None
    rate_ratio = chat_rate / raw_rate if chat_rate is not None and raw_rate else None
    return {
        "chat_cpu_to_mosquitto_raw_cpu": None if cpu_ratio is None else round(cpu_ratio, 2),
        "chat_to_raw_flat_out_throughput": None if rate_ratio is None else round(rate_ratio, 3),
        "goals": {
            "chat_p99_at_rate_within_10ms": None if chat_p99 is None else chat_p99 <= 10.0,
            "chat_cpu_at_most_2x_mosquitto_raw": None if cpu_ratio is None else cpu_ratio <= 2.0,
            "chat_flat_out_at_least_70pct_of_raw": None if rate_ratio is None else rate_ratio >= 0.7,
            "none_lost": all(
                r[phase]["lost"] == 0 for r in results.values() for phase in ("paced", "flat_out")
            ),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--paced-seconds", type=float, default=30.0)
    parser.add_argument("--burst", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--paths", default=",".join(PATHS), help="which of mosquitto,raw,chat to run")
    args = parser.parse_args()
    paths = [path for path in args.paths.split(",") if path]
    if not paths or any(path not in PATHS for path in paths):
        raise SystemExit(f"--paths: choose from {', '.join(PATHS)}")
    if shutil.which("mosquitto") is None:
        raise SystemExit("mosquitto is not installed (Debian: mosquitto)")

    paced_total = int(args.rate * args.paced_seconds)
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        with (
            running_stand_in(folder, bench_template(folder), start_seconds=60) as stand_in,
            running_mosquitto(folder, args.clients) as mosquitto,
        ):
            brokers = {
                "mosquitto": mosquitto,
                "stand_in": Broker(
                    stand_in.process.pid,
                    stand_in.mqtt_port,
                    stand_in_sessions(stand_in.http_port, args.clients),
                ),
            }
            for path in paths:  # warm-up: first connections, the rules' first run, SQLite's first pages
                run_phase(folder, brokers[PATHS[path][0]], path, 50, None)
            paced: dict[str, list[dict[str, Any]]] = {path: [] for path in paths}
            flat: dict[str, list[dict[str, Any]]] = {path: [] for path in paths}
            for _ in range(args.repeat):
                for path in paths:  # side by side: each repeat runs every path once
                    broker = brokers[PATHS[path][0]]
                    paced[path].append(run_phase(folder, broker, path, paced_total, args.rate))
                    flat[path].append(run_phase(folder, broker, path, args.burst, None))

    results = {path: {"paced": summarize(paced[path]), "flat_out": summarize(flat[path])} for path in paths}
    report = {
        "benchmark": "chat_path",
        "machine": machine(),
        "clients": args.clients,
        "paced_rate_per_s": args.rate,
        "paced_seconds": args.paced_seconds,
        "burst": args.burst,
        "repeat": args.repeat,
        **results,
        **goals(results),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
