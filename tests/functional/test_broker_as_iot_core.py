"""The stand-in's broker behaves as IoT Core and MQTT 3.1.1 do where clients meet it: authentication
before anything changes for an existing connection, one connection per client id, persistent sessions
that keep QoS 1 messages, authorizations that lapse, bounded memory for a client that stops reading,
the lower of the two QoS, and protocol violations closed. Real paho clients on loopback, the real
broker and gate in this process (`tests.fakes.iot_broker`)."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.fakes.iot_broker import InProcessBroker
from tests.mqtt_bytes import MALFORMED_PUBLISHES, remaining_length
from tests.waiting import wait_for

NOT_AUTHORIZED = 135  # paho's reason code for CONNACK return code 5


@pytest.fixture
def broker(tmp_path):
    running = InProcessBroker(tmp_path)
    yield running
    running.close()


class Client:
    def __init__(self, broker: InProcessBroker, client_id: str, password: str = "good", clean: bool = True):
        self.client_id = client_id
        self.messages: list[tuple[str, bytes, int]] = []
        self.connack: int | None = None
        self.disconnects = 0
        self._lock = threading.Lock()
        self.paho = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean)
        self.paho.username_pw_set("u", password)
        self.paho.on_connect = self._connected
        self.paho.on_disconnect = self._disconnected
        self.paho.on_message = self._message
        self.port = broker.port

    def _connected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        self.connack = reason.value

    def _disconnected(self, *args: Any) -> None:
        self.disconnects += 1

    def _message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, message.qos))

    def connect(self, expect: int = 0, reconnect: bool = False) -> Client:
        self.connack = None
        if not reconnect:
            self.paho.reconnect_delay_set(60, 120)  # a test reconnects by hand
        self.paho.connect("127.0.0.1", self.port, keepalive=30)
        self.paho.loop_start()
        wait_for(lambda: self.connack is not None, 15, f"{self.client_id}: CONNACK")
        assert self.connack == expect, f"{self.client_id}: CONNACK {self.connack}"
        return self

    def subscribe(self, topic: str, qos: int = 1) -> None:
        done = threading.Event()
        self.paho.on_subscribe = lambda *a: done.set()
        self.paho.subscribe(topic, qos)
        assert done.wait(10), f"{self.client_id}: no SUBACK"

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> None:
        self.paho.publish(topic, payload, qos).wait_for_publish(10)

    def on(self, topic: str) -> list[tuple[bytes, int]]:
        with self._lock:
            return [(p, q) for t, p, q in self.messages if t == topic]

    def stop(self) -> None:
        self.paho.disconnect()
        self.paho.loop_stop()


def heard(listener: Client, topic: str, payload: bytes) -> bool:
    return any(p == payload for p, _ in listener.on(topic))


def test_a_refused_connect_with_a_victims_client_id_changes_nothing_for_the_victim(broker):
    victim = Client(broker, "victim").connect()
    victim.subscribe("news")
    sender = Client(broker, "sender").connect()
    Client(broker, "victim", password="not-a-token").connect(expect=NOT_AUTHORIZED)
    sender.publish("news", b"still here")
    wait_for(lambda: heard(victim, "news", b"still here"), 10, "the victim to keep its subscription")
    assert victim.disconnects == 0 and victim.paho.is_connected()
    assert broker.bus.events("disconnected", "victim") == []
    persistent = Client(broker, "kept", clean=False).connect()
    persistent.subscribe("news")
    Client(broker, "kept", password="wrong", clean=False).connect(expect=NOT_AUTHORIZED)
    sender.publish("news", b"and here")
    wait_for(lambda: heard(persistent, "news", b"and here"), 10, "the persistent victim to stay connected")
    assert persistent.disconnects == 0
    for client in (victim, sender, persistent):
        client.stop()


@pytest.mark.parametrize("clean", [True, False])
def test_a_second_connection_with_the_same_client_id_replaces_the_first(broker, clean):
    first = Client(broker, "twin", clean=clean).connect()
    first.subscribe("t")
    second = Client(broker, "twin", clean=clean).connect()
    wait_for(lambda: first.disconnects > 0, 10, "the first connection to be closed")
    (event,) = wait_for(lambda: broker.bus.events("disconnected", "twin"), 10, "a disconnected event")
    assert event["disconnectReason"] == "DUPLICATE_CLIENTID" and event["clientInitiatedDisconnect"] is False
    connected = wait_for(
        lambda: len(broker.bus.events("connected", "twin")) == 2 and broker.bus.events("connected", "twin"),
        10,
        "the second connected event",
    )
    assert connected[1]["versionNumber"] > connected[0]["versionNumber"]
    second.subscribe("t")  # the new connection works: its subscription is granted and served
    sender = Client(broker, "sender").connect()
    sender.publish("t", b"to the new one")
    wait_for(lambda: heard(second, "t", b"to the new one"), 10, "the new connection to get the message")
    for client in (first, second, sender):
        client.stop()


def test_a_persistent_session_gets_what_was_published_at_qos_1_while_it_was_away(broker):
    away = Client(broker, "away", clean=False).connect()
    away.subscribe("alerts", qos=1)
    away.stop()
    wait_for(lambda: broker.bus.events("disconnected", "away"), 10, "the session to go away")
    sender = Client(broker, "sender").connect()
    for n in range(5):
        sender.publish("alerts", f"while away {n}".encode(), qos=1)
    sender.publish("alerts", b"qos 0 is not kept", qos=0)
    wait_for(lambda: any(p == b"qos 0 is not kept" for _, p, _ in broker.rules.seen), 10, "the QoS 0 message")
    back = Client(broker, "away", clean=False).connect()
    wait_for(lambda: len(back.on("alerts")) >= 5, 10, "the kept messages")
    assert [p for p, _ in back.on("alerts")] == [f"while away {n}".encode() for n in range(5)]
    assert {q for _, q in back.on("alerts")} == {1}
    for client in (sender, back):
        client.stop()


def test_a_connection_ends_when_its_authorization_lapses(broker):
    broker.authorizer.disconnect_after = 1
    client = Client(broker, "short").connect()
    wait_for(lambda: client.disconnects > 0, 15, "the broker to end the connection")
    (event,) = broker.bus.events("disconnected", "short")
    assert event["disconnectReason"] == "CUSTOMAUTH_TTL_EXPIRATION"
    client.stop()
    broker.authorizer.disconnect_after = None
    broker.authorizer.refresh_after = 0.5
    refreshed = Client(broker, "refreshed", password="good-until-revoked").connect()
    calls = broker.authorizer.calls
    wait_for(lambda: broker.authorizer.calls > calls, 10, "the authorizer to be asked again")
    assert refreshed.paho.is_connected()  # still valid: still connected
    broker.authorizer.revoked.add("good-until-revoked")
    wait_for(lambda: refreshed.disconnects > 0, 15, "a refused refresh to end the connection")
    assert broker.bus.events("disconnected", "refreshed")[-1]["disconnectReason"] == "AUTH_ERROR"
    refreshed.stop()


NO_NEWS = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "iot:*", "Resource": "arn:aws:iot:*:*:*"},
            {"Effect": "Deny", "Action": "iot:Receive", "Resource": "arn:aws:iot:*:*:topic/news/*"},
        ],
    }
)


def test_a_subscription_made_or_taken_back_counts_from_the_next_message(broker):
    """The broker keeps each topic's receivers worked out between messages; a change of
    subscriptions is not hidden by what it worked out before."""
    ears = Client(broker, "ears").connect()
    ears.subscribe("news/#")
    late = Client(broker, "late").connect()
    late.subscribe("marker")
    sender = Client(broker, "sender").connect()
    sender.publish("news/a", b"one")
    wait_for(lambda: heard(ears, "news/a", b"one"), 10, "the first message")
    late.subscribe("news/a")
    sender.publish("news/a", b"two")
    wait_for(lambda: heard(late, "news/a", b"two"), 10, "a subscription made after the first message")
    unsubscribed = threading.Event()
    late.paho.on_unsubscribe = lambda *a: unsubscribed.set()
    late.paho.unsubscribe("news/a")
    assert unsubscribed.wait(10), "no UNSUBACK"
    sender.publish("news/a", b"three")
    sender.publish("marker", b"after three")
    wait_for(lambda: heard(late, "marker", b"after three"), 10, "the marker after the third message")
    assert not heard(late, "news/a", b"three")
    wait_for(lambda: heard(ears, "news/a", b"three"), 10, "the subscriber that stayed")
    for client in (ears, late, sender):
        client.stop()


def test_a_policy_a_refresh_hands_over_counts_from_the_next_message(broker):
    broker.authorizer.refresh_after = 0.5
    ears = Client(broker, "ears", password="good-ears").connect()
    ears.subscribe("news/#")
    ears.subscribe("marker")
    sender = Client(broker, "sender").connect()
    sender.publish("news/a", b"allowed")
    wait_for(lambda: heard(ears, "news/a", b"allowed"), 10, "the message its first policy allows")
    broker.authorizer.policies["good-ears"] = NO_NEWS
    asked = broker.authorizer.asked.count("ears")
    wait_for(lambda: broker.authorizer.asked.count("ears") > asked, 10, "the refresh with the new policy")
    sender.publish("news/a", b"denied")
    sender.publish("marker", b"after")
    wait_for(lambda: heard(ears, "marker", b"after"), 10, "the marker after the denied message")
    assert not heard(ears, "news/a", b"denied")
    assert ears.paho.is_connected()
    for client in (ears, sender):
        client.stop()


def test_a_qos_1_publish_is_acknowledged_only_once_the_rules_writes_are_kept(broker):
    broker.rules.held = True
    sender = Client(broker, "sender").connect()
    info = sender.paho.publish("chat/out", b'{"text": "keep me"}', qos=1)
    wait_for(lambda: broker.rules.waiting, 10, "the rules to get the message")
    assert not info.is_published(), "PUBACK came before the message was stored"
    broker.rules.release()
    info.wait_for_publish(10)
    assert info.is_published()
    sender.stop()


def test_a_subscriber_gets_the_lower_of_the_published_and_the_granted_qos(broker):
    listener = Client(broker, "listener").connect()
    listener.subscribe("q", qos=1)
    sender = Client(broker, "sender").connect()
    sender.publish("q", b"zero", qos=0)
    sender.publish("q", b"one", qos=1)
    wait_for(lambda: len(listener.on("q")) == 2, 10, "both messages")
    assert dict(listener.on("q")) == {b"zero": 0, b"one": 1}
    broker.bus.publish("q", b"from the backend")  # the republish rule's Qos 0
    wait_for(lambda: len(listener.on("q")) == 3, 10, "the backend's message")
    assert dict(listener.on("q"))[b"from the backend"] == 0
    for client in (listener, sender):
        client.stop()


def test_a_burst_reaches_every_subscriber_in_order_and_overlapping_filters_get_it_once_each(broker):
    """A burst on one topic is joined once and the same bytes written to each subscriber; a
    subscriber two of whose filters match gets every message twice, still in order, and topics
    interleaved in one burst keep their order for a subscriber to both."""
    single = Client(broker, "single").connect()
    single.subscribe("burst/a", qos=0)
    double = Client(broker, "double").connect()
    double.subscribe("burst/#", qos=0)
    double.subscribe("burst/a", qos=0)
    sender = Client(broker, "sender").connect()
    for n in range(200):
        sender.paho.publish("burst/a" if n % 3 else "burst/b", str(n).encode(), qos=0)
    sender.publish("burst/a", b"end", qos=1)
    a_sent = [str(n).encode() for n in range(200) if n % 3] + [b"end"]
    wait_for(lambda: len(single.on("burst/a")) == len(a_sent), 15, "the burst at the single subscriber")
    wait_for(lambda: len(double.on("burst/a")) == 2 * len(a_sent), 15, "the burst, twice, at the double")
    assert [p for p, _ in single.on("burst/a")] == a_sent
    assert [p for p, _ in double.on("burst/a")] == [p for p in a_sent for _ in (1, 2)]
    assert [p for _, p, _ in double.messages if p != b"end"] == [
        p for n in range(200) for p in [str(n).encode()] * (2 if n % 3 else 1)
    ]
    for client in (single, double, sender):
        client.stop()


def test_a_client_that_stops_reading_gets_a_bounded_number_of_messages_in_flight(broker):
    silent = socket.create_connection(("127.0.0.1", broker.port))
    silent.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    silent.sendall(connect_packet("silent") + subscribe_packet(1, "flood", 1))
    silent.settimeout(10)
    assert silent.recv(4)[:1] == b"\x20"  # CONNACK; from here on it reads nothing
    wait_for(lambda: broker.gate.current("silent") is not None, 10, "the silent client to be connected")
    handler = broker.gate.current("silent").handler
    wait_for(lambda: broker.broker._subscriptions.get("flood"), 10, "the subscription")
    sender = Client(broker, "sender").connect()
    payload = b"x" * 8000
    for _ in range(2000):
        sender.paho.publish("flood", payload, qos=0)
    wait_for(lambda: handler.dropped > 0, 30, "deliveries to the silent client to be dropped")
    assert handler.pending <= 100
    listener_ok = Client(broker, "listener").connect()  # everyone else is still served
    listener_ok.subscribe("other")
    sender.publish("other", b"fine")
    wait_for(lambda: heard(listener_ok, "other", b"fine"), 10, "others to be served")
    silent.close()
    for client in (sender, listener_ok):
        client.stop()


def test_a_retained_publish_needs_retain_publish_as_well_as_publish(broker):
    watcher = Client(broker, "watcher").connect()
    watcher.subscribe("open/#")
    keeper = Client(broker, "keeper").connect()
    keeper.subscribe("chat/in/keeper")
    keeper.paho.publish("open/x", b"kept?", qos=1, retain=True).wait_for_publish(10)
    (refusal,) = wait_for(lambda: keeper.on("chat/in/keeper"), 10, "the refusal in the publisher's inbox")
    assert "not allowed to publish retained messages: open/x" in refusal[0].decode()
    keeper.publish("open/x", b"plain")  # iot:Publish alone is enough without the RETAIN flag
    wait_for(lambda: heard(watcher, "open/x", b"plain"), 10, "the plain message")
    assert not heard(watcher, "open/x", b"kept?")
    late = Client(broker, "late").connect()
    late.subscribe("open/#")
    late.subscribe("marker")
    keeper.publish("marker", b"m")
    wait_for(lambda: heard(late, "marker", b"m"), 10, "the marker")
    assert late.on("open/x") == []  # nothing was retained
    for client in (watcher, keeper, late):
        client.stop()


def test_a_client_silent_for_one_and_a_half_keep_alives_is_closed_and_one_that_pings_is_not(broker):
    silent = socket.create_connection(("127.0.0.1", broker.port))
    pinging = socket.create_connection(("127.0.0.1", broker.port))
    for sock, client_id in ((silent, "quiet"), (pinging, "chatty")):
        sock.sendall(connect_packet(client_id, keep_alive=1))
        sock.settimeout(10)
        assert sock.recv(4)[:1] == b"\x20"  # CONNACK
    pinging.settimeout(0.3)
    closed_at = None
    deadline = time.monotonic() + 20
    while closed_at is None and time.monotonic() < deadline:
        pinging.sendall(b"\xc0\x00")  # PINGREQ, well inside its keep-alive
        with contextlib.suppress(TimeoutError):
            assert pinging.recv(2) == b"\xd0\x00"  # PINGRESP: still served
        if broker.bus.events("disconnected", "quiet"):
            closed_at = time.monotonic()
    (event,) = broker.bus.events("disconnected", "quiet")
    assert event["disconnectReason"] == "MQTT_KEEP_ALIVE_TIMEOUT"
    silent.settimeout(10)
    assert silent.recv(1) == b""  # the broker closed it
    assert broker.bus.events("disconnected", "chatty") == []
    pinging.sendall(b"\xc0\x00")
    pinging.settimeout(10)
    assert pinging.recv(2) == b"\xd0\x00"
    silent.close()
    pinging.close()


def connect_packet(client_id: str, password: bytes = b"good", keep_alive: int = 60) -> bytes:
    # MQTT 3.1.1, username+password+clean session, then the keep-alive in seconds
    body = b"\x00\x04MQTT\x04\xc2" + keep_alive.to_bytes(2, "big")
    for field in (client_id.encode(), b"u", password):
        body += len(field).to_bytes(2, "big") + field
    return b"\x10" + remaining_length(len(body)) + body


def subscribe_packet(packet_id: int, topic: str, qos: int, flags: int = 0x02) -> bytes:
    body = packet_id.to_bytes(2, "big") + len(topic).to_bytes(2, "big") + topic.encode() + bytes([qos])
    return bytes([0x80 | flags]) + remaining_length(len(body)) + body


def closed_by_peer(sock: socket.socket, timeout: float = 10) -> bool:
    """True once the broker has closed the connection (EOF or reset), reading whatever comes first."""
    sock.settimeout(0.5)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except ConnectionError:
            return True
    return False


@pytest.mark.parametrize(
    "what",
    ["garbage", "publish before connect", "subscribe qos 3", "subscribe with wrong flags"],
)
def test_protocol_violations_close_the_connection(broker, what):
    sock = socket.create_connection(("127.0.0.1", broker.port))
    if what == "garbage":
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    elif what == "publish before connect":
        sock.sendall(b"\x30\x07\x00\x01tdata")
    else:
        sock.sendall(connect_packet(f"violator-{len(what)}"))
        sock.settimeout(10)
        assert sock.recv(4)[:1] == b"\x20"
        if what == "subscribe qos 3":
            sock.sendall(subscribe_packet(1, "t", 3))
        else:
            sock.sendall(subscribe_packet(1, "t", 1, flags=0x00))
    assert closed_by_peer(sock), f"{what}: the connection was left open"
    sock.close()
    still = Client(broker, "bystander").connect()  # the broker serves everyone else
    still.stop()


def test_a_connecting_client_gets_no_retained_message_it_did_not_subscribe_to(broker):
    watcher = Client(broker, "watcher").connect()
    watcher.subscribe("secret/#")
    owner = Client(broker, "owner").connect()
    owner.paho.publish("secret/x", b"for watchers only", qos=1, retain=True).wait_for_publish(10)
    wait_for(lambda: heard(watcher, "secret/x", b"for watchers only"), 10, "the retained message live")
    newcomer = Client(broker, "newcomer").connect()
    newcomer.subscribe("other")
    owner.publish("other", b"marker")
    wait_for(lambda: heard(newcomer, "other", b"marker"), 10, "the marker")
    assert newcomer.on("secret/x") == []
    late = Client(broker, "late").connect()
    late.subscribe("secret/#")  # subscribing is what brings a retained message
    wait_for(lambda: heard(late, "secret/x", b"for watchers only"), 10, "the retained message on subscribe")
    for client in (watcher, owner, newcomer, late):
        client.stop()


def test_packets_that_come_together_take_effect_in_the_order_they_were_sent(broker):
    """A client that sends faster than the broker reads gets its packets read several at a time: each
    SUBSCRIBE still takes effect before the PUBLISH sent after it, a SUBSCRIBE and then an UNSUBSCRIBE
    of the same filter leave it unsubscribed, and a burst arrives whole and in order."""
    sock = connected(broker, "orderly")
    burst = [f"burst-{n}".encode() for n in range(300)]
    sock.sendall(
        subscribe_packet(1, "first", 0)
        + subscribe_packet(2, "second", 0)
        + subscribe_packet(3, "own", 0)
        + publish_packet("own", b"sent after the SUBSCRIBE")
        + subscribe_packet(4, "flip", 0)
        + unsubscribe_packet(5, "flip")
        + b"".join(publish_packet("own", payload) for payload in burst)
    )
    received = PacketReader(sock)
    received.until(lambda p: ("own", burst[-1]) in p, "the whole burst")
    assert [payload for topic, payload in received.publishes if topic == "own"] == [
        b"sent after the SUBSCRIBE",
        *burst,
    ]
    other = Client(broker, "other").connect()
    other.publish("flip", b"not for an unsubscribed filter", qos=0)
    other.publish("own", b"marker", qos=0)  # fanned out after the one before it
    received.until(lambda p: ("own", b"marker") in p, "the marker")
    assert [p for p in received.publishes if p[0] == "flip"] == []
    other.stop()
    sock.close()


def test_a_publish_read_with_a_later_subscribe_of_its_client_does_not_reach_that_subscription(broker):
    """As IoT Core reads in order: a message published before a SUBSCRIBE is not delivered to it, though
    both come in one TCP write; the one published after it is."""
    sock = connected(broker, "eager")
    sock.sendall(
        publish_packet("mine", b"published first")
        + subscribe_packet(1, "mine", 0)
        + publish_packet("mine", b"published after")
    )
    received = PacketReader(sock)
    received.until(lambda p: ("mine", b"published after") in p, "the message sent after the SUBSCRIBE")
    assert received.publishes == [("mine", b"published after")]
    sock.close()


def connected(broker: InProcessBroker, client_id: str) -> socket.socket:
    """A raw connection that has its CONNACK and that the broker counts as connected."""
    sock = socket.create_connection(("127.0.0.1", broker.port))
    sock.sendall(connect_packet(client_id))
    sock.settimeout(10)
    assert sock.recv(4)[:1] == b"\x20"
    wait_for(lambda: broker.gate.current(client_id) is not None, 10, f"{client_id} to be connected")
    return sock


def publish_packet(topic: str, payload: bytes) -> bytes:  # QoS 0
    body = len(topic).to_bytes(2, "big") + topic.encode() + payload
    return b"\x30" + remaining_length(len(body)) + body


def unsubscribe_packet(packet_id: int, topic: str) -> bytes:
    body = packet_id.to_bytes(2, "big") + len(topic).to_bytes(2, "big") + topic.encode()
    return b"\xa2" + remaining_length(len(body)) + body


class PacketReader:
    """The (topic, payload) of every QoS 0 PUBLISH a raw connection receives, other packets skipped."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.buffer, self.publishes = sock, b"", []

    def until(self, done: Any, what: str, timeout: float = 15) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while not done(self.publishes):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.sock.settimeout(0.2)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                continue
            assert chunk, f"the broker closed the connection before {what}"
            self.buffer += chunk
            self._parse()
        return self.publishes

    def _parse(self) -> None:
        while len(self.buffer) >= 2:
            length, shift, index = 0, 0, 1
            while True:
                if index >= len(self.buffer):
                    return
                byte = self.buffer[index]
                length += (byte & 0x7F) << shift
                shift, index = shift + 7, index + 1
                if not byte & 0x80:
                    break
            if len(self.buffer) < index + length:
                return
            kind, body = self.buffer[0] >> 4, self.buffer[index : index + length]
            self.buffer = self.buffer[index + length :]
            if kind == 3:
                size = int.from_bytes(body[:2], "big")
                self.publishes.append((body[2 : 2 + size].decode(), body[2 + size :]))


