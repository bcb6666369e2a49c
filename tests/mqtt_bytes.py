"""MQTT 3.1.1 packets as bytes, for tests that speak to a broker from a raw socket, and the malformed
PUBLISHes a broker must close a connection for (MQTT 3.1.1 section 4.8)."""

from __future__ import annotations

from edgeway_common.mqtt_reader import MAX_PACKET_BYTES


def remaining_length(n: int) -> bytes:
    out = b""
    while True:
        byte, n = n % 128, n // 128
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def raw_publish(flags: int, topic: bytes, rest: bytes = b"data") -> bytes:
    body = len(topic).to_bytes(2, "big") + topic + rest
    return bytes([0x30 | flags]) + remaining_length(len(body)) + body


MALFORMED_PUBLISHES = {
    "topic not UTF-8": raw_publish(0, b"room/\xff\xfe"),
    "topic with U+0000": raw_publish(0, b"room/\x00x"),
    "wildcard topic, QoS 0": raw_publish(0, b"room/#"),
    "wildcard topic, QoS 1": raw_publish(0x02, b"room/+", b"\x00\x01data"),
    "QoS 3": raw_publish(0x06, b"room/a", b"\x00\x01data"),
    "packet id 0": raw_publish(0x02, b"room/a", b"\x00\x00data"),
    "topic longer than the packet": b"\x30\x04\x00\x09ab",
    "remaining length over four bytes": b"\x30\xff\xff\xff\xff\x01",
    "over 1 MB declared": b"\x30" + remaining_length(MAX_PACKET_BYTES + 1) + b"\x00\x06room/a",
}
