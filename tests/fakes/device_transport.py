"""An in-process broker and transport for the device client: what was delivered, in order, and
connections that drop when told to, with the last PUBACKs lost (so the client must resend)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from device_client.errors import ConnectError
from device_client.transport import TransportEvents


@dataclass
class FakeBroker:
    up: bool = True
    delivered: list[tuple[str, bytes]] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)
    connects: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FakeTransport:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self._events: TransportEvents | None = None
        self._token = 0
        self._drop_after: int | None = None
        self._lose_acks = 0

    def drop_after(self, publishes: int, lose_acks: int = 0) -> None:
        """The connection ends after `publishes` more deliveries; the last `lose_acks` get no PUBACK."""
        with self.broker.lock:
            self._drop_after, self._lose_acks = publishes, lose_acks

    def connect(self, events: TransportEvents) -> None:
        if not self.broker.up:
            raise ConnectError("fake broker is down")
        self._events = events
        with self.broker.lock:
            self.broker.connects += 1
        events.on_connection(True, "connected")

    def disconnect(self) -> None:
        self._events = None

    def publish(self, topic: str, payload: bytes, qos: int) -> int:
        events = self._events
        if events is None:
            raise ConnectError("not connected")
        self._token += 1
        acked, dropped = True, False
        with self.broker.lock:
            self.broker.delivered.append((topic, payload))
            if self._drop_after is not None:
                self._drop_after -= 1
                acked = self._drop_after >= self._lose_acks
                if self._drop_after <= 0:
                    self._drop_after = None
                    dropped = True
        if dropped:
            self._events = None
            events.on_connection(False, "fake connection dropped")
            return self._token
        if acked and qos == 1:
            events.on_acknowledged(self._token)
        return self._token

    def subscribe(self, topic_filter: str, qos: int) -> None:
        if self._events is None:
            raise ConnectError("not connected")
        with self.broker.lock:
            self.broker.subscriptions.append(topic_filter)
