"""The transport over paho-mqtt (MQTT 3.1.1): TCP or WebSocket, mutual TLS or a token as password.

A new paho client is made for every connection, so paho never resends on its own what the outbox
will resend (it would otherwise replay its in-flight messages on reconnect and double them). Its
network loop is paho's own thread (`loop_start`) with paho's reconnecting turned off: the client decides
when to connect again. Only that thread writes to the socket; with a loop run any other way, paho
writes from the publishing thread too, and two writers can swap two packets.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .errors import ConnectError
from .transport import Endpoint, TransportEvents

CONNECT_TIMEOUT = 10.0


class PahoTransport:
    def __init__(self, endpoint: Endpoint, max_inflight: int = 20) -> None:
        self.endpoint = endpoint
        self.max_inflight = max_inflight
        self._client: mqtt.Client | None = None
        self._running = threading.Event()

    def _new_client(
        self, events: TransportEvents, answered: threading.Event, result: dict[str, Any]
    ) -> mqtt.Client:
        e = self.endpoint
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=e.client_id,
            clean_session=e.clean_session,
            protocol=mqtt.MQTTv311,
            transport="websockets" if e.websocket_path else "tcp",
            reconnect_on_failure=False,
        )
        if e.websocket_path:
            client.ws_set_options(path=e.websocket_path)
        if e.tls is not None:
            try:
                context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(e.tls.ca))
                if e.tls.cert is not None:
                    context.load_cert_chain(str(e.tls.cert), str(e.tls.key) if e.tls.key else None)
            except (OSError, ssl.SSLError) as exc:
                raise ConnectError(f"{e.describe()}: cannot use the TLS files ({e.tls}): {exc}") from exc
            client.tls_set_context(context)
        if e.token is not None:
            client.username_pw_set(e.client_id, e.token)
        client.max_inflight_messages_set(self.max_inflight)
        client.max_queued_messages_set(0)

        def on_connect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            result["reason"] = str(reason)
            result["ok"] = not reason.is_failure
            answered.set()

        def on_disconnect(_c: Any, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            self._running.clear()
            if result.get("ok"):
                events.on_connection(False, f"connection lost: {reason}")
            answered.set()

        def on_publish(_c: Any, _u: Any, mid: int, _reason: Any, _props: Any) -> None:
            events.on_acknowledged(mid)

        def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
            events.on_message(message.topic, bytes(message.payload))

        client.on_connect, client.on_disconnect = on_connect, on_disconnect
        client.on_publish, client.on_message = on_publish, on_message
        return client

    def connect(self, events: TransportEvents) -> None:
        self.disconnect()
        answered, result = threading.Event(), dict[str, Any]()
        client = self._new_client(events, answered, result)
        try:
            client.connect(self.endpoint.host, self.endpoint.port, keepalive=self.endpoint.keepalive)
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConnectError(f"{self.endpoint.describe()}: {exc}") from exc
        self._client = client
        self._running.set()
        client.loop_start()
        if not answered.wait(CONNECT_TIMEOUT):
            self.disconnect()
            raise ConnectError(f"{self.endpoint.describe()}: no CONNACK in {CONNECT_TIMEOUT:g} s")
        if not result.get("ok"):
            self.disconnect()
            raise ConnectError(
                f"{self.endpoint.describe()}: refused ({result.get('reason', 'connection closed')})"
            )
        events.on_connection(True, "connected")

    def disconnect(self) -> None:
        client = self._client
        self._client = None
        if client is None:
            return
        self._running.clear()
        with contextlib.suppress(OSError, ValueError):
            client.disconnect()
        client.loop_stop()

    def publish(self, topic: str, payload: bytes, qos: int) -> int:
        client = self._client
        if client is None or not self._running.is_set():
            raise ConnectError("not connected")
        info = client.publish(topic, payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectError(f"publish to {topic}: {mqtt.error_string(info.rc)}")
        return int(info.mid)

    def subscribe(self, topic_filter: str, qos: int) -> None:
        client = self._client
        if client is None:
            raise ConnectError("not connected")
        rc, _ = client.subscribe(topic_filter, qos=qos)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise ConnectError(f"subscribe to {topic_filter}: {mqtt.error_string(rc)}")
