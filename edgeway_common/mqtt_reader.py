"""How the project's two amqtt brokers (the cloud stand-in's and the core's broker for client devices)
read a connection's packets: `PacketReader`, an amqtt `BrokerProtocolHandler` with its own reading loop.

amqtt's loop waits for each packet under a timeout of the client's keep-alive (a task and a timer per
packet, so one packet per pass of the event loop; the timeout closes nothing), awaits a read for each
field of a packet, and drops a packet that breaks the protocol and reads on. Here each packet is read
in two reads (its fixed header, then the rest), a PUBLISH is decoded from those bytes
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

    async def _publish_at_once(self, publish: Publish) -> bool:
        """A QoS 0 PUBLISH without DUP or RETAIN, read when no packet before it is still being
        handled: True when the broker has taken it here, before the next packet is read; False
        to handle it as any other packet."""
        return False

    async def _reader_loop(self) -> None:
        if self.session is None or self.reader is None or self._reader_ready is None:
            raise AMQTTError("the reader started before the connection was attached")
        reader, client_id = self.reader, self.session.client_id
        running: deque[asyncio.Task[None]] = deque()  # the tasks run in the order they were started
        try:
            while True:
                self._reader_ready.set()
                while running and running[0].done():
                    running.popleft()
                try:
                    packet_type, flags, body = await read_packet(reader)
                except (asyncio.IncompleteReadError, ConnectionError, NoDataError):
                    break  # the client has gone
                if packet_type == PUBLISH:
                    publish = decode_publish(flags, body)
                    if flags == 0 and not running and await self._publish_at_once(publish):
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


async def read_packet(reader: ReaderAdapter) -> tuple[int, int, bytes]:
    """(packet type, flags, the bytes after the fixed header). Every packet has at least one byte of
    remaining length, so the first read takes two bytes."""
    head = await reader.read(2)
    if len(head) < 2:
        raise NoDataError("the connection ended")
    length, shift, byte = 0, 0, head[1]
    while True:
        length += (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 21:
            raise MQTTError("a remaining length over four bytes (MQTT-2.2.3)")
        more = await reader.read(1)
        if not more:
            raise NoDataError("the connection ended inside a fixed header")
        byte = more[0]
    if length > MAX_PACKET_BYTES:
        raise MQTTError(f"a packet of {length} bytes, over the {MAX_PACKET_BYTES} this broker reads")
    body = await reader.read(length) if length else b""
    if len(body) < length:
        raise NoDataError("the connection ended inside a packet")
    return head[0] >> 4, head[0] & 0x0F, body
