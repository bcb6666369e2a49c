"""The one interface between the device client and the network. `PahoTransport` is the real one;
tests pass an in-process fake. A transport is used by one thread (the client's pump) and reports
back through `TransportEvents`, whose methods must return at once (they run on the network thread)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class TransportEvents(Protocol):
    def on_connection(self, connected: bool, reason: str) -> None: ...

    def on_message(self, topic: str, payload: bytes) -> None: ...

    def on_acknowledged(self, token: int) -> None:
        """The broker acknowledged the QoS 1 publish that `publish` returned `token` for."""


class Transport(Protocol):
    def connect(self, events: TransportEvents) -> None:
        """Connects and returns once the broker accepted; ConnectError naming why if it did not."""

    def disconnect(self) -> None: ...

    def publish(self, topic: str, payload: bytes, qos: int) -> int:
        """Sends; returns the token `on_acknowledged` reports for QoS 1. ConnectError if not connected."""

    def subscribe(self, topic_filter: str, qos: int) -> None: ...


@dataclass(frozen=True)
class TlsFiles:
    """Mutual TLS as IoT Core and a core's local broker want it: the device's certificate and key, and
    the CA that signed the server (Amazon's root, or the core's group CA from discovery)."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    client_id: str  # the thing name, as IoT Core wants it
    tls: TlsFiles | None = None
    token: str | None = None  # the stand-in's custom-authorizer token, sent as the MQTT password
    websocket_path: str | None = None  # MQTT over WebSocket when set ("/mqtt")
    keepalive: int = 30
    clean_session: bool = True

    def describe(self) -> str:
        scheme = (
            "wss"
            if self.websocket_path and self.tls
            else "ws"
            if self.websocket_path
            else "mqtts"
            if self.tls
            else "mqtt"
        )
        return f"{scheme}://{self.host}:{self.port}{self.websocket_path or ''} as {self.client_id}"
