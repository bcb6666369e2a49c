"""The broker's per-connection MQTT handling where IoT Core and MQTT 3.1.1 ask more of it than amqtt's
`BrokerProtocolHandler` does.

- A QoS 1 PUBLISH is acknowledged only once the broker has accepted it: the rules have run and the
  writes that keep it (the store and stream actions) have committed. A PUBACK is a promise that the
  message is not lost; amqtt sends it on receipt. PUBACKs still go in the order the PUBLISHes came.
- A SUBSCRIBE with fixed-header flags other than 0010 or a requested QoS above 2 is a protocol
  violation (MQTT-3.8.1-1, MQTT-3-8.3-4): the connection is closed, not answered with a return code.
- Packets are read as they come, several in one pass of the event loop when a client sends faster
  than one a pass, and a malformed one closes the connection (`edgeway_common.mqtt_reader`). Each
  takes effect as it is read, in the order the client sent them: a QoS 0 PUBLISH is delivered
  (`IotBroker.deliver`) with no task of its own, and a SUBSCRIBE or UNSUBSCRIBE applied from the
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
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from amqtt.adapters import ReaderAdapter
from amqtt.errors import AMQTTError, NoDataError
from amqtt.mqtt.constants import QOS_1
from amqtt.mqtt.puback import PubackPacket
from amqtt.mqtt.subscribe import SubscribePacket
from amqtt.mqtt.unsubscribe import UnsubscribePacket
from amqtt.session import INCOMING, IncomingApplicationMessage, OutgoingApplicationMessage

from edgeway_common.mqtt_keep_alive import ReadClock
from edgeway_common.mqtt_publish_codec import Publish
from edgeway_common.mqtt_reader import PacketReader

log = logging.getLogger("edgeway.broker")
MAX_PENDING = 100  # IoT Core: at most 100 in-flight messages per connection
SUBSCRIBE_FLAGS = 0x02


class BrokerSide(Protocol):
    """The broker's side of a connection's packets: a SUBSCRIBE or UNSUBSCRIBE (the subscription
    table, the SUBACK or UNSUBACK, retained messages) and a client's PUBLISH (policy, fan-out, rules)."""

    async def apply_subscription(self, session: Any, handler: Any, subscription: Any) -> None: ...

    async def apply_unsubscription(self, session: Any, handler: Any, unsubscription: Any) -> None: ...

    async def deliver(self, session: Any, handler: Any, message: Any) -> bool:
        """False when the message breaks the protocol and the connection is to close."""
        ...

    def deliver_at_once(self, session: Any, topic: str, data: bytes) -> bool:
        """A QoS 0 PUBLISH without DUP or RETAIN, as `deliver` takes it; False, having done nothing,
        when its topic breaks the protocol (for `deliver` to close the connection)."""
        ...


class EdgeProtocolHandler(PacketReader):
    reader_log = log
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
        accepted: asyncio.Future[bool] = self._loop.create_future()  # amqtt's: the loop it was made on
        self.accepting[id(app_message)] = accepted
        await self._deliver(app_message)
        if not await accepted:
            return  # not taken (the connection is closing): the client sends it again
        puback = PubackPacket.build(app_message.packet_id)
        await self._send_packet(puback)
        app_message.puback_packet = puback

    def _publish_at_once(self, publish: Publish) -> bool:
        """A QoS 0 PUBLISH, what clients send most, goes to the broker as it is read, with no task, no
        message object and no await (`BrokerSide.deliver_at_once`); one whose topic breaks the
        protocol goes the long way, which closes the connection."""
        if self.broker_side is None or self.session is None:
            raise AMQTTError("a PUBLISH read before the connection was attached to the broker")
        return self.broker_side.deliver_at_once(self.session, publish.topic, publish.data)

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


class ConnectFirst(ReadClock):
    """A reader that refuses a connection whose first byte is not a CONNECT's: amqtt would parse any
    packet (or an HTTP request) as a CONNECT and wait for bytes that never come. As a `ReadClock` it
    notes when the client last sent anything, for the broker's keep-alive sweep."""

    def __init__(self, reader: ReaderAdapter, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(reader, clock)
        self._first = True

    def _arrived(self, data: bytes) -> None:
        super()._arrived(data)
        if self._first and data:
            self._first = False
            if data[0] != CONNECT_FIRST_BYTE:
                raise NoDataError(f"the first packet is not a CONNECT (first byte 0x{data[0]:02x})")
