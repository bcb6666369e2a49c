"""The MQTT bridge component: relays messages between the local broker (LocalMqtt), IPC publish/subscribe
(Pubsub) and IoT Core as `mqttTopicMapping` says (`bridge_mapping`).

    python3 -m greengrass_components.components.bridge

Messages are relayed as bytes (a JSON pub/sub message as its JSON text). Everything received is handed
to one relay thread, so neither paho's thread nor the SDK's is ever blocked by a send. The Pubsub
subscriptions receive only other components' messages, so what the bridge itself publishes there does
not come back to it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import ssl
import sys
import threading
import time
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .bridge_mapping import parse_mappings, routes
from .component_main import ComponentConfigError, run_component
from .ipc_client import CoreLink
from .settings import text

CA_WAIT_SECONDS = 60.0


class Bridge:
    def __init__(self, link: CoreLink, config: dict[str, Any], log: logging.Logger) -> None:
        self.link, self.log = link, log
        self.mappings = parse_mappings(config.get("mqttTopicMapping", {}))
        uri = urlparse(text(config, "brokerUri", "mqtts://localhost:8883"))
        if uri.scheme not in ("mqtt", "tcp", "mqtts", "ssl") or not uri.hostname:
            raise ComponentConfigError(
                f"configuration.brokerUri must be mqtt://HOST:PORT or mqtts://HOST:PORT, got {uri.geturl()!r}"
            )
        secure = uri.scheme in ("mqtts", "ssl")
        self.broker = (uri.hostname, uri.port or (8883 if secure else 1883))
        self.ca = str(config.get("brokerCa") or os.environ.get("EDGEWAY_BROKER_CA", "")) if secure else ""
        if secure and not self.ca:
            raise ComponentConfigError(
                "configuration.brokerUri is mqtts: set brokerCa to the local broker's CA"
            )
        self.client_id = text(config, "clientId", "edgeway-bridge")
        self.password = str(config.get("password") or "")
        self._relay: queue.Queue[tuple[str, str, bytes]] = queue.Queue(maxsize=10_000)
        self.counts = {"relayed": 0, "dropped": 0}
        self._connected = threading.Event()
        self.mqtt = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if self.password:
            self.mqtt.username_pw_set(self.client_id, self.password)
        self.mqtt.on_connect = self._on_connect
        self.mqtt.on_message = lambda c, u, m: self._receive("LocalMqtt", m.topic, bytes(m.payload))
        self.mqtt.reconnect_delay_set(1, 30)

    def _receive(self, source: str, topic: str, body: Any) -> None:
        payload = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        try:
            self._relay.put_nowait((source, topic, payload))
        except queue.Full:
            self.counts["dropped"] += 1
            self.log.warning("bridge-queue-full", extra={"source": source, "topic": topic})

    def _on_connect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None
    ) -> None:
        if reason.is_failure:
            self.log.warning("local-broker-refused", extra={"reason": str(reason)})
            return
        filters = sorted({m.topic for m in self.mappings if m.source == "LocalMqtt"})
        if filters:
            client.subscribe([(f, 1) for f in filters])
        self.log.info(
            "local-broker-connected",
            extra={"broker": f"{self.broker[0]}:{self.broker[1]}", "filters": filters},
        )
        self._connected.set()

    def run(self, stop: threading.Event) -> None:
        uses_local = any("LocalMqtt" in (m.source, m.target) for m in self.mappings)
        if uses_local:
            if self.ca:
                self._trust_broker(stop)
            self.mqtt.connect_async(*self.broker)
            self.mqtt.loop_start()
        for mapping in self.mappings:
            if mapping.source == "Pubsub":
                self.link.subscribe(
                    mapping.topic, lambda t, b: self._receive("Pubsub", t, b), from_others=True
                )
            elif mapping.source == "IotCore":
                self.link.subscribe_iot_core(mapping.topic, lambda t, b: self._receive("IotCore", t, b))
        if uses_local:
            while not (self._connected.wait(0.2) or stop.is_set()):
                pass  # "ready" means relaying in every direction: the local broker's subscriptions are made
        self.log.info("component-ready", extra={"mappings": [m.name for m in self.mappings]})
        while not stop.is_set():
            try:
                source, topic, payload = self._relay.get(timeout=0.2)
            except queue.Empty:
                continue
            for target, target_topic in routes(self.mappings, source, topic):
                self._send(target, target_topic, payload)

    def _trust_broker(self, stop: threading.Event) -> None:
        """The local broker writes its CA when it first starts, which may be just after this bridge."""
        deadline = time.monotonic() + CA_WAIT_SECONDS
        while not os.path.isfile(self.ca):
            if stop.is_set() or time.monotonic() > deadline:
                raise ComponentConfigError(
                    f"the local broker's CA {self.ca} did not appear in {CA_WAIT_SECONDS:g} s"
                )
            stop.wait(0.1)
        self.mqtt.tls_set_context(ssl.create_default_context(cafile=self.ca))

    def _send(self, target: str, topic: str, payload: bytes) -> None:
        try:
            if target == "LocalMqtt":
                self.mqtt.publish(topic, payload, qos=1)
            elif target == "Pubsub":
                self.link.publish_bytes(topic, payload)
            else:
                self.link.publish_iot_core_async(topic, payload, qos=1).result(30)
            self.counts["relayed"] += 1
        except Exception as exc:  # one failed relay is reported; the bridge keeps relaying
            self.counts["dropped"] += 1
            self.log.warning(
                "bridge-relay-failed", extra={"target": target, "topic": topic, "error": str(exc)}
            )

    def close(self) -> None:
        self.mqtt.loop_stop()
        self.mqtt.disconnect()
        self.log.info("bridge-counts", extra=dict(self.counts))


def main() -> int:
    return run_component("bridge", Bridge)


if __name__ == "__main__":
    sys.exit(main())
