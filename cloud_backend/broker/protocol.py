"""The broker's per-connection MQTT handling where IoT Core and MQTT 3.1.1 ask more of it than amqtt's
`BrokerProtocolHandler` does.

- A QoS 1 PUBLISH is acknowledged only once the broker has accepted it: the rules have run and the
  writes that keep it (the store and stream actions) have committed. A PUBACK is a promise that the
  message is not lost; amqtt sends it on receipt. PUBACKs still go in the order the PUBLISHes came.
- A SUBSCRIBE with fixed-header flags other than 0010 or a requested QoS above 2 is a protocol
  violation (MQTT-3.8.1-1, MQTT-3-8.3-4): the connection is closed, not answered with a return code.
- Packets are read as they come, several in one pass of the event loop when a client sends faster
  than one a pass (amqtt waits for each under a timeout, a task and a timer per packet, and its read
  timeout closes nothing). Each takes effect as it is read, in the order the client sent them: a
  PUBLISH is delivered (`IotBroker.deliver`) and a SUBSCRIBE or UNSUBSCRIBE applied from the
  connection's own reading (amqtt queues both for a loop that takes one subscription per pass, after
  the messages, so a reply to a request sent right after a SUBSCRIBE would find no subscription).
- No timer per packet sent: amqtt re-arms one on every write for a handler that does nothing in the
  broker. The keep-alive that matters is the client's: the broker closes a connection that sent
  nothing for 1.5 times its keep-alive (MQTT-3.1.2-24, IoT Core), from one sweep for all connections
  (`IotBroker`), with `ConnectFirst.last_read`.
- What the broker sends a connection is bounded (`MAX_PENDING` deliveries not yet written or
  acknowledged); beyond that, messages for it are dropped and counted, as IoT Core bounds in-flight
  messages, so a client that stops reading cannot grow the broker's memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from amqtt.adapters import BufferReader, ReaderAdapter
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt import packet_class
from amqtt.mqtt.constants import QOS_1
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
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.publish import PublishPacket
from amqtt.mqtt.subscribe import SubscribePacket
from amqtt.mqtt.unsubscribe import UnsubscribePacket
from amqtt.session import INCOMING, IncomingApplicationMessage, OutgoingApplicationMessage

from cloud_backend.broker.publish_decoding import MalformedPublish, decode_publish
from edgeway_common.mqtt_keep_alive import ReadClock

log = logging.getLogger("edgeway.broker")
MAX_PENDING = 100  # IoT Core: at most 100 in-flight messages per connection
MAX_PACKET_BYTES = 1 << 20  # a packet declaring more closes the connection before it is read
SUBSCRIBE_FLAGS = 0x02


class BrokerSide(Protocol):
    """The broker's side of a connection's packets: a SUBSCRIBE or UNSUBSCRIBE (the subscription
    table, the SUBACK or UNSUBACK, retained messages) and a client's PUBLISH (policy, fan-out, rules)."""

    async def apply_subscription(self, session: Any, handler: Any, subscription: Any) -> None: ...

    async def apply_unsubscription(self, session: Any, handler: Any, unsubscription: Any) -> None: ...

    async def deliver(self, session: Any, handler: Any, message: Any) -> bool:
        """False when the message breaks the protocol and the connection is to close."""
        ...


