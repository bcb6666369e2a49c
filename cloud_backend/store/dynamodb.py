"""The repositories in DynamoDB. The only module that touches boto3's DynamoDB; the client is injected.

Items are the records' `to_item()` shapes, converted with boto3's TypeSerializer (floats travel as
Decimal). Errors from botocore are translated to `StoreError` naming the table and the operation.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from cloud_backend.store.ports import SEEN_FOR_MS, MessageStore, PresenceStore, StoreError, TelemetryStore
from cloud_backend.store.records import ChatMessage, Presence, Window, message_key

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _to_dynamo(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _to_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def marshal(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _serializer.serialize(_to_dynamo(value)) for key, value in item.items()}


def unmarshal(item: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _from_dynamo(_deserializer.deserialize(value)) for key, value in item.items()}


class _Table:
    def __init__(self, table: str, client: Any | None) -> None:
        self.table = table
        self.client = client if client is not None else boto3.client("dynamodb")

    def call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response: dict[str, Any] = getattr(self.client, operation)(TableName=self.table, **kwargs)
        except (BotoCoreError, ClientError) as exc:
            raise StoreError(f"DynamoDB table {self.table}: {operation}: {exc}") from exc
        return response

    def put(self, item: Mapping[str, Any]) -> None:
        self.call("put_item", Item=marshal(item))

    def put_new(self, item: Mapping[str, Any], key_attribute: str) -> bool:
        """Writes `item` only if no item has its key; False when one had."""
        try:
            self.call(
                "put_item", Item=marshal(item), ConditionExpression=f"attribute_not_exists({key_attribute})"
            )
        except StoreError as exc:
            cause = exc.__cause__
            if isinstance(cause, ClientError) and cause.response.get("Error", {}).get("Code") == (
                "ConditionalCheckFailedException"
            ):
                return False
            raise
        return True

    def get(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        found = self.call("get_item", Key=marshal(key), ConsistentRead=True).get("Item")
        return unmarshal(found) if found else None


class DynamoDBMessageStore(MessageStore):
    def __init__(self, table: str, client: Any | None = None) -> None:
        self._table = _Table(table, client)

    def put_item(self, item: Mapping[str, Any]) -> None:
        message_key(item)
        self._table.put(item)

    def recent(self, room: str, limit: int, before: str | None = None) -> list[ChatMessage]:
        condition, names, values = "#k = :k", {"#k": "room"}, {":k": {"S": room}}
        if before is not None:
            condition += " AND #s < :s"
            names["#s"], values[":s"] = "sk", {"S": before}
        response = self._table.call(
            "query",
            KeyConditionExpression=condition,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            Limit=limit,
        )
        return [ChatMessage.from_item(unmarshal(item)) for item in reversed(response.get("Items", []))]


class DynamoDBPresenceStore(PresenceStore):
    def __init__(self, table: str, client: Any | None = None) -> None:
        self._table = _Table(table, client)

    def get(self, client_id: str) -> Presence | None:
        item = self._table.get({"clientId": client_id})
        return Presence.from_item(item) if item else None

    def put(self, presence: Presence) -> None:
        self._table.put(presence.to_item())

    def online(self) -> list[Presence]:
        found: list[Presence] = []
        kwargs: dict[str, Any] = {
            "FilterExpression": "#online = :yes",
            "ExpressionAttributeNames": {"#online": "online"},
            "ExpressionAttributeValues": {":yes": {"BOOL": True}},
        }
        while True:
            response = self._table.call("scan", **kwargs)
            found.extend(Presence.from_item(unmarshal(item)) for item in response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return sorted(found, key=lambda p: p.client_id)
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


class DynamoDBTelemetryStore(TelemetryStore):
    def __init__(self, table: str, client: Any | None = None) -> None:
        self._table = _Table(table, client)

    def get(self, thing: str, sensor: str, window_start: int) -> Window | None:
        item = self._table.get({"series": f"{thing}#{sensor}", "windowStart": window_start})
        return Window.from_item(item) if item else None

    def put(self, window: Window) -> None:
        self._table.put(window.to_item())

    def first_seen(self, thing: str, record_ids: list[str], now_ms: int) -> set[str]:
        """One conditional put per id (attribute_not_exists): a marker item in the telemetry table,
        `series = seen#{thing}#{id}`, that DynamoDB's TTL (`expiresAt`) removes after SEEN_FOR_MS."""
        new: set[str] = set()
        for record_id in record_ids:
            item = {
                "series": f"seen#{thing}#{record_id}",
                "windowStart": 0,
                "expiresAt": (now_ms + SEEN_FOR_MS) // 1000,
            }
            if self._table.put_new(item, "series"):
                new.add(record_id)
        return new

    def latest(self, thing: str, sensor: str) -> Window | None:
        response = self._table.call(
            "query",
            KeyConditionExpression="#k = :k",
            ExpressionAttributeNames={"#k": "series"},
            ExpressionAttributeValues={":k": {"S": f"{thing}#{sensor}"}},
            ScanIndexForward=False,
            Limit=1,
        )
        items = response.get("Items", [])
        return Window.from_item(unmarshal(items[0])) if items else None
