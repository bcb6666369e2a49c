"""A PUBLISH packet's body decoded from its bytes, with MQTT 3.1.1's rules on what a client may send,
for the project's two amqtt brokers (`mqtt_reader`); and a QoS 0 PUBLISH encoded, for the stand-in's
fan-out. Pure.

Written here rather than taken from amqtt: amqtt decodes each field with its own awaited read from the
connection (several per packet), and turns a topic that is not UTF-8 into the text of its bytes'
repr where MQTT-1.5.3-1 says to close the connection; and it encodes a packet through a packet object,
a header object and a payload object (4 µs a message here, a tenth of the broker's whole cost for a
raw message; these few lines take 0.5). A test holds the encoding to amqtt's, byte for byte.
"""

from __future__ import annotations

from typing import NamedTuple


class MalformedPublish(ValueError):
    """The client broke the protocol: the connection is to close."""


class Publish(NamedTuple):
    """A decoded PUBLISH; a named tuple, made for every message a client sends."""

    topic: str
    qos: int
    packet_id: int | None
    data: bytes
    dup: bool
    retain: bool


def decode_publish(flags: int, body: bytes) -> Publish:
    """`flags`: the low four bits of the fixed header; `body`: the bytes after the fixed header."""
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPublish("QoS 3 (MQTT-3.3.1-4)")
    if len(body) < 2:
        raise MalformedPublish("no topic length")
    end = 2 + int.from_bytes(body[:2], "big")
    if len(body) < end + (2 if qos else 0):
        raise MalformedPublish("the packet is shorter than its topic and packet id")
    try:
        topic = body[2:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPublish(f"the topic is not UTF-8 (MQTT-1.5.3-1): {exc.reason}") from exc
    if "\x00" in topic:
        raise MalformedPublish("the topic holds U+0000 (MQTT-1.5.3-2)")
    packet_id = None
    if qos:
        packet_id = int.from_bytes(body[end : end + 2], "big")
        if packet_id == 0:
            raise MalformedPublish("packet id 0 (MQTT-2.3.1-1)")
        end += 2
    return Publish(topic, qos, packet_id, body[end:], bool(flags & 0x08), bool(flags & 0x01))


def encode_publish_qos0(topic: str, data: bytes) -> bytes:
    """A QoS 0 PUBLISH without DUP or RETAIN (fixed header 0x30), as a broker sends it to subscribers."""
    name = topic.encode("utf-8")
    remaining = 2 + len(name) + len(data)
    header = bytearray(b"\x30")
    while remaining > 0x7F:  # the remaining length: seven bits a byte, low first (MQTT 2.2.3)
        header.append(remaining & 0x7F | 0x80)
        remaining >>= 7
    header.append(remaining)
    return b"".join((header, len(name).to_bytes(2, "big"), name, data))
