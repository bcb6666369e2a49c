"""The core's local broker as Greengrass's Moquette behaves: a device silent for 1.5 times its keep-alive
(power lost, a half-open connection) is disconnected, one that pings is not; a malformed packet closes
its connection and everyone else is served. The broker component's own class on a loopback port, raw
MQTT 3.1.1 bytes and paho clients from real sockets."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from greengrass_components.components.broker_auth import hash_password
from greengrass_components.components.local_broker import LocalBroker
from tests.fakes.broker import free_port
from tests.mqtt_bytes import MALFORMED_PUBLISHES
from tests.waiting import wait_for

CLIENTS = ("quiet", "chatty", "watcher", "sender", "violator")  # each one's password is pw-<id>


@pytest.fixture(scope="module")
def broker_port() -> Iterator[int]:
    """The local broker component on a loopback port, plain TCP, password clients."""
    port = free_port()
    config = {"Port": port, "Tls": False, "Clients": {c: hash_password(f"pw-{c}") for c in CLIENTS}}
    broker = LocalBroker(None, config, logging.getLogger("edgeway.tests.local_broker"))  # type: ignore[arg-type]
    stop = threading.Event()
    runner = threading.Thread(target=broker.run, args=(stop,), daemon=True)
    runner.start()
    try:
        wait_for(lambda: _listening(port), 20, "the local broker to listen")
        yield port
    finally:
        stop.set()
        runner.join(20)


def connect_packet(client_id: str, password: str, keep_alive: int) -> bytes:
    def field(text: str) -> bytes:
        return len(text.encode()).to_bytes(2, "big") + text.encode()

    # MQTT 3.1.1, user name + password + clean session, then the keep-alive in seconds
    body = field("MQTT") + b"\x04\xc2" + keep_alive.to_bytes(2, "big")
    body += field(client_id) + field(client_id) + field(password)
    return b"\x10" + bytes([len(body)]) + body


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the other end has closed it, without waiting (a socket with a timeout would wait)."""
    timeout = sock.gettimeout()
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionError:  # reset: closed with bytes it had not read
        return True
    finally:
        sock.settimeout(timeout)


def test_a_device_silent_for_one_and_a_half_keep_alives_is_disconnected_and_one_that_pings_is_not(
    broker_port: int,
) -> None:
    quiet, chatty = (
        socket.create_connection(("127.0.0.1", broker_port)),
        socket.create_connection(("127.0.0.1", broker_port)),
    )
    for sock, client_id in ((quiet, "quiet"), (chatty, "chatty")):
        sock.sendall(connect_packet(client_id, f"pw-{client_id}", keep_alive=1))
        sock.settimeout(10)
        assert sock.recv(4) == b"\x20\x02\x00\x00"  # CONNACK, accepted
    chatty.settimeout(0.3)
    started = time.monotonic()
    deadline = started + 20
    while not closed_by_peer(quiet) and time.monotonic() < deadline:
        chatty.sendall(b"\xc0\x00")  # PINGREQ, well inside its keep-alive
        with contextlib.suppress(TimeoutError):
            assert chatty.recv(2) == b"\xd0\x00"  # PINGRESP
    assert closed_by_peer(quiet), "the silent device was never disconnected"
    assert time.monotonic() - started >= 1.5  # not before 1.5 keep-alives
    chatty.settimeout(10)
    chatty.sendall(b"\xc0\x00")
    assert chatty.recv(2) == b"\xd0\x00"  # the one that pinged is still served
    quiet.close()
    chatty.close()


class Device:
    """A paho client of the local broker, as a device connects with a password."""

    def __init__(self, port: int, client_id: str) -> None:
        self.messages: list[tuple[str, bytes]] = []
        self.subscribed = threading.Event()
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.paho.username_pw_set(client_id, f"pw-{client_id}")
        self.paho.on_message = lambda _c, _u, m: self.messages.append((m.topic, m.payload))
        self.paho.on_subscribe = lambda *_: self.subscribed.set()
        self.paho.connect("127.0.0.1", port)
        self.paho.loop_start()

    def stop(self) -> None:
        self.paho.loop_stop()
        self.paho.disconnect()


@pytest.mark.parametrize("what", sorted(MALFORMED_PUBLISHES))
def test_a_malformed_publish_closes_its_connection_and_everyone_else_is_served(
    broker_port: int, what: str
) -> None:
    """MQTT 3.1.1 section 4.8, as Moquette's decoder closes the channel (amqtt dropped such a packet
    and read on, and turned a topic that is not UTF-8 into the text of its bytes)."""
    watcher = Device(broker_port, "watcher")
    watcher.paho.subscribe("room/#")
    assert watcher.subscribed.wait(10), "no SUBACK"
    violator = socket.create_connection(("127.0.0.1", broker_port))
    violator.sendall(connect_packet("violator", "pw-violator", keep_alive=60))
    violator.settimeout(10)
    assert violator.recv(4) == b"\x20\x02\x00\x00"
    violator.sendall(MALFORMED_PUBLISHES[what])
    violator.settimeout(None)
    wait_for(lambda: closed_by_peer(violator), 10, f"{what}: the connection to be closed")
    violator.close()
    sender = Device(broker_port, "sender")
    wait_for(sender.paho.is_connected, 10, "the sender to connect")
    sender.paho.publish("room/ok", b"after", qos=1).wait_for_publish(10)
    wait_for(lambda: ("room/ok", b"after") in watcher.messages, 10, "the message after the violation")
    assert watcher.messages == [("room/ok", b"after")]
    for device in (watcher, sender):
        device.stop()


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False
