"""Publishing from a handler: IoT Core's data plane in AWS, the embedded broker locally."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from cloud_backend.chat_contract import encode


class Publisher(ABC):
    @abstractmethod
    def publish(self, topic: str, document: dict[str, Any]) -> None: ...


class IotDataPublisher(Publisher):
    """`iot-data` Publish with QoS 0; the client is injected (built on the account's data endpoint)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def publish(self, topic: str, document: dict[str, Any]) -> None:
        self._client.publish(topic=topic, qos=0, payload=encode(document))


class RecordingPublisher(Publisher):
    """Keeps what was published; for tests and dry runs."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    def publish(self, topic: str, document: dict[str, Any]) -> None:
        self.published.append((topic, document))

    def to(self, topic: str) -> list[dict[str, Any]]:
        return [document for t, document in self.published if t == topic]
