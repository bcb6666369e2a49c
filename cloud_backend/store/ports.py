"""The repository interfaces the handlers see. `sqlite` and `dynamodb` implement them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from cloud_backend.errors import StoreError as StoreError
from cloud_backend.store.records import ChatMessage, Presence, Window

SEEN_FOR_MS = 2 * 24 * 3600 * 1000  # how long a record id is remembered


class MessageStore(ABC):
    def put(self, message: ChatMessage) -> None:
        self.put_item(message.to_item())

    @abstractmethod
    def put_item(self, item: Mapping[str, Any]) -> None:
        """Writes an item as DynamoDB's PutItem does (the store rule's DynamoDBv2 action): every
        attribute as it is, in place of the item with the same key. ValueError when the key (room,
        sk) is missing or not strings (`records.message_key`)."""

    def put_items(self, items: Sequence[Mapping[str, Any]]) -> None:
        """`put_item` for each, in order; a store may write them together. Raises at the first that
        fails (those before it may be kept)."""
        for item in items:
            self.put_item(item)

    @abstractmethod
    def recent(self, room: str, limit: int, before: str | None = None) -> list[ChatMessage]:
        """The room's last `limit` messages, oldest first; with `before` (a sort key), the last
        `limit` older than it: the next page back."""


class PresenceStore(ABC):
    @abstractmethod
    def get(self, client_id: str) -> Presence | None: ...

    @abstractmethod
    def put(self, presence: Presence) -> None: ...

    @abstractmethod
    def online(self) -> list[Presence]:
        """Everyone online now, by client id."""

    def online_in(self, room: str) -> list[Presence]:
        return [p for p in self.online() if p.room == room]


class TelemetryStore(ABC):
    @abstractmethod
    def get(self, thing: str, sensor: str, window_start: int) -> Window | None: ...

    @abstractmethod
    def put(self, window: Window) -> None: ...

    @abstractmethod
    def latest(self, thing: str, sensor: str) -> Window | None:
        """The newest window of a series (its alert state carries over to the next window)."""

    @abstractmethod
    def first_seen(self, thing: str, record_ids: list[str], now_ms: int) -> set[str]:
        """Which of these record ids were never seen before; remembers them (for `SEEN_FOR_MS`), so a
        record a device sent twice (an uplink resend) is counted once."""
