"""What the repositories hold, with the DynamoDB item shape both implementations share.

A chat message's item is exactly what the store rule writes (`SELECT room, text, id, user, clientId, ts,
sk, expiresAt`), so a message stored by the rule and one read back by a handler are the same record.
The sort key `sk` is "<timestamp ms>#<id>#<uuid>": it orders by time, then within one millisecond by
the sender's message id (the web app's ids sort in the order it sent them), and the uuid keeps two
messages, whatever their ids, from overwriting each other. (Messages stored before the id was part of
it have "<timestamp ms>#<uuid>", which sorts among them by time just the same.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


def message_key(item: Mapping[str, Any]) -> tuple[str, str]:
    """A chat message item's key, (room, sk), as DynamoDB requires it of a PutItem: both attributes
    there, both strings; ValueError otherwise."""
    room, sk = item.get("room"), item.get("sk")
    if not isinstance(room, str) or not isinstance(sk, str):
        missing = [name for name, value in (("room", room), ("sk", sk)) if not isinstance(value, str)]
        raise ValueError(f"the item lacks its key attribute {' and '.join(missing)} (a string)")
    return room, sk


@dataclass(frozen=True)
class ChatMessage:
    room: str
    sk: str
    id: str
    user: str
    text: str
    ts: int
    client_id: str = ""
    expires_at: int = 0

    def to_item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "room": self.room,
            "sk": self.sk,
            "id": self.id,
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
        }
        if self.client_id:
            item["clientId"] = self.client_id
        if self.expires_at:
            item["expiresAt"] = self.expires_at
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ChatMessage:
        return cls(
            room=str(item["room"]),
            sk=str(item["sk"]),
            id=str(item.get("id", "")),
            user=str(item.get("user", "")),
            text=str(item.get("text", "")),
            ts=int(item.get("ts", 0)),
            client_id=str(item.get("clientId", "")),
            expires_at=int(item.get("expiresAt", 0)),
        )

    def to_wire(self) -> dict[str, Any]:
        """As a client sees it on chat/pub/{room} and in history."""
        return {
            "type": "message",
            "room": self.room,
            "id": self.id,
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "clientId": self.client_id,
        }


@dataclass(frozen=True)
class Presence:
    client_id: str
    nick: str
    online: bool
    since: int
    room: str = ""
    kind: str = "user"  # "user" or "device"

    def to_item(self) -> dict[str, Any]:
        return {
            "clientId": self.client_id,
            "nick": self.nick,
            "online": self.online,
            "since": self.since,
            "room": self.room,
            "kind": self.kind,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Presence:
        return cls(
            client_id=str(item["clientId"]),
            nick=str(item.get("nick", "")),
            online=bool(item.get("online", False)),
            since=int(item.get("since", 0)),
            room=str(item.get("room", "")),
            kind=str(item.get("kind", "user")),
        )


@dataclass(frozen=True)
class Window:
    """One tumbling window of one sensor on one thing."""

    thing: str
    sensor: str
    window_start: int
    count: int
    minimum: float
    maximum: float
    total: float
    last: float
    last_ts: int
    alerting: bool = False

    @property
    def series(self) -> str:
        return f"{self.thing}#{self.sensor}"

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def to_item(self) -> dict[str, Any]:
        item = asdict(self)
        item["series"] = self.series
        item["windowStart"] = item.pop("window_start")
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Window:
        return cls(
            thing=str(item["thing"]),
            sensor=str(item["sensor"]),
            window_start=int(item["windowStart"]),
            count=int(item["count"]),
            minimum=float(item["minimum"]),
            maximum=float(item["maximum"]),
            total=float(item["total"]),
            last=float(item["last"]),
            last_ts=int(item["last_ts"]),
            alerting=bool(item.get("alerting", False)),
        )
