"""The embedded broker: amqtt on TCP and WebSocket (`/mqtt` only), with what IoT Core adds and what
MQTT 3.1.1 requires where amqtt falls short.

Connections (`_initialize_client_session`, `_handle_client_session`). Nothing changes for an existing
connection until the new one has authenticated: amqtt deletes or takes over the old session as soon as
it reads a CONNECT. Once authenticated, a second connection with the same client id replaces the
first (MQTT-3.1.4-2, IoT Core): the older one is closed with a `disconnected` event whose reason is
DUPLICATE_CLIENTID, and the new one gets the session (its subscriptions and queued messages when
clean session is false). A connection that sends anything but a valid CONNECT first, or no whole
CONNECT within `CONNECT_SECONDS`, is closed. The
authorizer's disconnectAfterInSeconds and refreshAfterInSeconds are honoured (`gate`).

Messages (`deliver`, `fan_out`). amqtt refuses every client publish to a `$`
topic and closes the connection; IoT Core accepts the device shadow API there, so a shadow request the
client's policy allows goes to the shadow service. Messages over IoT Core's 128 KB are dropped. A QoS 1
publish is acknowledged once the rules' writes have committed (`protocol`). A retained publish needs
iot:RetainPublish as well as iot:Publish, as in IoT Core. A subscriber gets a
message at the lower of the published QoS and its subscription's; a persistent session that is away
keeps what it gets at QoS 1 (up to `MAX_QUEUED`) for `SESSION_EXPIRY_SECONDS`; a connection that
stops reading gets at most `protocol.MAX_PENDING` messages in flight (QoS 0 on TCP: `MAX_BUFFERED_BYTES`
unwritten), the rest dropped and counted. Who gets a topic (matching filters, policies that let the
subscriber receive it, the connections) is worked out once per topic and kept until a subscription, a
connection or what a policy allows changes (`_route`); amqtt matches every filter and the gate asked
every subscriber's policy for every message. A QoS 0 message is encoded once and the same bytes written
to every TCP subscriber (`fan_out`); amqtt builds, encodes and schedules a task per subscriber. A
client's messages are delivered as its connection reads them (`protocol`, `deliver`), several in one
pass of the event loop for a burst, and each subscriber gets what one pass has for it in one write
(`_write_unwritten`): a burst costs a system call per subscriber, not one per message and subscriber,
and a burst on one topic joins its packets once for all of them.

These overrides use amqtt's internals, which is why its version is pinned in pyproject.toml.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from http import HTTPStatus
from itertools import groupby
from operator import itemgetter
from typing import Any

import websockets
from amqtt.adapters import StreamWriterAdapter
from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.contexts import Action, ListenerType
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.constants import QOS_0
from amqtt.mqtt.disconnect import DisconnectPacket
from amqtt.utils import gen_client_id

from cloud_backend.broker import jobs_service
from cloud_backend.broker.gate import MAX_MESSAGE_BYTES, Connection, Gate
from cloud_backend.broker.jobs_service import JobsService
from cloud_backend.broker.policy import PUBLISH, RECEIVE, RETAIN_PUBLISH, SUBSCRIBE
from cloud_backend.broker.protocol import MAX_PENDING, ConnectFirst, EdgeProtocolHandler
from cloud_backend.broker.shadow_service import ShadowService, parse_topic
from edgeway_common.mqtt_keep_alive import SWEEP_SECONDS, silent_sessions
from edgeway_common.mqtt_publish_codec import encode_publish_qos0

log = logging.getLogger("edgeway.broker")
WS_PATH = "/mqtt"
_HEALTH = re.compile(r"^\$aws/things/(?P<thing>[A-Za-z0-9:_-]{1,128})/greengrassv2/health/json$")
SESSION_EXPIRY_SECONDS = 3600  # IoT Core's default for a persistent session
MAX_QUEUED = 10_000  # messages a persistent session that is away keeps
TAKEOVER_SECONDS = 10.0
MAX_BUFFERED_BYTES = 1 << 20  # QoS 0 bytes a connection may have unwritten before its deliveries drop
CONNECT_SECONDS = 10.0  # a connection that sends no whole CONNECT in this time is closed
MAX_ROUTES = 4096  # topics whose receivers are kept worked out; past this the table starts again
_ACTIONS = {Action.PUBLISH: PUBLISH, Action.SUBSCRIBE: SUBSCRIBE, Action.RECEIVE: RECEIVE}


def broker_config(mqtt_port: int, ws_port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    listeners: dict[str, Any] = {"default": {"type": "tcp", "bind": f"{host}:{mqtt_port}"}}
    if ws_port:
        listeners["ws"] = {"type": "ws", "bind": f"{host}:{ws_port}"}
    return {"listeners": listeners, "plugins": {}, "session_expiry_interval": SESSION_EXPIRY_SECONDS}


def _only_mqtt_path(connection: Any, request: Any) -> Any:
    if request.path.split("?", 1)[0] != WS_PATH:
        return connection.respond(HTTPStatus.NOT_FOUND, f"MQTT over WebSocket is served at {WS_PATH}\n")
    return None


class IotBroker(Broker):  # type: ignore[misc]
    def __init__(
        self,
        config: dict[str, Any],
        gate: Gate,
        shadows: ShadowService,
        jobs: JobsService | None = None,
        fleet_status: Callable[[str, bytes], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(config, **kwargs)
        self.gate, self.shadows, self.jobs, self.fleet_status = gate, shadows, jobs, fleet_status
        self._deliveries: set[asyncio.Future[Any]] = set()
        self._unwritten: list[tuple[_Direct, bytes]] = []  # QoS 0 packets of this pass, and to whom
        self._writing = False  # a `_write_unwritten` is scheduled
        self._handed: list[Callable[[], None]] = []  # `after_writes` jobs of this pass, not yet staged
        self._staged: list[Callable[[], None]] = []  # jobs the next `_write_unwritten` runs after writing
        self._keep_alive_sweep: asyncio.Task[None] | None = None
        self._routes: dict[str, _Route] = {}  # topic -> who gets it (`_route`)
        self._routes_gate = -1  # the gate's generation `_routes` was worked out at

    async def start(self) -> None:
        await super().start()
        self._routes.clear()  # amqtt's start empties the subscriptions
        self._keep_alive_sweep = asyncio.get_running_loop().create_task(self._sweep_keep_alive())

    async def shutdown(self) -> None:
        if self._keep_alive_sweep is not None:
            self._keep_alive_sweep.cancel()
        await super().shutdown()

    async def _sweep_keep_alive(self) -> None:
        """Closes each connection that sent nothing for 1.5 times its keep-alive (MQTT-3.1.2-24), with
        IoT Core's disconnect reason."""
        while True:
            await asyncio.sleep(SWEEP_SECONDS)
            for client_id, _, _ in silent_sessions(self._sessions, time.monotonic()):
                connection = self.gate.current(client_id)
                if connection is not None:
                    self._close(connection, "MQTT_KEEP_ALIVE_TIMEOUT")

    async def _create_server_instance(
        self,
        listener_name: str,
        listener_type: Any,
        address: str | None,
        port: int,
        ssl_context: ssl.SSLContext | None,
    ) -> Any:
        if listener_type != ListenerType.WS:
            return await super()._create_server_instance(
                listener_name, listener_type, address, port, ssl_context
            )
        return await websockets.serve(
            lambda ws: self.ws_connected(ws, listener_name),
            address,
            port,
            ssl=ssl_context,
            subprotocols=[websockets.Subprotocol("mqtt")],
            process_request=_only_mqtt_path,
        )

    # -- connections -------------------------------------------------------------------------

    async def _initialize_client_session(
        self, reader: Any, writer: Any, remote_address: str, remote_port: int
    ) -> tuple[EdgeProtocolHandler, Any]:
        """Reads the CONNECT; touches no existing session (that waits for authentication)."""
        reading = ConnectFirst(reader)
        try:
            handler, session = await asyncio.wait_for(
                EdgeProtocolHandler.init_from_connect(reading, writer, self.plugins_manager),
                CONNECT_SECONDS,
            )
        except (AMQTTError, MQTTError, NoDataError, TimeoutError) as exc:
            log.info(
                "connection closed: the first packet is not a valid CONNECT",
                extra={"address": f"{remote_address}:{remote_port}", "error": str(exc)[:200]},
            )
            with contextlib.suppress(Exception):
                await writer.close()
            raise AMQTTError(str(exc)) from exc
        if not session.client_id:
            session.client_id = gen_client_id()
        session.parent = 0
        handler.reading = reading  # attached in place of `reader`, so the keep-alive sweep sees reads
        return handler, session

    async def _handle_client_session(
        self, reader: Any, writer: Any, client_session: Any, handler: Any, server: Any, listener_name: str
    ) -> None:
        connection = await self.gate.authenticate(client_session)
        if connection is None:
            handler.attach(client_session, reader, writer)
            await handler.mqtt_connack_authorize(False)
            await writer.close()
            return
        client_id = client_session.client_id
        await self._end_previous(client_id)
        session = self._session_for(client_session)
        if session.transitions.is_connected():  # the old connection did not end in time
            session.transitions.disconnect()
        session.transitions.connect()
        handler.attach(session, getattr(handler, "reading", reader), writer)
        handler.broker_side = self
        if isinstance(writer, StreamWriterAdapter):
            handler.tcp_transport = writer._writer.transport
        self._sessions[client_id] = (session, handler)
        self.gate.activate(connection, handler, self._close)
        await handler.mqtt_connack_authorize(True)
        self.gate.connected(session)
        await handler.start()
        await self._publish_session_retained_messages(session)
        # Retained messages go to a client when it subscribes (MQTT-3.3.1-6), each checked against its
        # iot:Receive; amqtt also sent, at every connect, those of every filter anyone subscribed to.
        await self._client_message_loop(session, handler)

    async def _end_previous(self, client_id: str) -> None:
        """MQTT-3.1.4-2: the older connection of a client id goes when a newer one authenticates."""
        previous = self.gate.current(client_id)
        if previous is None or not previous.online:
            return
        previous.reason = "DUPLICATE_CLIENTID"
        await previous.handler.handle_connection_closed()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(previous.closed.wait(), TAKEOVER_SECONDS)

    def _session_for(self, incoming: Any) -> Any:
        """The new connection's own session, or (clean session false) the one the client id kept."""
        kept = self._sessions.get(incoming.client_id)
        if incoming.clean_session or kept is None:
            if kept is not None:
                self._forget_session(incoming.client_id)
            return incoming
        session = kept[0]
        for name in ("will_flag", "will_message", "will_topic", "will_qos", "will_retain", "keep_alive"):
            setattr(session, name, getattr(incoming, name))
        session.username, session.password = incoming.username, incoming.password
        session.remote_address, session.remote_port = incoming.remote_address, incoming.remote_port
        session.parent = 1
        return session

    def _forget_session(self, client_id: str) -> None:
        session = self._sessions.pop(client_id, (None, None))[0]
        if session is not None:
            for topic in list(self._subscriptions):
                self._del_subscription(topic, session)
                if not self._subscriptions[topic]:
                    del self._subscriptions[topic]
            session.clear_queues()
        self.gate.forget(client_id)

    async def _cleanup_session(self, client_id: str) -> None:
        await super()._cleanup_session(client_id)
        self.gate.forget(client_id)  # an expired persistent session: its authority goes with it

    def _close(self, connection: Connection, reason: str) -> None:
        """Ends a live connection for the broker's own reason (its authorization lapsed)."""
        if self.gate.current(connection.client_id) is not connection or not connection.online:
            return
        connection.reason = reason
        log.info(
            "connection closed by the broker", extra={"client_id": connection.client_id, "reason": reason}
        )
        task = asyncio.get_running_loop().create_task(connection.handler.handle_connection_closed())
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _handle_disconnect(self, client_session: Any, handler: Any, disconnect_waiter: Any) -> None:
        clean = isinstance(disconnect_waiter.result(), DisconnectPacket)
        await super()._handle_disconnect(client_session, handler, disconnect_waiter)
        self.gate.disconnected(client_session, handler, clean, persistent=not client_session.clean_session)
        if handler.dropped or handler.unacknowledged:
            log.info(
                "deliveries lost to a slow or silent client",
                extra={
                    "client_id": client_session.client_id,
                    "dropped": handler.dropped,
                    "unacknowledged": handler.unacknowledged,
                },
            )

    # -- messages ------------------------------------------------------------------------------

    async def _topic_filtering(self, session: Any, topic: str, action: Action) -> bool:
        """Subscribe decisions, straight to the gate (amqtt's own path gathers a task per plugin)."""
        return self.gate.decide(session, _ACTIONS[action], topic)

    async def add_subscription(self, subscription: tuple[str, int], session: Any) -> int:
        granted: int = await super().add_subscription(subscription, session)
        self._routes.clear()
        return granted

    def _del_subscription(self, a_filter: str, session: Any) -> int:
        deleted: int = super()._del_subscription(a_filter, session)
        self._routes.clear()
        return deleted

    async def apply_subscription(self, session: Any, handler: Any, subscription: Any) -> None:
        await self._handle_subscription(session, handler, _resolved(subscription))

    async def apply_unsubscription(self, session: Any, handler: Any, unsubscription: Any) -> None:
        await self._handle_unsubscription(session, handler, _resolved(unsubscription))

    async def _handle_message_delivery(self, client_session: Any, handler: Any, wait_deliver: Any) -> bool:
        """What still comes through amqtt's message loop (QoS 2): the connection's reader delivers the
        rest itself (`protocol`)."""
        return await self.deliver(client_session, handler, wait_deliver.result())

    async def deliver(self, client_session: Any, handler: Any, message: Any) -> bool:
        """A client's PUBLISH, as its connection reads it (`protocol`): False when the topic breaks the
        protocol and the connection is to close."""
        accepted = handler.accepted(message) if isinstance(handler, EdgeProtocolHandler) else None
        durable: list[Future[Any]] = []
        try:
            if message is None:
                return True
            topic = message.topic
            data = bytes(message.data or b"")
            retain = message.publish_packet is not None and bool(message.publish_packet.retain_flag)
            taken = self._taken(client_session, topic, data, retain)
            if taken is None:
                return False
            if taken:
                self.fan_out(topic, data, message.qos or QOS_0)
                if retain:
                    await self.retain_message(client_session, topic, data, message.qos)
                durable = self.gate.accepted(client_session.client_id, topic, data)
            return True
        finally:
            if accepted is not None:
                self._acknowledge_when_kept(accepted, durable)

    def deliver_at_once(self, session: Any, topic: str, data: bytes) -> bool:
        """A QoS 0 PUBLISH without DUP or RETAIN, as `deliver` takes it, with no message object and
        no await; False, having done nothing, when its topic breaks the protocol."""
        taken = self._taken(session, topic, data, False)
        if taken is None:
            return False
        if taken:
            self.fan_out(topic, data, QOS_0)
            self.gate.accepted(session.client_id, topic, data)
        return True

    def _taken(self, session: Any, topic: str, data: bytes, retain: bool) -> bool | None:
        """Whether a client's PUBLISH goes on to the subscribers and the rules: None when its topic
        breaks the protocol (the connection is to close); False when it was refused (and the client
        told) or is a request to the reserved topics (and was handled)."""
        if not topic or "#" in topic or "+" in topic:  # MQTT-4.7.3-1, MQTT-3.3.2-2: close
            return None
        if len(data) > MAX_MESSAGE_BYTES:
            self.gate.publish_refused(session, topic, f"message over {MAX_MESSAGE_BYTES} bytes")
        elif topic.startswith("$"):
            self._reserved(session, topic, data)
        elif not self.gate.decide(session, PUBLISH, topic):
            self.gate.publish_refused(session, topic, "not allowed to publish")
        elif retain and not self.gate.decide(session, RETAIN_PUBLISH, topic):
            self.gate.publish_refused(session, topic, "not allowed to publish retained messages")
        else:
            return True
        return False

    def _acknowledge_when_kept(self, accepted: asyncio.Future[bool], durable: list[Future[Any]]) -> None:
        if not durable:
            if not accepted.done():
                accepted.set_result(True)
            return
        waiting = asyncio.gather(*(asyncio.wrap_future(f) for f in durable), return_exceptions=True)

        def kept(_: Any) -> None:
            if not accepted.done():
                accepted.set_result(True)

        waiting.add_done_callback(kept)

    def _reserved(self, session: Any, topic: str, payload: bytes) -> None:
        """`$aws/...`: the device shadow and jobs APIs take their requests here, nothing else does."""
        shadow = parse_topic(topic)
        job = jobs_service.parse_topic(topic) if shadow is None and self.jobs is not None else None
        health = _HEALTH.match(topic) if self.fleet_status is not None else None
        if health is not None and self.gate.decide(session, PUBLISH, topic):
            assert self.fleet_status is not None
            self.fleet_status(health["thing"], payload)  # a core's fleet status: the Greengrass service's
            return
        if shadow is None and job is None:
            self.gate.publish_refused(session, topic, "not a topic clients may publish to")
        elif not self.gate.decide(session, PUBLISH, topic):
            self.gate.publish_refused(session, topic, "not allowed to publish")
        elif shadow is not None:
            self.shadows.handle(shadow, payload)
        elif job is not None and self.jobs is not None:
            self.jobs.handle(job, payload)

    async def _broadcast_message(
        self, session: Any, topic: str | None, data: bytes | bytearray | None, force_qos: int | None = None
    ) -> None:
        """Fans the message out at once, in the order messages come: amqtt queues each one for a loop
        that starts a task and an `asyncio.wait` per message."""
        if topic:
            self.fan_out(topic, bytes(data or b""), force_qos or QOS_0)

    async def _run_broadcast(self, running_tasks: Any) -> None:
        broadcast = await self._broadcast_queue.get()  # nothing queues here now; kept for amqtt's loop
        self.fan_out(broadcast["topic"], broadcast["data"], broadcast.get("qos") or QOS_0)

    def fan_out(self, topic: str, data: bytes, published: int) -> None:
        """To every subscriber whose filter matches and whose policy lets it receive the topic: a QoS
        0 delivery on TCP (MQTT-3.8.4: the lower of the published and the granted QoS) is the packet
        encoded once, written with the rest of this pass (`_write_unwritten`); any other is
        delivered on its own (`_deliver_to`)."""
        self.fan_out_all(topic, (data,), published)

    def fan_out_all(self, topic: str, messages: Sequence[bytes], published: int) -> None:
        """`fan_out` of each of `messages`, in order, all on `topic` at the same QoS: the route worked
        out once for them (a burst of republishes to one room)."""
        route = self._route(topic)
        if published == QOS_0:
            direct, one_by_one = route.tcp, route.not_tcp
        else:
            direct, one_by_one = route.tcp_granted_qos_0, route.rest
        if not direct and not one_by_one:  # nobody (chat/out: the rules take it from here)
            return
        if not one_by_one:
            self._unwritten += [(direct, encode_publish_qos0(topic, data)) for data in messages]
            self._schedule_writes()
            return
        for data in messages:
            encoded = _Encoded(topic, data)
            if direct:
                self._unwritten.append((direct, encoded.packet()))
                self._schedule_writes()
            for target, granted in one_by_one:
                self._deliver_to(target, min(published, granted), encoded)

    def _deliver_to(self, target: Any, qos: int, encoded: _Encoded) -> None:
        """One subscriber's delivery, its state looked up now: a connection that has gone since the
        route was worked out, a persistent session that is away, QoS 1, MQTT over WebSocket."""
        topic, data = encoded.topic, encoded.data
        if target.transitions.state != "connected":
            if not target.clean_session and qos > QOS_0:
                self._queue_for_later(target, topic, data, qos)
            return
        handler = self._get_handler(target)
        if handler is None:
            return
        if qos == QOS_0 and handler.tcp_transport is not None:
            self._unwritten.append((((handler, handler.tcp_transport),), encoded.packet()))
            self._schedule_writes()
        else:
            self._deliver(handler, topic, data, qos)

    def _route(self, topic: str) -> _Route:
        """Who a message on `topic` goes to: the subscriptions whose filter matches it, of subscribers
        whose policy lets them receive it, each with its connection's handler and TCP transport as
        they were when the route was worked out (`_write_unwritten` writes there while the transport
        is open; anything else is looked up again). Worked out once per topic, until a subscription
        changes (`add_subscription`, `_del_subscription`) or a connection or what it may do does
        (`Gate.generation`: an activation, refresh, disconnect or forgotten session)."""
        if self._routes_gate != self.gate.generation:
            self._routes.clear()
            self._routes_gate = self.gate.generation
        route = self._routes.get(topic)
        if route is None:
            receivers: list[tuple[Any, int, Any, Any]] = []
            for topic_filter, subscriptions in self._subscriptions.items():
                if not self._matches(topic, topic_filter):
                    continue
                for target, granted in subscriptions:
                    if not self.gate.may(target, RECEIVE, topic):
                        continue
                    connected = target.transitions.state == "connected"
                    handler = self._get_handler(target) if connected else None
                    receivers.append((target, granted, handler, getattr(handler, "tcp_transport", None)))
            if len(self._routes) >= MAX_ROUTES:
                self._routes.clear()
            route = self._routes[topic] = _Route(receivers)
        return route

    def _write_unwritten(self) -> None:
        """Writes what this pass delivered at QoS 0 on TCP: each connection what it gets in one write.
        When every message went the same way (a burst on one topic), the same joined bytes go to
        every connection; else each connection's packets are gathered in order."""
        self._writing = False
        unwritten, self._unwritten = self._unwritten, []
        staged, self._staged = self._staged, []
        if unwritten:
            first, same = unwritten[0][0], True
            for direct, _ in unwritten:
                if direct is not first:
                    same = False
                    break
            if same:
                data = unwritten[0][1] if len(unwritten) == 1 else b"".join([p for _, p in unwritten])
                for handler, transport in first:
                    self._write(handler, transport, data, len(unwritten))
            else:
                self._write_each(unwritten)
        for job in staged:
            try:
                job()
            except Exception:
                log.exception("a job run after the writes failed")

    def _write_each(self, unwritten: list[tuple[_Direct, bytes]]) -> None:
        gathered: dict[Any, tuple[Any, list[bytes]]] = {}  # transport -> (handler, its packets)
        for direct, packet in unwritten:
            for handler, transport in direct:
                entry = gathered.get(transport)
                if entry is None:
                    gathered[transport] = (handler, [packet])
                else:
                    entry[1].append(packet)
        for transport, (handler, packets) in gathered.items():
            self._write(
                handler, transport, packets[0] if len(packets) == 1 else b"".join(packets), len(packets)
            )

    def _write(self, handler: Any, transport: Any, data: bytes, messages: int) -> None:
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_BUFFERED_BYTES:
            self._count_drop(handler, messages)
            return
        transport.write(data)

    def after_writes(self, job: Callable[[], None]) -> None:
        """Runs `job` on the loop once the deliveries this pass of the loop makes are written, among
        them the fan-out of a republish the same rules asked for (queued as a callback of its own).
        For a job that wakes a worker thread: woken while the loop writes, the worker takes the GIL at
        each `send()` the loop makes, and the two hand it back and forth for every subscriber."""
        if not self._handed:
            self._loop.call_soon(self._stage)  # amqtt's: the loop the broker was made on
        self._handed.append(job)

    def _stage(self) -> None:
        """After the callbacks queued ahead of it: the jobs go with the next writes."""
        self._staged += self._handed
        self._handed = []
        self._schedule_writes()

    def _schedule_writes(self) -> None:
        if not self._writing:
            self._writing = True
            # not asyncio.get_running_loop(): on Python 3.11 each call is a getpid() system call
            self._loop.call_soon(self._write_unwritten)

    def _queue_for_later(self, session: Any, topic: str, data: bytes, qos: int) -> None:
        if session.retained_messages.qsize() >= MAX_QUEUED:
            log.info("message dropped: the session's queue is full", extra={"client_id": session.client_id})
            return
        session.retained_messages.put_nowait(RetainedApplicationMessage(None, topic, data, qos))

    def _count_drop(self, handler: Any, messages: int = 1) -> None:
        before = handler.dropped
        handler.dropped += messages
        if any(before < mark <= handler.dropped for mark in (1, 10, 100)) or (
            before // 1000 < handler.dropped // 1000
        ):
            log.info(
                "deliveries dropped: the client is not reading",
                extra={"client_id": handler.session.client_id, "dropped": handler.dropped},
            )

    def _deliver(self, handler: Any, topic: str, data: bytes, qos: int) -> None:
        if handler.pending >= MAX_PENDING:
            self._count_drop(handler)
            return
        handler.pending += 1
        task = asyncio.ensure_future(handler.mqtt_publish(topic, data, qos, retain=False))
        self._deliveries.add(task)

        def done(finished: asyncio.Future[Any]) -> None:
            self._deliveries.discard(finished)
            handler.pending -= 1
            if not finished.cancelled() and finished.exception() is not None:
                handler.unacknowledged += 1  # no PUBACK in time, or the connection went

        task.add_done_callback(done)

    async def _publish_retained_messages_for_subscription(self, subscription: Any, session: Any) -> None:
        handler = self._get_handler(session)
        if handler is None:
            return
        topic_filter, granted = subscription
        for topic, retained in list(self._retained_messages.items()):
            if self._matches(topic, topic_filter) and self.gate.may(session, RECEIVE, topic):
                self._deliver(handler, topic, bytes(retained.data), min(granted, retained.qos or QOS_0))

    async def _publish_session_retained_messages(self, session: Any) -> None:
        """What a persistent session kept while away, in order, as ordinary (not retained) messages."""
        handler = self._get_handler(session)
        if handler is None:
            return
        while not session.retained_messages.empty():
            kept = session.retained_messages.get_nowait()
            while handler.pending >= MAX_PENDING:
                await asyncio.sleep(0.01)
            self._deliver(handler, kept.topic, bytes(kept.data), kept.qos or QOS_0)


