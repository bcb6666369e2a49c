"""Bad input on the IPC socket: a protocol error for the offender, and everyone else keeps working."""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import socket
import threading
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greengrass_components.ipc.authorization import PUBSUB, Authorizer
from greengrass_components.ipc.codec import Decoder, Header, HeaderType, Message, encode
from greengrass_components.ipc.operations import operation_table
from greengrass_components.ipc.rpc import MessageFlag, MessageType, rpc_message
from greengrass_components.ipc.server import IpcLimits, IpcServer
from greengrass_components.ipc.services import pubsub as pubsub_service

TOKEN = "fuzz-token"


class RunningServer:
    """The real IPC server on its own event loop thread, with the pubsub service."""

    def __init__(self, path: Path, limits: IpcLimits | None = None) -> None:
        self.path = path
        self.loop = asyncio.new_event_loop()
        self.unhandled: list[dict] = []  # what reached the loop's exception handler: must stay empty
        self.loop.set_exception_handler(lambda loop, context: self.unhandled.append(context))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.pubsub = pubsub_service.LocalPubSub()
        policy = {"accessControl": {PUBSUB: {"all": {"operations": ["*"], "resources": ["*"]}}}}
        authorizer = Authorizer(lambda component: policy, "thing")
        self.server = IpcServer(
            path,
            operation_table(pubsub_service.operations(self.pubsub, authorizer)),
            lambda token: "test.Client" if token == TOKEN else None,
            logging.getLogger("edgeway.tests.ipc"),
            limits or IpcLimits(),
        )
        asyncio.run_coroutine_threadsafe(self.server.start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = RunningServer(tmp_path_factory.mktemp("ipc") / "ipc.sock")
    yield running
    running.close()


@pytest.fixture(scope="module")
def sdk_client(server):
    from awsiot.greengrasscoreipc import connect
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    client = GreengrassCoreIPCClientV2(client=connect(ipc_socket=str(server.path), authtoken=TOKEN))
    yield client
    client.close()


def round_trip(client) -> None:
    """A well-behaved client still subscribes, publishes and receives."""
    from awsiot.greengrasscoreipc.model import JsonMessage, PublishMessage

    topic = f"check/{uuid.uuid4().hex}"
    received: queue.Queue = queue.Queue()
    _, operation = client.subscribe_to_topic(topic=topic, on_stream_event=received.put)
    client.publish_to_topic(
        topic=topic, publish_message=PublishMessage(json_message=JsonMessage(message={"ok": 1}))
    )
    event = received.get(timeout=10)
    assert event.json_message.message == {"ok": 1}
    operation.close().result(10)


def exchange(path: Path, data: bytes, timeout: float = 2.0) -> list[Message]:
    """Send raw bytes, close our side, and decode what the server answered."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    try:
        return Decoder().feed(answer)
    except Exception:
        return []


def connect_frame(token: str = TOKEN) -> bytes:
    return encode(
        rpc_message(
            MessageType.CONNECT,
            headers=(Header.string(":version", "0.1.0"),),
            payload=json.dumps({"authToken": token}).encode(),
        )
    )


def kinds(messages: list[Message]) -> list[MessageType]:
    return [MessageType(int(m.header(":message-type").value)) for m in messages]  # type: ignore[union-attr]


def test_a_bad_crc_gets_a_protocol_error(server, sdk_client):
    frame = bytearray(connect_frame())
    frame[-1] ^= 0xFF
    answer = exchange(server.path, bytes(frame))
    assert kinds(answer) == [MessageType.PROTOCOL_ERROR]
    assert json.loads(answer[0].payload)["message"] == "message CRC mismatch"
    round_trip(sdk_client)


def test_an_oversize_message_is_refused_from_its_prelude(server, sdk_client):
    import struct
    import zlib

    prelude = struct.pack(">II", 32 * 1024 * 1024, 0)
    answer = exchange(server.path, connect_frame() + prelude + struct.pack(">I", zlib.crc32(prelude)))
    assert json.loads(answer[1].payload)["message"] == "message of 33554432 bytes exceeds 16777216"
    round_trip(sdk_client)


def test_before_connect_only_a_small_message_is_buffered(server, sdk_client):
    import struct
    import zlib

    prelude = struct.pack(">II", 1024 * 1024, 0)
    answer = exchange(server.path, prelude + struct.pack(">I", zlib.crc32(prelude)))
    assert json.loads(answer[0].payload)["message"] == "message of 1048576 bytes exceeds 65536"
    round_trip(sdk_client)


def connect_with_payload(payload: bytes) -> bytes:
    return encode(
        rpc_message(MessageType.CONNECT, headers=(Header.string(":version", "0.1.0"),), payload=payload)
    )


@pytest.mark.parametrize(
    "payload",
    [
        b'{"authToken": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # nested 5,000 deep
        b'{"authToken": ' + b"7" * 5000 + b"}",  # past Python's digit limit
        json.dumps({"authToken": "jeton-\u00fc\u00df-\ud800"}).encode(),  # not ASCII, a lone surrogate
        b'{"authToken": "' + b"x" * 60000 + b'"}',
        b"\xff\xfe not utf-8",
    ],
    ids=["deep", "huge-int", "non-ascii", "long", "not-utf8"],
)
def test_a_hostile_connect_payload_is_refused_with_an_ack_and_nothing_unhandled(server, sdk_client, payload):
    answer = exchange(server.path, connect_with_payload(payload))
    assert kinds(answer) == [MessageType.CONNECT_ACK]
    assert not int(answer[0].header(":message-flags").value) & MessageFlag.CONNECTION_ACCEPTED  # type: ignore[union-attr]
    assert server.unhandled == []
    round_trip(sdk_client)


def test_a_deeply_nested_request_on_an_authenticated_stream_gets_an_error_shape(server, sdk_client):
    deep = (
        b'{"topic": "t", "publishMessage": {"jsonMessage": {"message": ' + b"[" * 5000 + b"]" * 5000 + b"}}}"
    )
    request = encode(
        rpc_message(
            MessageType.APPLICATION_MESSAGE,
            stream_id=1,
            headers=(Header.string("operation", "aws.greengrass#PublishToTopic"),),
            payload=deep,
        )
    )
    answer = exchange(server.path, connect_frame() + request)
    assert kinds(answer) == [MessageType.CONNECT_ACK, MessageType.APPLICATION_ERROR]
    assert "nested too deeply" in json.loads(answer[1].payload)["message"]
    assert server.unhandled == []
    round_trip(sdk_client)


def test_silent_and_excess_connections_before_connect_are_closed(tmp_path):
    limited = RunningServer(tmp_path / "limited.sock", IpcLimits(connect_seconds=0.5, max_unauthenticated=3))
    try:
        silent = []
        for _ in range(3):
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(str(limited.path))
            silent.append(sock)
        extra = socket.socket(socket.AF_UNIX)
        extra.connect(str(limited.path))
        extra.settimeout(5)
        assert extra.recv(1) == b"", "a fourth connection before CONNECT should be closed at once"
        for sock in silent:  # each gets a protocol error once its half second is up, then EOF
            sock.settimeout(10)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            (message,) = Decoder().feed(answer)
            assert json.loads(message.payload)["message"] == "no CONNECT within 0.5 seconds"
            sock.close()
        extra.close()
        # with the silent ones gone, a client connects again
        assert kinds(exchange(limited.path, connect_frame())) == [MessageType.CONNECT_ACK]
        assert limited.unhandled == []
    finally:
        limited.close()


def test_protocol_misuse_is_answered(server, sdk_client):
    no_connect = encode(rpc_message(MessageType.APPLICATION_MESSAGE, stream_id=1))
    assert json.loads(exchange(server.path, no_connect)[0].payload)["message"] == (
        "expected CONNECT first, got APPLICATION_MESSAGE"
    )
    string_type = encode(Message((Header(":message-type", HeaderType.STRING, "4"),)))
    assert (
        "header :message-type is missing or is not INT32"
        in exchange(server.path, string_type)[0].payload.decode()
    )
    unknown_op = connect_frame() + encode(
        rpc_message(
            MessageType.APPLICATION_MESSAGE,
            stream_id=1,
            headers=(Header.string("operation", "aws.greengrass#Nope"),),
            payload=b"{}",
        )
    )
    answer = exchange(server.path, unknown_op)
    assert kinds(answer) == [MessageType.CONNECT_ACK, MessageType.APPLICATION_ERROR]
    assert int(answer[1].header(":message-flags").value) & MessageFlag.TERMINATE_STREAM  # type: ignore[union-attr]
    assert json.loads(answer[1].payload)["message"] == "aws.greengrass#Nope is an unsupported operation."
    bad_json = connect_frame() + encode(
        rpc_message(
            MessageType.APPLICATION_MESSAGE,
            stream_id=1,
            headers=(Header.string("operation", "aws.greengrass#PublishToTopic"),),
            payload=b"{not json",
        )
    )
    answer = exchange(server.path, bad_json)
    assert answer[1].header("service-model-type").value == "aws.greengrass#ServiceError"  # type: ignore[union-attr]
    assert "request is not valid JSON" in json.loads(answer[1].payload)["message"]
    round_trip(sdk_client)


def _valid_conversation() -> bytes:
    publish = rpc_message(
        MessageType.APPLICATION_MESSAGE,
        stream_id=1,
        headers=(
            Header.string("operation", "aws.greengrass#PublishToTopic"),
            Header.string(":content-type", "application/json"),
        ),
        payload=json.dumps(
            {"topic": "fuzz", "publishMessage": {"jsonMessage": {"message": {"a": 1}}}}
        ).encode(),
    )
    return connect_frame() + encode(publish)


@st.composite
def hostile_bytes(draw):
    base = _valid_conversation()
    kind = draw(st.sampled_from(["random", "flip", "truncate", "splice", "headers"]))
    if kind == "random":
        return draw(st.binary(min_size=1, max_size=2048))
    if kind == "flip":
        data = bytearray(base)
        for _ in range(draw(st.integers(1, 8))):
            at = draw(st.integers(0, len(data) - 1))
            data[at] ^= draw(st.integers(1, 255))
        return bytes(data)
    if kind == "truncate":
        return base[: draw(st.integers(1, len(base) - 1))]
    if kind == "splice":
        at = draw(st.integers(0, len(base)))
        return base[:at] + draw(st.binary(max_size=64)) + base[at:]
    headers = tuple(
        Header(
            draw(st.sampled_from([":message-type", ":message-flags", ":stream-id", "operation", ":version"])),
            HeaderType.INT32,
            draw(st.integers(-(2**31), 2**31 - 1)),
        )
        for _ in range(draw(st.integers(0, 4)))
    )
    return connect_frame() + encode(Message(headers, draw(st.binary(max_size=64))))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=hostile_bytes())
def test_hostile_frames_never_break_the_server(server, sdk_client, data):
    exchange(server.path, data, timeout=1.0)
    round_trip(sdk_client)
    assert server.unhandled == []