class EdgeProtocolHandler(BrokerProtocolHandler):  # type: ignore[misc]
    broker_side: BrokerSide | None = None  # set by the broker when a connection is accepted
    tcp_transport: Any = None  # set by the broker for a TCP connection (QoS 0 is written to it directly)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accepting: dict[int, asyncio.Future[bool]] = {}  # id(message) -> accepted (True) or not
        self.pending = 0  # deliveries not yet written, or (QoS 1) not yet acknowledged
        self.dropped = 0  # deliveries refused because `pending` was at MAX_PENDING
        self.unacknowledged = 0  # QoS 1 deliveries the client never acknowledged

    def _init_session(self, session: Any) -> None:
        super()._init_session(session)
        # amqtt re-arms a write timer on every packet sent, and the broker's timeout handler does
        # nothing; the client's keep-alive is the broker's sweep (`server.IotBroker`).
        self.keepalive_timeout = None

    async def _handle_qos0_message_flow(
        self, app_message: OutgoingApplicationMessage | IncomingApplicationMessage
    ) -> None:
        duplicate = app_message.publish_packet is not None and app_message.publish_packet.dup_flag
        if app_message.direction != INCOMING or duplicate:  # amqtt ignores a QoS 0 DUP (MQTT-3.3.1-2)
            await super()._handle_qos0_message_flow(app_message)
            return
        await self._deliver(app_message)

    async def _handle_qos1_message_flow(
        self, app_message: OutgoingApplicationMessage | IncomingApplicationMessage
    ) -> None:
        if app_message.direction != INCOMING:
            await super()._handle_qos1_message_flow(app_message)
            return
        if app_message.qos != QOS_1 or app_message.packet_id is None or self.session is None:
            raise AMQTTError(f"not a QoS 1 message from a session: {app_message!r}")
        accepted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.accepting[id(app_message)] = accepted
        await self._deliver(app_message)
        if not await accepted:
            return  # not taken (the connection is closing): the client sends it again
        puback = PubackPacket.build(app_message.packet_id)
        await self._send_packet(puback)
        app_message.puback_packet = puback

    async def start(self) -> None:
        """amqtt's reader waits for each packet under a timeout of the client's keep-alive (a task and
        a timer per packet, so one packet per pass of the event loop) and on a timeout closes nothing.
        The reader reads the keep-alive once, before it is ready: it reads 0 (no timeout), and the
        session keeps its keep-alive for the broker's sweep."""
        session = self.session
        if session is None:  # amqtt's start refuses a handler with no session
            await super().start()
            return
        keep_alive, session.keep_alive = session.keep_alive, 0
        try:
            await super().start()
        finally:
            session.keep_alive = keep_alive

    async def _reader_loop(self) -> None:
        """Reads the connection's packets in order, each in two reads (its fixed header, then the rest).
        A PUBLISH is decoded here (`publish_decoding`); a QoS 0 one without DUP or RETAIN, what clients
        send most, is delivered at once, before the next packet is read, with no task, when no task of
        a packet before it is still running (the tasks run in the order they were started, so a
        PUBLISH after a SUBSCRIBE waits its turn behind it). Any other packet is handled as amqtt's
        loop would: run in a task (decoded by amqtt from the bytes read, a PUBLISH built from what was
        decoded here), a second CONNECT inline. amqtt's loop awaits a read for each field of a packet
        and starts a task for every packet. A packet that breaks the protocol closes the connection
        (MQTT 3.1.1 section 4.8), where amqtt drops it and reads on."""
        if self.session is None or self.reader is None or self._reader_ready is None:
            raise AMQTTError("the reader started before the connection was attached")
        reader, client_id = self.reader, self.session.client_id
        running: deque[asyncio.Task[None]] = deque()
        try:
            while True:
                self._reader_ready.set()
                while running and running[0].done():
                    running.popleft()
                try:
                    packet_type, flags, body = await _read_packet(reader)
                except (asyncio.IncompleteReadError, ConnectionError, NoDataError):
                    break  # the client has gone
                if packet_type == PUBLISH:
                    publish = decode_publish(flags, body)
                    if flags == 0 and not running:  # QoS 0, no DUP, no RETAIN; nothing before it runs
                        message = IncomingApplicationMessage(None, publish.topic, 0, publish.data, False)
                        await self._deliver(message)
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
                    packet = await _decoded(packet_type, flags, body)
                if packet_type == CONNECT:
                    await self.handle_connect(packet)
                else:
                    running.append(asyncio.create_task(getattr(self, _HANDLERS[packet_type])(packet)))
        except (MalformedPublish, MQTTError) as exc:
            log.info(
                "connection closed: a malformed packet", extra={"client_id": client_id, "error": str(exc)}
            )
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("the connection's reader failed", extra={"client_id": client_id})
        while running:
            running.popleft().cancel()
        await self.handle_connection_closed()
        self._reader_stopped.set()
        await self.stop()

    async def _deliver(self, app_message: IncomingApplicationMessage) -> None:
        """A client's message goes to the broker as it is read, in the order the client sent it: amqtt
        queues it for a loop that waits for it with a task and an `asyncio.wait` of four futures, a
        few passes of the event loop per message."""
        if self.broker_side is None or self.session is None:
            raise AMQTTError("a PUBLISH read before the connection was attached to the broker")
        if not await self.broker_side.deliver(self.session, self, app_message):
            await self.handle_connection_closed()

    def accepted(self, message: Any) -> asyncio.Future[bool] | None:
        """The future a QoS 1 message's PUBACK waits on (None for QoS 0)."""
        return self.accepting.pop(id(message), None)

    async def handle_subscribe(self, subscribe: SubscribePacket) -> None:
        flags = subscribe.fixed_header.flags if subscribe.fixed_header is not None else None
        topics = subscribe.payload.topics if subscribe.payload is not None else []
        if flags != SUBSCRIBE_FLAGS or any(qos not in (0, 1, 2) for _, qos in topics):
            client_id = self.session.client_id if self.session else ""
            log.info(
                "connection closed: malformed SUBSCRIBE",
                extra={"client_id": client_id, "flags": flags, "qos": [q for _, q in topics]},
            )
            await self.handle_connection_closed()
            return
        await super().handle_subscribe(subscribe)
        if self.broker_side is not None and self.session is not None:
            taken = self._pending_subscriptions.get_nowait()
            await self._applying("SUBSCRIBE", self.broker_side.apply_subscription(self.session, self, taken))

    async def handle_unsubscribe(self, unsubscribe: UnsubscribePacket) -> None:
        await super().handle_unsubscribe(unsubscribe)
        if self.broker_side is not None and self.session is not None:
            taken = self._pending_unsubscriptions.get_nowait()
            await self._applying(
                "UNSUBSCRIBE", self.broker_side.apply_unsubscription(self.session, self, taken)
            )

    async def _applying(self, what: str, applying: Awaitable[None]) -> None:
        """A failure here is the broker's, not the client's: logged where it happened, and the
        connection and everyone else go on (this runs in a task nobody waits for)."""
        try:
            await applying
        except Exception:
            client_id = self.session.client_id if self.session else ""
            log.exception(f"{what} not applied", extra={"client_id": client_id})

    async def stop(self) -> None:
        for accepted in self.accepting.values():
            if not accepted.done():
                accepted.set_result(False)
        self.accepting.clear()
        await super().stop()