def _resolved(value: Any) -> asyncio.Future[Any]:
    """What amqtt's subscription handlers take: the future its loop waited on, here already done."""
    future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


_Direct = tuple[tuple[Any, Any], ...]  # (handler, TCP transport) of each connection a packet is written to


class _Route:
    """Who gets a topic, by how `fan_out` reaches them: `tcp`, the (handler, transport) of each
    receiver on TCP, for a QoS 0 message; `tcp_granted_qos_0`, those of them whose subscription is
    QoS 0, for a message published at QoS 1; and the (session, granted QoS) of the rest each time, to
    be delivered one by one. No connection is in `tcp` twice, so that a burst's joined packets can go
    to each as they are; a connection two of whose filters match the topic gets the message once for
    each (MQTT 3.1.1 allows it; amqtt does so), and then every receiver of the topic is delivered
    one by one."""

    __slots__ = ("not_tcp", "rest", "tcp", "tcp_granted_qos_0")

    def __init__(self, receivers: list[tuple[Any, int, Any, Any]]) -> None:
        on_tcp = [t for _, _, _, t in receivers if t is not None]
        if len(set(on_tcp)) < len(on_tcp):
            receivers = [(s, g, None, None) for s, g, _, _ in receivers]
        self.tcp: _Direct = tuple((h, t) for _, _, h, t in receivers if t is not None)
        self.not_tcp = tuple((s, g) for s, g, _, t in receivers if t is None)
        self.tcp_granted_qos_0: _Direct = tuple(
            (h, t) for _, g, h, t in receivers if t is not None and g == QOS_0
        )
        self.rest = tuple((s, g) for s, g, _, t in receivers if t is None or g != QOS_0)


