"""How the project's two amqtt brokers (the cloud stand-in's and the core's broker for client devices)
read a connection's packets: `PacketReader`, an amqtt `BrokerProtocolHandler` with its own reading loop.

amqtt's loop waits for each packet under a timeout of the client's keep-alive (a task and a timer per
packet, so one packet per pass of the event loop; the timeout closes nothing), awaits a read for each
field of a packet, and drops a packet that breaks the protocol and reads on. Here a connection's bytes
are read a chunk at a time and cut into packets (`Packets`: a burst of packets costs one read, not one
per field), a PUBLISH is decoded from those bytes
(`mqtt_publish_codec`), and a packet that breaks the protocol closes the connection, as MQTT 3.1.1
section 4.8 says a server must: a PUBLISH whose topic is not UTF-8, holds U+0000 or a wildcard, QoS 3,
packet id 0, a packet shorter than its own fields, a remaining length over four bytes, a reserved
packet type. A packet declaring more than `MAX_PACKET_BYTES` closes its connection before it is read
(amqtt would read up to 256 MB into memory for any client). Every packet is then handled as amqtt's
loop would, in a task of its own, in the order read; a broker may take a PUBLISH at once instead
(`_publish_at_once`). amqtt's `PACKET_RECEIVED` plugin event is not fired (neither broker loads a
plugin that listens for it).

Hand-written because amqtt's loop is one method that cannot be given these rules from outside.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Any

from amqtt.adapters import BufferReader, ReaderAdapter
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt import packet_class
from amqtt.mqtt.packet import (
    CONNACK,
    CONNECT,
    DISCONNECT,
    PINGREQ,
    PINGRESP,
    PUBACK,
    PUBCOMP,
    PUBLISH,
    PUBREC,
    PUBREL,
    RESERVED_0,
    RESERVED_15,
    SUBACK,
    SUBSCRIBE,
    UNSUBACK,
    UNSUBSCRIBE,
    MQTTFixedHeader,
)
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.mqtt.publish import PublishPacket

from edgeway_common.mqtt_publish_codec import MalformedPublish, Publish, decode_publish

MAX_PACKET_BYTES = 1 << 20  # a packet declaring more closes the connection before it is read
_HANDLERS = {  # packet type -> the handler method a task runs it in, as amqtt's loop dispatches
    CONNACK: "handle_connack",
    PUBLISH: "handle_publish",
    PUBACK: "handle_puback",
    PUBREC: "handle_pubrec",
    PUBREL: "handle_pubrel",
    PUBCOMP: "handle_pubcomp",
    SUBSCRIBE: "handle_subscribe",
    SUBACK: "handle_suback",
    UNSUBSCRIBE: "handle_unsubscribe",
    UNSUBACK: "handle_unsuback",
    PINGREQ: "handle_pingreq",
    PINGRESP: "handle_pingresp",
    DISCONNECT: "handle_disconnect",
}


class PacketReader(BrokerProtocolHandler):  # type: ignore[misc]
    reader_log = logging.getLogger("edgeway.mqtt")  # where a connection closed for a bad packet is told

    def _publish_at_once(self, publish: Publish) -> bool:
        """A QoS 0 PUBLISH without DUP or RETAIN, read when no packet before it is still being
        handled: True when the broker has taken it here, before the next packet is read, with no
        await; False to handle it as any other packet."""
        return False

    async def _reader_loop(self) -> None:
        if self.session is None or self.reader is None or self._reader_ready is None:
            raise AMQTTError("the reader started before the connection was attached")
        packets, client_id = Packets(self.reader), self.session.client_id
        running: deque[asyncio.Task[None]] = deque()  # the tasks run in the order they were started
        try:
            while True:
                self._reader_ready.set()
                while running and running[0].done():
                    running.popleft()
                cut = packets.cut()
                if cut is None:
                    try:
                        await packets.read()
                    except (asyncio.IncompleteReadError, ConnectionError, NoDataError):
                        break  # the client has gone
                    continue
                packet_type, flags, body = cut
                if packet_type == PUBLISH:
                    publish = decode_publish(flags, body)
                    if flags == 0 and not running and self._publish_at_once(publish):
                        continue
                    packet: Any = PublishPacket.build(  # amqtt's own check refuses a wildcard topic
                        publish.topic,
                        publish.data,
                        publish.packet_id,
                        publish.dup,
                        publish.qos,
                        publish.retain,
                    )
                else:
                    packet = await decoded_packet(packet_type, flags, body)
                if packet_type == CONNECT:
                    await self.handle_connect(packet)
                else:
                    running.append(asyncio.create_task(getattr(self, _HANDLERS[packet_type])(packet)))
        except (MalformedPublish, MQTTError) as exc:
            self.reader_log.info(
                "connection closed: a malformed packet", extra={"client_id": client_id, "error": str(exc)}
            )
        except asyncio.CancelledError:
            pass
        except Exception:
            self.reader_log.exception("the connection's reader failed", extra={"client_id": client_id})
        while running:
            running.popleft().cancel()
        await self.handle_connection_closed()
        self._reader_stopped.set()
        await self.stop()


async def decoded_packet(packet_type: int, flags: int, body: bytes) -> Any:
    """A packet other than a PUBLISH, as amqtt's classes decode it."""
    if packet_type in (RESERVED_0, RESERVED_15):
        raise MQTTError(f"reserved packet type {packet_type} (MQTT-2.2.1)")
    header = MQTTFixedHeader(packet_type, flags, len(body))
    return await packet_class(header).from_stream(BufferReader(body), fixed_header=header)


READ_SIZE = 1 << 16  # the most one read of a TCP connection takes


class Packets:
    """A connection's packets, cut from its bytes as they come. On TCP (through a `ReadClock`) each
    read takes what the connection holds, up to `READ_SIZE`; from any other reader, exactly what the
    next packet still needs (its fixed header, then the rest)."""

    def __init__(self, reader: ReaderAdapter) -> None:
        self._read_some = getattr(reader, "read_some", None)
        self._reader = reader
        self._buffer = bytearray()
        self._needed = 2  # bytes the next packet needs beyond those held: every packet has two or more

    def cut(self) -> tuple[int, int, bytes] | None:
        """(packet type, flags, the bytes after the fixed header) of the next packet if it has come
        whole, else None (then `read`). Raises MQTTError for a remaining length over four bytes or over
        `MAX_PACKET_BYTES`, before the rest of such a packet is read."""
        buffer = self._buffer
        held = len(buffer)
        if held < 2:
            self._needed = 2 - held
            return None
        length, shift, at = 0, 0, 1
        while True:
            if at == held:
                self._needed = 1
                return None
            byte = buffer[at]
            at += 1
            length += (byte & 0x7F) << shift
            if not byte & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("a remaining length over four bytes (MQTT-2.2.3)")
        if length > MAX_PACKET_BYTES:
            raise MQTTError(f"a packet of {length} bytes, over the {MAX_PACKET_BYTES} this broker reads")
        end = at + length
        if end > held:
            self._needed = end - held
            return None
        first = buffer[0]
        body = bytes(buffer[at:end])
        del buffer[:end]  # from the front of a bytearray: no copy of the rest
        return first >> 4, first & 0x0F, body

    async def read(self) -> None:
        """More of the connection's bytes; NoDataError once it has ended."""
        if self._read_some is not None:
            data = await self._read_some(self._needed, READ_SIZE)
        else:
            data = await self._reader.read(self._needed)
        if not data:
            where = " inside a packet" if self._buffer else ""
            raise NoDataError(f"the connection ended{where}")
        self._buffer += data
