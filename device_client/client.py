"""The device client: readings go into the durable outbox and leave from it in order, at most `window`
unacknowledged at a time; a connection that drops is made again after a jittered exponential backoff,
its subscriptions restored, and what was not acknowledged sent again from the oldest.

One pump thread owns the transport: it connects, sends, and deletes what the broker acknowledged. The
transport's callbacks only queue what happened and wake the pump (they run on the network thread and
must never wait for the pump, which may be inside the transport).
"""

from __future__ import annotations

import collections
import contextlib
import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from paho.mqtt.client import topic_matches_sub

from .backoff import Backoff
from .errors import ConnectError
from .outbox import Document, Outbox, Record
from .transport import Transport

log = logging.getLogger("edgeway.device")
MessageHandler = Callable[[str, bytes], None]
StateListener = Callable[[bool, str], None]
# Waits up to `seconds` on the event; True if it was set. Tests pass one that does not sleep.
Waiter = Callable[[threading.Event, float], bool]


def _wait(event: threading.Event, seconds: float) -> bool:
    return event.wait(seconds)


@dataclass
class ClientCounters:
    connects: int = 0
    disconnects: int = 0
    sent: int = 0
    acknowledged: int = 0
    dropped_offline_qos0: int = 0
    connect_failures: int = 0
    last_error: str = ""


@dataclass
class _Subscription:
    topic_filter: str
    qos: int
    handler: MessageHandler


@dataclass
class _Shared:
    """What the transport's thread hands to the pump."""

    acks: collections.deque[int] = field(default_factory=collections.deque)
    lost: bool = False
    lost_reason: str = ""


class DeviceClient:
    def __init__(
        self,
        transport: Transport,
        outbox: Outbox,
        *,
        window: int = 20,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        wait: Waiter = _wait,
        on_state: StateListener | None = None,
    ) -> None:
        self.transport, self.outbox, self.window = transport, outbox, window
        self.backoff = backoff or Backoff(rng=rng or random.Random())
        self.counters = ClientCounters()
        self._wait = wait
        self._listeners: list[StateListener] = [on_state] if on_state else []
        self._subscriptions: list[_Subscription] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._drained = threading.Condition(self._lock)
        self._shared = _Shared()
        self._connected = False
        self._inflight: dict[int, Record] = {}  # token -> record, pump thread only
        self._cursor = 0  # the highest seq sent on this connection
        self._thread: threading.Thread | None = None

    # -- the application's side ----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected

    def add_state_listener(self, listener: StateListener) -> None:
        self._listeners.append(listener)

    def publish(self, topic: str, document: Document, priority: int = 0) -> Record:
        """A QoS 1 reading: committed to the outbox before this returns, sent when connected."""
        record = self.outbox.append(topic, document, priority)
        self._wake.set()
        return record

    def publish_now(self, topic: str, payload: bytes, qos: int = 0) -> bool:
        """Sent only if connected now (requests such as a shadow get); False when it was not sent."""
        if not self._connected:
            self.counters.dropped_offline_qos0 += 1
            return False
        try:
            self.transport.publish(topic, payload, qos)
        except ConnectError:
            self.counters.dropped_offline_qos0 += 1
            return False
        return True

    def subscribe(self, topic_filter: str, handler: MessageHandler, qos: int = 1) -> None:
        """Kept for every connection: subscribed now if connected, and again after each reconnect."""
        subscription = _Subscription(topic_filter, qos, handler)
        with self._lock:
            self._subscriptions.append(subscription)
        if self._connected:
            with contextlib.suppress(ConnectError):  # else the next connection subscribes it
                self.transport.subscribe(topic_filter, qos)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._pump, name="device-pump", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.transport.disconnect()

    def wait_until_drained(self, timeout: float) -> bool:
        """True once the outbox is empty (everything acknowledged); False if `timeout` passes first."""
        with self._drained:
            return self._drained.wait_for(lambda: len(self.outbox) == 0, timeout)

    # -- the transport's side (network thread: record and wake, nothing else) -------------------

    def on_connection(self, connected: bool, reason: str) -> None:
        if not connected:
            with self._lock:
                self._shared.lost, self._shared.lost_reason = True, reason
            self._wake.set()

    def on_message(self, topic: str, payload: bytes) -> None:
        with self._lock:
            handlers = [s.handler for s in self._subscriptions if topic_matches_sub(s.topic_filter, topic)]
        for handler in handlers:
            try:
                handler(topic, payload)
            except Exception:  # a handler's bug must not end the connection
                log.exception("message handler failed", extra={"topic": topic})

    def on_acknowledged(self, token: int) -> None:
        with self._lock:
            self._shared.acks.append(token)
        self._wake.set()

    # -- the pump ------------------------------------------------------------------------------

    def _pump(self) -> None:
        while not self._stopping.is_set():
            if not self._connected and not self._connect():
                continue
            self._wake.clear()
            if self._take_loss():
                continue
            self._settle_acks()
            self._send_more()
            if len(self._inflight) >= self.window or not self.outbox.pending(self._cursor, 1):
                self._wait(self._wake, 1.0)

    def _connect(self) -> bool:
        try:
            self.transport.connect(self)
        except Exception as exc:  # ConnectError, or a transport's bug: either way, try again later
            self.counters.connect_failures += 1
            self.counters.last_error = str(exc)
            delay = self.backoff.next_delay()
            log.info("connect failed", extra={"error": str(exc), "retry_in_s": round(delay, 3)})
            self._wait(self._stopping, delay)
            return False
        with self._lock:
            self._shared = _Shared()
            subscriptions = list(self._subscriptions)
        self._inflight.clear()
        self._cursor = 0
        self.backoff.reset()
        try:
            for subscription in subscriptions:
                self.transport.subscribe(subscription.topic_filter, subscription.qos)
        except ConnectError:
            return False
        self._connected = True
        self.counters.connects += 1
        self._tell(True, "connected")
        return True

    def _take_loss(self) -> bool:
        with self._lock:
            lost, reason = self._shared.lost, self._shared.lost_reason
        if not lost:
            return False
        self._connected = False
        self.counters.disconnects += 1
        self.transport.disconnect()
        self._tell(False, reason)
        return True

    def _settle_acks(self) -> None:
        with self._lock:
            tokens = list(self._shared.acks)
            self._shared.acks.clear()
        done = [self._inflight.pop(t).seq for t in tokens if t in self._inflight]
        if done:
            self.outbox.remove(done)
            self.counters.acknowledged += len(done)
            with self._drained:
                self._drained.notify_all()

    def _send_more(self) -> None:
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        for record in self.outbox.pending(self._cursor, room):
            try:
                token = self.transport.publish(record.topic, record.payload, 1)
            except ConnectError as exc:
                with self._lock:
                    self._shared.lost, self._shared.lost_reason = True, str(exc)
                return
            self._inflight[token] = record
            self._cursor = record.seq
            self.counters.sent += 1

    def _tell(self, connected: bool, reason: str) -> None:
        for listener in list(self._listeners):
            try:
                listener(connected, reason)
            except Exception:
                log.exception("connection-state listener failed")
