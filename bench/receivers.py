"""Many MQTT subscribers in one process, cheap enough to measure a broker with.

Written by hand on purpose: a benchmark's receivers must cost less CPU than the broker they measure.
A paho client spends over 100 µs of Python per message and a `mosquitto_sub` process per receiver
pays a process wake-up per message; here one `selectors` loop holds every connection, and each
wake-up only stamps the time, keeps the bytes, and counts the messages in them with one `bytes.count`
of the topic's field (its two-byte length, then its name): a JSON payload holds no NUL byte and the
field of a topic under 256 bytes starts with one, so the count is exact, and it runs in C. Walking
every packet's header in Python instead cost 0.45 to 0.6 µs a delivery, 22 to 30 µs a message to 50
receivers: more than the stand-in's broker spent on a raw message. The MQTT (3.1.1, QoS 0) parsing
happens after the run, outside the measured window, and is what the report says: a count that ran
ahead would end the wait early and show as lost messages, never hide one.

What a run keeps (every byte every receiver read: 20,000 messages to 50 receivers is about 200 MB)
is kept on memory made ready before the measured window (`reserve`): taken fresh from the system
in the window, each new page was a fault and a page of zeros written by the kernel, half the
receivers' CPU (8.0-8.6 against 4.2-4.9 µs a message) on the two cores the broker shares with them.

Run by a benchmark as a child process (one JSON object per line on stdin and stdout):

    python bench/receivers.py --port P --topic T --count N --credentials FILE

`FILE` holds a JSON list of [client id, password or null]. The process connects and subscribes every
receiver, prints {"ready": true}, reads one line ("go": the measured window starts), and prints its
report once every receiver has `--count` messages or `--seconds` pass: per receiver the messages,
and for every message the arrival time (ns since the epoch) beside the payload's `id`; and the CPU
seconds this process used between "go" and the last message.
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import json
import selectors
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

PUBLISH, CONNACK, SUBACK = 0x3, 0x2, 0x9
WINDOW = 1 << 14  # bytes looked back through for the last packet
BYTES_PER_DELIVERY = 256  # memory made ready per message and receiver: the bench's packets are smaller
BLOCK = 1 << 14  # the size of the blocks `reserve` writes (below glibc's mmap threshold: heap)
M_TRIM_THRESHOLD = -1  # mallopt's parameter (malloc.h)


def _field(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _packet(first: int, body: bytes) -> bytes:
    length, encoded = len(body), bytearray()
    while True:
        byte, length = length % 128, length // 128
        encoded.append(byte | (0x80 if length else 0))
        if not length:
            return bytes([first]) + bytes(encoded) + body


def connect_packet(client_id: str, password: str | None) -> bytes:
    flags = 0x02 | (0xC0 if password is not None else 0)  # clean session, user name and password
    body = _field("MQTT") + bytes([4, flags]) + (0).to_bytes(2, "big") + _field(client_id)  # no keep-alive
    if password is not None:
        body += _field(client_id) + _field(password)
    return _packet(0x10, body)


def subscribe_packet(topic: str) -> bytes:
    return _packet(0x82, (1).to_bytes(2, "big") + _field(topic) + b"\x00")


def whole_packets(stream: bytes) -> Iterator[tuple[int, int, int]]:
    """(type, body start, end) of each whole packet at the start of the stream, up to one not whole."""
    at = 0
    while at < len(stream):
        kind, at, multiplier, length = stream[at] >> 4, at + 1, 1, 0
        while True:
            if at >= len(stream):
                return
            byte = stream[at]
            at += 1
            length += (byte & 0x7F) * multiplier
            multiplier *= 128
            if not byte & 0x80:
                break
        if at + length > len(stream):
            return
        yield kind, at, at + length
        at += length


def whole_packets_end(stream: bytes) -> int:
    """Where the whole packets at the start of the stream end."""
    return max((end for _, _, end in whole_packets(stream)), default=0)


def packets(stream: bytes) -> list[tuple[int, int, bytes]]:
    """(type, end offset, body) of each whole packet in the stream."""
    return [(kind, end, stream[start:end]) for kind, start, end in whole_packets(stream)]


def publish_payload(body: bytes) -> bytes:
    return body[2 + int.from_bytes(body[:2], "big") :]  # QoS 0: no packet id


class Stream:
    """What one receiver reads of the messages to one topic: the bytes, when they came, and how many."""

    def __init__(self, topic: str) -> None:
        self.chunks: list[tuple[int, bytes]] = []  # (arrival ns, bytes) as read
        self.mark = _field(topic)  # in every PUBLISH to the topic, and nowhere in a JSON payload
        self.publishes = 0  # marks read so far: PUBLISH packets begun
        self.tail = b""  # the last len(mark) - 1 bytes read: a mark may be split between two reads

    def take(self, stamp: int, data: bytes) -> int:
        """Keeps what was read; counts the PUBLISH packets to the topic it begins (in C, no parsing)."""
        self.chunks.append((stamp, data))
        keep = len(self.mark) - 1
        self.publishes += data.count(self.mark) + (self.tail + data[:keep]).count(self.mark)
        self.tail = data[-keep:] if len(data) >= keep else (self.tail + data)[-keep:]
        return self.publishes

    def last_is_whole(self) -> bool:
        """Whether the last packet begun has been read to its end (once the count says it is there).

        The packet is found back from its topic's field: before it, the remaining length (bytes with
        the top bit set, then one without) and the packet's first byte. The bench's messages are well
        under `WINDOW` bytes; the whole stream is parsed when one is not."""
        recent, size, at = [], 0, len(self.chunks)
        while at and size < WINDOW:
            at -= 1
            recent.append(self.chunks[at][1])
            size += len(recent[-1])
        window = b"".join(reversed(recent))
        start = window.rfind(self.mark) - 1
        while start > 0 and window[start - 1] & 0x80:
            start -= 1
        start -= 1  # the packet's first byte
        if start < 0 and at:  # not within the window: parse everything read
            window, start = b"".join(data for _, data in self.chunks), 0
            return whole_packets_end(window) == len(window)
        return start >= 0 and whole_packets_end(window[start:]) == len(window) - start

    def arrivals(self) -> list[tuple[int, str]]:
        """(arrival ns, payload id) of each message, its arrival being that of its last byte."""
        stream, ends, total = b"".join(data for _, data in self.chunks), [], 0
        for stamp, data in self.chunks:
            total += len(data)
            ends.append((total, stamp))
        found, chunk = [], 0
        for kind, end, body in packets(stream):
            while ends[chunk][0] < end:
                chunk += 1
            if kind == PUBLISH:
                try:
                    found.append((ends[chunk][1], str(json.loads(publish_payload(body))["id"])))
                except (ValueError, KeyError, TypeError):
                    continue
        return found


class Receiver:
    def __init__(self, port: int, client_id: str, password: str | None, topic: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(connect_packet(client_id, password) + subscribe_packet(topic))
        self.stream = Stream(topic)
        self._handshake = b""

    def wait_subscribed(self) -> None:
        while not any(kind == SUBACK for kind, _, _ in packets(self._handshake)):
            data = self.sock.recv(4096)
            if not data:
                raise SystemExit(f"the broker closed a receiver: {self._handshake!r}")
            self._handshake += data
        connack = packets(self._handshake)[0]
        if connack[0] != CONNACK or connack[2][1] != 0:
            raise SystemExit(f"a receiver was refused: {self._handshake!r}")
        if packets(self._handshake)[-1][2][2:] == b"\x80":
            raise SystemExit("a receiver's subscription was refused")
        self.sock.setblocking(False)


def reserve(size: int) -> None:
    """Writes to `size` bytes of the heap and frees them, with glibc told to keep freed heap rather
    than give it back (`M_TRIM_THRESHOLD`): the bytes the run then keeps land on pages already
    mapped. Nothing is done where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        if libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) != 1:
            return
    except (OSError, AttributeError, TypeError):
        return
    blocks = [b"\x01" * BLOCK for _ in range(size // BLOCK)]  # written, so the pages are mapped
    del blocks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--credentials", required=True)
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    with open(args.credentials) as handle:
        credentials = json.load(handle)
    receivers = [Receiver(args.port, client_id, password, args.topic) for client_id, password in credentials]
    for receiver in receivers:
        receiver.wait_subscribed()
    reserve(len(receivers) * args.count * BYTES_PER_DELIVERY)
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    cpu_started = time.process_time()
    selector = selectors.DefaultSelector()
    for receiver in receivers:
        selector.register(receiver.sock, selectors.EVENT_READ, receiver)
    deadline = time.monotonic() + args.seconds
    waiting = len(receivers)
    while waiting and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=0.5):
            receiver: Receiver = key.data
            try:
                data = receiver.sock.recv(1 << 16)
            except BlockingIOError:
                continue
            stream = receiver.stream
            if not data or (stream.take(time.time_ns(), data) >= args.count and stream.last_is_whole()):
                selector.unregister(receiver.sock)
                waiting -= 1
    cpu_used = time.process_time() - cpu_started
    report: dict[str, Any] = {
        "cpu_s": cpu_used,
        "receivers": [{"arrivals": receiver.stream.arrivals()} for receiver in receivers],
    }
    print(json.dumps(report), flush=True)
    for receiver in receivers:
        receiver.sock.close()


if __name__ == "__main__":
    main()