class _FailingBrokerSide:
    """The broker's side of a SUBSCRIBE failing (a bug there), for the connection to outlive it."""

    async def apply_subscription(self, session: Any, handler: Any, subscription: Any) -> None:
        raise RuntimeError("the subscription table is broken")

    async def apply_unsubscription(self, session: Any, handler: Any, unsubscription: Any) -> None:
        raise RuntimeError("the subscription table is broken")


def test_a_subscribe_the_broker_fails_to_apply_is_logged_and_the_connection_goes_on(broker, caplog):
    sock = connected(broker, "unlucky")
    handler = broker.gate.current("unlucky").handler
    working, handler.broker_side = handler.broker_side, _FailingBrokerSide()
    with caplog.at_level("INFO", logger="edgeway.broker"):
        sock.sendall(subscribe_packet(1, "anything", 0))
        failed = wait_for(
            lambda: [r for r in caplog.records if r.getMessage() == "SUBSCRIBE not applied"],
            10,
            "the failure to be logged",
        )
    assert failed[0].client_id == "unlucky" and "subscription table is broken" in failed[0].exc_text
    handler.broker_side = working
    sock.sendall(b"\xc0\x00")  # PINGREQ: the connection is still served
    assert sock.recv(2) == b"\xd0\x00"
    sock.sendall(subscribe_packet(2, "anything", 0) + publish_packet("anything", b"works again"))
    PacketReader(sock).until(lambda p: ("anything", b"works again") in p, "a subscription that works")
    sock.close()