CONNECT_FIRST_BYTE = 0x10  # packet type 1, flags 0000 (MQTT-2.2.2-2)
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


async def _decoded(packet_type: int, flags: int, body: bytes) -> Any:
    """A packet other than a PUBLISH, as amqtt's classes decode it."""
    if packet_type in (RESERVED_0, RESERVED_15):
        raise MQTTError(f"reserved packet type {packet_type} (MQTT-2.2.1)")
    header = MQTTFixedHeader(packet_type, flags, len(body))
    return await packet_class(header).from_stream(BufferReader(body), fixed_header=header)


async def _read_packet(reader: ReaderAdapter) -> tuple[int, int, bytes]:
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


class ConnectFirst(ReadClock):
    """A reader that refuses a connection whose first byte is not a CONNECT's: amqtt would parse any
    packet (or an HTTP request) as a CONNECT and wait for bytes that never come. As a `ReadClock` it
    notes when the client last sent anything, for the broker's keep-alive sweep."""

    def __init__(self, reader: ReaderAdapter, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(reader, clock)
        self._first = True

    async def read(self, n: int = -1) -> bytes:
        data = await super().read(n)
        if self._first and data:
            self._first = False
            if data[0] != CONNECT_FIRST_BYTE:
                raise NoDataError(f"the first packet is not a CONNECT (first byte 0x{data[0]:02x})")
        return data