class _Encoded:
    """A message, and its QoS 0 PUBLISH encoded the first time a subscriber needs it."""

    __slots__ = ("_packet", "data", "topic")

    def __init__(self, topic: str, data: bytes) -> None:
        self.topic, self.data = topic, data
        self._packet: bytes | None = None

    def packet(self) -> bytes:
        if self._packet is None:
            self._packet = encode_publish_qos0(self.topic, self.data)
        return self._packet


class LoopBus:
    """Publishing from the backend (any thread): to subscribers through the broker, and to the rules."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.broker: IotBroker | None = None  # both set once built: the rules publish through this bus
        self.rules: Callable[[str, bytes, str], Any] | None = None
        self._loop_thread: int | None = None
        self._queued: list[tuple[str, bytes, str, int]] = []  # published on the loop, not yet delivered

    def publish(self, topic: str, payload: bytes, client_id: str = "", qos: int = 0) -> None:
        """From the loop's own thread (the rules' republish) the message waits only for the current
        callback to end, with the others published meanwhile (one callback for a burst's republishes,
        not one each); from any other thread the loop is woken for it."""
        if self._on_loop():
            self._queued.append((topic, payload, client_id, qos))
            if len(self._queued) == 1:
                self.loop.call_soon(self._publish_queued)
        else:
            self.loop.call_soon_threadsafe(self._publish_now, topic, payload, client_id, qos)

    def _publish_queued(self) -> None:
        """What the rules republished during the last callbacks, in order; each run of messages to the
        same topic at the same QoS (a burst's republishes to one room) fanned out together
        (`IotBroker.fan_out_all`: the route found once, not once a message), then seen by the rules
        one by one. What these publish in turn is queued for the next callback."""
        queued, self._queued = self._queued, []
        for (topic, qos), grouped in groupby(queued, key=itemgetter(0, 3)):
            run = list(grouped)
            try:
                if self.broker is not None:
                    self.broker.fan_out_all(topic, [payload for _, payload, _, _ in run], qos or QOS_0)
            except Exception:  # as the loop would for a callback of its own: the rest still go
                log.exception("messages from the backend failed to publish", extra={"topic": topic})
            if self.rules is not None:
                for _, payload, client_id, _ in run:
                    try:
                        self.rules(topic, payload, client_id)
                    except Exception:
                        log.exception("the rules failed on a backend message", extra={"topic": topic})

    def after_delivery(self, job: Callable[[], None]) -> None:
        """Runs `job` once what the loop is delivering now is written (`IotBroker.after_writes`); off
        the loop's thread, or with no broker, at once."""
        if self.broker is not None and self._on_loop():
            self.broker.after_writes(job)
        else:
            job()

    def _on_loop(self) -> bool:
        if self._loop_thread is None and self.loop.is_running():
            with contextlib.suppress(RuntimeError):
                if asyncio.get_running_loop() is self.loop:
                    self._loop_thread = threading.get_ident()
        return threading.get_ident() == self._loop_thread

    def _publish_now(self, topic: str, payload: bytes, client_id: str, qos: int) -> None:
        if self.broker is not None:
            self.broker.fan_out(topic, payload, qos or QOS_0)
        if self.rules is not None:
            self.rules(topic, payload, client_id)