def test_work_for_threads_waits_until_the_fan_out_of_the_same_pass_is_written(broker):
    """What the rules hand to worker threads (a table write, a Lambda call) goes once the loop has
    written what the same message fanned out, a republish included, though the rules ask for the
    republish after the write: a worker woken sooner would take the GIL at each of those writes."""
    sock = connected(broker, "watcher")
    sock.sendall(subscribe_packet(1, "room", 0))
    assert sock.recv(5) == b"\x90\x03\x00\x01\x00"  # SUBACK: the subscription is in place
    received = PacketReader(sock)
    handler = broker.gate.current("watcher").handler
    transport = handler.writer._writer.transport
    order: list[str] = []
    write = transport.write

    def recording_write(data: bytes) -> None:
        order.append("written")
        write(data)

    async def as_the_rules_do() -> None:
        transport.write = recording_write  # on the loop's thread, between its callbacks
        broker.bus.after_delivery(lambda: order.append("handed over"))
        broker.bus.publish("room", b"republished")

    broker.loop.run(as_the_rules_do())
    received.until(lambda p: ("room", b"republished") in p, "the republished message")
    wait_for(lambda: "handed over" in order, 10, "the hand-over")
    assert order == ["written", "handed over"]
    sock.close()


def test_republishes_queued_together_reach_subscribers_and_rules_each_in_order(broker):
    """What the rules republish in one callback goes out a run of one topic and QoS at a time (one
    route for the run): every message arrives, at its QoS, in the order published at that QoS, and
    the rules see each one, in order."""
    watcher = Client(broker, "watcher").connect()
    watcher.subscribe("room/#", qos=1)
    seen: list[tuple[str, bytes]] = []
    broker.bus.rules = lambda topic, payload, client_id="": seen.append((topic, payload))
    sent = [("room/a", b"1", 0), ("room/a", b"2", 0), ("room/b", b"3", 0), ("room/a", b"4", 0)]
    sent += [("room/a", b"5", 1), ("room/a", b"6", 1), ("room/b", b"7", 1), ("room/a", b"8", 0)]

    async def as_the_rules_do() -> None:
        for topic, payload, qos in sent:
            broker.bus.publish(topic, payload, qos=qos)

    broker.loop.run(as_the_rules_do())
    wait_for(lambda: len(watcher.messages) >= len(sent), 10, "every republished message")
    for qos in (0, 1):
        assert [m for m in watcher.messages if m[2] == qos] == [m for m in sent if m[2] == qos]
    assert len(watcher.messages) == len(sent)
    assert seen == [(topic, payload) for topic, payload, _ in sent]
    watcher.stop()


@pytest.mark.parametrize("what", sorted(MALFORMED_PUBLISHES))
def test_a_malformed_publish_closes_its_connection_and_no_one_gets_it(broker, what):
    watcher = Client(broker, "watcher").connect()
    watcher.subscribe("room/#")
    sock = connected(broker, "violator")
    sock.sendall(MALFORMED_PUBLISHES[what])
    assert closed_by_peer(sock), f"{what}: the connection was left open"
    sock.close()
    sender = Client(broker, "sender").connect()  # the broker serves everyone else
    sender.publish("room/ok", b"after", qos=0)
    wait_for(lambda: heard(watcher, "room/ok", b"after"), 10, "the message after the violation")
    assert [topic for topic, _, _ in watcher.messages] == ["room/ok"]
    for client in (watcher, sender):
        client.stop()
