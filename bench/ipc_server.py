"""The IPC server alone: how many PublishToTopic calls per second it serves and delivers.

The real `IpcServer` with the real pubsub service and authorization runs in its own process (no core,
no components), and the clients in theirs. Two kinds of client, side by side in one run:

- **raw**: a pipelined client that is not the SDK: it frames event-stream messages itself (the
  project's codec), keeps up to `--window` publishes in flight on new streams, and counts the
  responses; a second raw client subscribed to the topic counts the events. This measures the
  server, not a client library.
- **sdk**: `awsiotsdk`'s `GreengrassCoreIPCClientV2` on both ends (`publish_to_topic_async` with the
  same window; `subscribe_to_topic`), first against the real server and then against a server that
  only answers (PublishToTopic returns its empty response and delivers nothing): the ceiling the
  SDK's own CPU allows on this machine.

For each: messages/s (first send to the last event received, or for the answering server to the last
response), and CPU time per message of the server and of each client (from /proc). Repeated runs as
min/median/max. Prints JSON.

    python bench/ipc_server.py [--messages 50000] [--sdk-messages 20000] [--window 1000] [--repeat 3]

Goals (issue 18): raw at least 15,000 messages/s; sdk against the real server at least 90% of sdk
against the answering server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from bench.measure import cpu_seconds, spread  # noqa: E402
from greengrass_components.ipc.codec import Decoder, Header, encode  # noqa: E402
from greengrass_components.ipc.rpc import MessageType, rpc_message  # noqa: E402

TOPIC = "bench/ipc"
TOKENS = {"publisher-token": "bench.Publisher", "subscriber-token": "bench.Subscriber"}
PUBLISH = "aws.greengrass#PublishToTopic"
SUBSCRIBE = "aws.greengrass#SubscribeToTopic"
BODY = {"seq": 0, "pad": "x" * 180}  # about 200 bytes of JSON, as bench/ipc_pubsub.py sends


# -- the server process --------------------------------------------------------------------------


def serve(socket_path: Path, mode: str) -> None:
    from greengrass_components.ipc.authorization import PUBSUB, Authorizer
    from greengrass_components.ipc.operations import operation_table
    from greengrass_components.ipc.server import CallContext, IpcServer, Operation
    from greengrass_components.ipc.services import pubsub as pubsub_service

    policy = {"accessControl": {PUBSUB: {"bench": {"operations": ["*"], "resources": ["*"]}}}}
    authorizer = Authorizer(lambda component: policy, "bench-thing")
    if mode == "pubsub":
        operations = pubsub_service.operations(pubsub_service.LocalPubSub(), authorizer)
    else:

        def answer(ctx: CallContext, request: dict[str, Any]) -> dict[str, Any]:
            return {}

        operations = [
            Operation(PUBLISH, answer),
            Operation(SUBSCRIBE, answer, event_shape="aws.greengrass#SubscriptionResponseMessage"),
        ]

    async def run() -> None:
        server = IpcServer(
            socket_path, operation_table(operations), TOKENS.get, logging.getLogger("edgeway.bench.ipc")
        )
        await server.start()
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # until told to stop
        await server.close()

    asyncio.run(run())


# -- the raw clients -----------------------------------------------------------------------------


def _connect(socket_path: Path, token: str) -> tuple[socket.socket, Decoder]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(socket_path))
    connect = rpc_message(
        MessageType.CONNECT,
        headers=(Header.string(":version", "0.1.0"),),
        payload=json.dumps({"authToken": token}).encode(),
    )
    sock.sendall(encode(connect))
    decoder = Decoder()
    while True:
        for message in decoder.feed(sock.recv(65536)):
            if message.header(":message-type").value != MessageType.CONNECT_ACK:  # type: ignore[union-attr]
                raise SystemExit(f"expected CONNECT_ACK, got {message}")
            return sock, decoder


def _request(stream_id: int, operation: str, body: dict[str, Any]) -> bytes:
    return encode(
        rpc_message(
            MessageType.APPLICATION_MESSAGE,
            stream_id=stream_id,
            headers=(
                Header.string("operation", operation),
                Header.string(":content-type", "application/json"),
                Header.string("service-model-type", f"{operation}Request"),
            ),
            payload=json.dumps(body, separators=(",", ":")).encode(),
        )
    )


def raw_subscriber(socket_path: Path, count: int, seconds: float) -> None:
    sock, decoder = _connect(socket_path, "subscriber-token")
    sock.sendall(_request(1, SUBSCRIBE, {"topic": TOPIC}))
    for message in decoder.feed(sock.recv(65536)):
        if message.header(":message-type").value != MessageType.APPLICATION_MESSAGE:  # type: ignore[union-attr]
            raise SystemExit(f"the subscription was refused: {message}")
    print(json.dumps({"ready": True}), flush=True)
    received, last = 0, 0
    sock.settimeout(seconds)
    cpu = time.process_time()
    try:
        while received < count:
            data = sock.recv(1 << 18)
            if not data:
                break
            received += len(decoder.feed(data))
            last = time.monotonic_ns()
    except TimeoutError:
        pass
    print(json.dumps({"received": received, "last": last, "cpu_s": time.process_time() - cpu}), flush=True)


def raw_publisher(socket_path: Path, count: int, window: int) -> None:
    sock, decoder = _connect(socket_path, "publisher-token")
    payload = {"topic": TOPIC, "publishMessage": {"jsonMessage": {"message": BODY}}}
    requests = [_request(2 * n + 1, PUBLISH, payload) for n in range(count)]  # framed before the clock
    cpu = time.process_time()
    started = time.monotonic_ns()
    sent = answered = 0
    while answered < count:
        burst = min(count - sent, window - (sent - answered))
        if burst > 0:
            sock.sendall(b"".join(requests[sent : sent + burst]))
            sent += burst
        data = sock.recv(1 << 18)
        if not data:
            break
        answered += len(decoder.feed(data))
    print(
        json.dumps(
            {
                "started": started,
                "answered": answered,
                "last": time.monotonic_ns(),
                "cpu_s": time.process_time() - cpu,
            }
        ),
        flush=True,
    )


# -- the SDK clients -----------------------------------------------------------------------------


def _sdk_client(socket_path: Path, token: str) -> Any:
    os.environ["AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT"] = str(socket_path)
    os.environ["SVCUID"] = token
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    return GreengrassCoreIPCClientV2()


def sdk_subscriber(socket_path: Path, count: int, seconds: float) -> None:
    import threading

    client = _sdk_client(socket_path, "subscriber-token")
    state = {"received": 0, "last": 0}
    done = threading.Event()

    def on_event(event: Any) -> None:
        state["received"] += 1
        state["last"] = time.monotonic_ns()
        if state["received"] >= count:
            done.set()

    client.subscribe_to_topic(topic=TOPIC, on_stream_event=on_event)
    print(json.dumps({"ready": True}), flush=True)
    cpu = time.process_time()
    done.wait(seconds)
    print(json.dumps({**state, "cpu_s": time.process_time() - cpu}), flush=True)
    client.close()


def sdk_publisher(socket_path: Path, count: int, window: int) -> None:
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

    client = _sdk_client(socket_path, "publisher-token")
    message = PublishMessage(json_message=JsonMessage(message=BODY))
    cpu = time.process_time()
    started = time.monotonic_ns()
    pending: list[Any] = []
    answered = 0
    for _ in range(count):
        pending.append(client.publish_to_topic_async(topic=TOPIC, publish_message=message))
        if len(pending) >= window:
            pending.pop(0).result(60)
            answered += 1
    for future in pending:
        future.result(60)
        answered += 1
    last = time.monotonic_ns()
    print(
        json.dumps(
            {"started": started, "answered": answered, "last": last, "cpu_s": time.process_time() - cpu}
        ),
        flush=True,
    )
    client.close()


# -- the run -------------------------------------------------------------------------------------


def _child(role: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, __file__, "--role", role, *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _line(process: subprocess.Popen[str], what: str) -> dict[str, Any]:
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line:
        raise SystemExit(f"the {what} ended without a word (exit {process.wait(10)})")
    result: dict[str, Any] = json.loads(line)
    return result


def scenario(folder: Path, client: str, mode: str, count: int, window: int) -> dict[str, Any]:
    """One run: a server (`mode`), a subscriber (unless the server only answers) and a publisher."""
    path = folder / f"ipc-{client}-{mode}.sock"
    server = _child("server", "--socket", str(path), "--mode", mode)
    _line(server, "server")
    subscriber = None
    if mode == "pubsub":
        subscriber = _child(f"{client}-sub", "--socket", str(path), "--count", str(count))
        _line(subscriber, "subscriber")
    server_cpu = cpu_seconds(server.pid)
    publisher = _child(f"{client}-pub", "--socket", str(path), "--count", str(count), "--window", str(window))
    published = _line(publisher, "publisher")
    received = _line(subscriber, "subscriber") if subscriber is not None else None
    server_cpu = cpu_seconds(server.pid) - server_cpu
    assert server.stdin is not None
    server.stdin.write("stop\n")
    server.stdin.flush()
    for process in (server, publisher, subscriber):
        if process is not None:
            process.wait(30)
    last = received["last"] if received is not None else published["last"]
    seconds = max(1e-9, (last - published["started"]) / 1e9)
    done = received["received"] if received is not None else published["answered"]
    per_message = 1e6 / count
    return {
        "messages": count,
        "answered": published["answered"],
        "delivered": None if received is None else received["received"],
        "seconds": round(seconds, 3),
        "messages_per_s": round(done / seconds, 1),
        "cpu_us_per_message": {
            "server": round(server_cpu * per_message, 1),
            "publisher": round(published["cpu_s"] * per_message, 1),
            "subscriber": None if received is None else round(received["cpu_s"] * per_message, 1),
        },
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "runs": runs,
        "messages_per_s": spread([r["messages_per_s"] for r in runs], 1),
        "server_cpu_us_per_message": spread([r["cpu_us_per_message"]["server"] for r in runs], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", default="bench")
    parser.add_argument("--socket", type=Path)
    parser.add_argument("--mode", choices=["pubsub", "answer"], default="pubsub")
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--sdk-messages", type=int, default=20_000)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=300.0)
    args = parser.parse_args()
    roles = {
        "server": lambda: serve(args.socket, args.mode),
        "raw-sub": lambda: raw_subscriber(args.socket, args.count, args.seconds),
        "raw-pub": lambda: raw_publisher(args.socket, args.count, args.window),
        "sdk-sub": lambda: sdk_subscriber(args.socket, args.count, args.seconds),
        "sdk-pub": lambda: sdk_publisher(args.socket, args.count, args.window),
    }
    if args.role in roles:
        roles[args.role]()
        return
    runs: dict[str, list[dict[str, Any]]] = {"raw": [], "sdk": [], "sdk_answer_only": []}
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        scenario(folder, "raw", "pubsub", 2000, args.window)  # warm-up: imports, page cache
        for _ in range(args.repeat):  # side by side: each repeat runs every scenario once
            runs["raw"].append(scenario(folder, "raw", "pubsub", args.messages, args.window))
            runs["sdk"].append(scenario(folder, "sdk", "pubsub", args.sdk_messages, args.window))
            runs["sdk_answer_only"].append(scenario(folder, "sdk", "answer", args.sdk_messages, args.window))
    results = {name: summary(found) for name, found in runs.items()}
    raw_rate = results["raw"]["messages_per_s"]["median"]
    sdk_ratio = (
        results["sdk"]["messages_per_s"]["median"] / results["sdk_answer_only"]["messages_per_s"]["median"]
    )
    report = {
        "benchmark": "ipc_server",
        "machine": machine(),
        "window": args.window,
        "repeat": args.repeat,
        **results,
        "sdk_to_answer_only": round(sdk_ratio, 3),
        "goals": {
            "raw_at_least_15000_per_s": raw_rate >= 15_000,
            "sdk_at_least_90pct_of_answer_only": sdk_ratio >= 0.9,
            "none_lost": all(
                r["delivered"] in (None, r["messages"]) for found in runs.values() for r in found
            ),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
