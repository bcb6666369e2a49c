"""The core's one MQTT session to IoT Core (or a local broker), for PublishToIoTCore and SubscribeToIoTCore.

paho runs the socket in its own thread; everything it reports is handed to the
asyncio loop with `call_soon_threadsafe`, and all state lives on the loop.
Reconnects are ours, not paho's: exponential backoff from `backoff_min` to
`backoff_max` seconds, each delay scaled by a random factor in [0.5, 1) so a
fleet does not reconnect in step. On every connect the subscriptions are made
again and the spool is replayed from its oldest message, in order; QoS 1
messages leave the spool only on PUBACK (at least once: a message in flight
when the connection drops is sent again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edgeway_common.json_logs import log
from edgeway_common.topics import topic_matches

from .iot_endpoint import IotEndpoint
from .spool import Spool, SpooledMessage

KEEPALIVE_S = 30


@dataclass(frozen=True)
class InboundMessage:
    topic: str
    payload: bytes
    qos: int
    retain: bool


@dataclass(eq=False)
class _Subscriber:
    topic_filter: str
    qos: int
    deliver: Callable[[InboundMessage], None]


class IotCoreSession:
    def __init__(
        self,
        endpoint: IotEndpoint,
        client_id: str,
        spool: Spool,
        logger: logging.Logger,
        *,
        keep_qos0_when_offline: bool = False,
        backoff_min: float = 1.0,
        backoff_max: float = 120.0,
        rng: random.Random | None = None,
        window: int = 100,
    ) -> None:
        self.endpoint = endpoint
        self.spool = spool
        self._log = logger
        self._keep_qos0 = keep_qos0_when_offline
        self._backoff = (backoff_min, backoff_max)
        self._rng = rng or random.Random()
        self._window = window
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        if endpoint.tls:
            self._client.tls_set(
                ca_certs=str(endpoint.ca),
                certfile=str(endpoint.cert),
                keyfile=str(endpoint.key),
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        if endpoint.password:
            self._client.username_pw_set(client_id, endpoint.password)
        self._client.max_inflight_messages_set(window)
        self._client.on_connect = self._paho_connect
        self._client.on_disconnect = self._paho_disconnect
        self._client.on_message = self._paho_message
        self._client.on_publish = self._paho_publish
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: list[_Subscriber] = []
        self._inflight: dict[int, SpooledMessage] = {}
        self._connected = asyncio.Event()
        self._lost = asyncio.Event()
        self._work = asyncio.Event()
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self.connects = 0
        self._was_connected = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    # -- lifecycle ------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._tasks = [asyncio.create_task(self._connection_loop()), asyncio.create_task(self._drain_loop())]

    async def close(self) -> None:
        self._closing = True
        self._work.set()
        self._lost.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            self._client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, self._client.loop_stop)

    async def _connection_loop(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._closing:
            self._lost.clear()
            try:
                await loop.run_in_executor(
                    None, self._client.connect, self.endpoint.host, self.endpoint.port, KEEPALIVE_S
                )
                self._client.loop_start()
                await self._lost.wait()
            except OSError as exc:
                log(
                    self._log,
                    logging.WARNING,
                    "iot-connect-failed",
                    endpoint=str(self.endpoint),
                    error=str(exc),
                )
            await loop.run_in_executor(None, self._client.loop_stop)
            if self._closing:
                return
            attempt = 0 if self._was_connected else attempt + 1
            low, high = self._backoff
            delay = min(high, low * 2 ** max(attempt - 1, 0)) * self._rng.uniform(0.5, 1.0)
            log(self._log, logging.INFO, "iot-reconnect-wait", seconds=round(delay, 3), attempt=attempt)
            self._was_connected = False
            await asyncio.sleep(delay)

    # -- paho's thread hands everything to the loop ---------------------------

    def _call(self, callback: Callable[..., None], *args: Any) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(callback, *args)

    def _paho_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None
    ) -> None:
        self._call(self._on_connect, not reason.is_failure, str(reason))

    def _paho_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None
    ) -> None:
        self._call(self._on_disconnect, str(reason))

    def _paho_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self._call(
            self._dispatch,
            InboundMessage(message.topic, bytes(message.payload), message.qos, bool(message.retain)),
        )

    def _paho_publish(
        self, client: Any, userdata: Any, mid: int, reason: Any = None, properties: Any = None
    ) -> None:
        self._call(self._on_ack, mid)

    # -- on the loop ----------------------------------------------------------

    def _on_connect(self, ok: bool, reason: str) -> None:
        if not ok:
            log(self._log, logging.WARNING, "iot-connect-refused", endpoint=str(self.endpoint), reason=reason)
            self._lost.set()
            return
        self.connects += 1
        self._was_connected = True
        self._inflight.clear()
        filters = {
            s.topic_filter: max(x.qos for x in self._subscribers if x.topic_filter == s.topic_filter)
            for s in self._subscribers
        }
        if filters:
            self._client.subscribe(list(filters.items()))
        log(
            self._log,
            logging.INFO,
            "iot-connected",
            endpoint=str(self.endpoint),
            subscriptions=sorted(filters),
            spooled=self.spool.count(),
        )
        self._connected.set()
        self._work.set()

    def _on_disconnect(self, reason: str) -> None:
        if self._connected.is_set():
            log(self._log, logging.WARNING, "iot-disconnected", reason=reason, spooled=self.spool.count())
        elif not self._closing:
            # Closed before CONNACK. Over TLS this is how a broker refuses a client certificate after a
            # TLS 1.3 handshake, so say where to look.
            hint = (
                "is the certificate active and signed by a CA the endpoint trusts?"
                if self.endpoint.tls
                else ""
            )
            log(
                self._log,
                logging.WARNING,
                "iot-connect-failed",
                endpoint=str(self.endpoint),
                error=f"closed before CONNACK: {reason}",
                hint=hint,
            )
        self._connected.clear()
        self._inflight.clear()
        self._lost.set()
        self._work.set()

    def _dispatch(self, message: InboundMessage) -> None:
        for subscriber in list(self._subscribers):
            if topic_matches(subscriber.topic_filter, message.topic):
                subscriber.deliver(message)

    def _on_ack(self, mid: int) -> None:
        message = self._inflight.pop(mid, None)
        if message is not None:
            self.spool.remove(message)
        self._work.set()

    # -- publishing -----------------------------------------------------------

    async def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> str:
        """QoS 1 (and QoS 0 kept while offline) is accepted once durable in the spool.

        Returns what happened: `sent`, `spooled` or `dropped` (QoS 0 while offline, not kept).
        """
        if qos == 0 and self.connected and self.spool.empty:
            self._client.publish(topic, payload, qos=0, retain=retain)
            return "sent"
        if qos == 0 and not self.connected and not self._keep_qos0:
            self.spool.dropped_qos0 += 1
            log(
                self._log,
                logging.INFO,
                "iot-qos0-dropped-offline",
                topic=topic,
                dropped=self.spool.dropped_qos0,
            )
            return "dropped"
        self.spool.add(topic, payload, qos, retain)
        self._work.set()
        return "spooled"

    async def _drain_loop(self) -> None:
        last_sent = 0
        while not self._closing:
            await self._work.wait()
            self._work.clear()
            if not self.connected:
                last_sent = 0  # after a reconnect, replay from the oldest unacknowledged message
                continue
            if len(self._inflight) >= self._window:
                continue
            if not self._inflight:
                last_sent = 0
            for message in self.spool.oldest(self._window - len(self._inflight), after=last_sent):
                info = self._client.publish(
                    message.topic, message.payload, qos=message.qos, retain=message.retain
                )
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    break
                last_sent = message.id
                if message.qos == 0:
                    self.spool.remove(message)
                else:
                    self._inflight[info.mid] = message
                    if info.is_published():
                        self._on_ack(info.mid)
            else:
                if self.spool.count() > len(self._inflight):
                    self._work.set()

    # -- subscribing ----------------------------------------------------------

    def subscribe(
        self, topic_filter: str, qos: int, deliver: Callable[[InboundMessage], None]
    ) -> Callable[[], None]:
        subscriber = _Subscriber(topic_filter, qos, deliver)
        first = not any(s.topic_filter == topic_filter for s in self._subscribers)
        self._subscribers.append(subscriber)
        if first and self.connected:
            self._client.subscribe(topic_filter, qos)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
                if self.connected and not any(s.topic_filter == topic_filter for s in self._subscribers):
                    self._client.unsubscribe(topic_filter)

        return unsubscribe

    @property
    def subscription_count(self) -> int:
        return len(self._subscribers)
