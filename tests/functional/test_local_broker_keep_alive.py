"""The core's local broker keeps a client's keep-alive as Greengrass's Moquette does: a device silent for
1.5 times its keep-alive (power lost, a half-open connection) is disconnected; one that pings is not.
The broker component's own class on a loopback port, raw MQTT 3.1.1 bytes from real sockets."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time

from greengrass_components.components.broker_auth import hash_password
from greengrass_components.components.local_broker import LocalBroker
from tests.fakes.broker import free_port
from tests.waiting import wait_for


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
    finally:
        sock.settimeout(timeout)


def test_a_device_silent_for_one_and_a_half_keep_alives_is_disconnected_and_one_that_pings_is_not():
    port = free_port()
    config = {
        "Port": port,
        "Tls": False,
        "Clients": {"quiet": hash_password("pw-q"), "chatty": hash_password("pw-c")},
    }
    broker = LocalBroker(None, config, logging.getLogger("edgeway.tests.local_broker"))  # type: ignore[arg-type]
    stop = threading.Event()
    runner = threading.Thread(target=broker.run, args=(stop,), daemon=True)
    runner.start()
    try:
        wait_for(lambda: _listening(port), 20, "the local broker to listen")
        quiet, chatty = (
            socket.create_connection(("127.0.0.1", port)),
            socket.create_connection(("127.0.0.1", port)),
        )
        for sock, client_id, password in ((quiet, "quiet", "pw-q"), (chatty, "chatty", "pw-c")):
            sock.sendall(connect_packet(client_id, password, keep_alive=1))
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
    finally:
        stop.set()
        runner.join(20)


def _listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False
