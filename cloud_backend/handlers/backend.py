"""What a handler works with, and where it comes from.

In AWS a handler module builds its `Backend` once per container from the environment the template sets
(table names, rooms, thresholds) with boto3 clients. Locally, `edgeway cloud run` installs a `Backend`
over SQLite and the embedded broker before any handler runs. The handler code is the same either way.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloud_backend.handlers.publisher import Publisher
from cloud_backend.handlers.thresholds import Threshold, parse_thresholds
from cloud_backend.store.ports import MessageStore, PresenceStore, TelemetryStore

DEFAULT_ROOMS = ("lobby", "field", "alerts")
ALERTS_ROOM = "alerts"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _new_id() -> str:
    return str(uuid.uuid4())


@dataclass
class Backend:
    messages: MessageStore
    presence: PresenceStore
    telemetry: TelemetryStore
    publisher: Publisher
    rooms: tuple[str, ...] = DEFAULT_ROOMS
    thresholds: dict[str, Threshold] = field(default_factory=dict)
    retention_days: int = 7
    now_ms: Callable[[], int] = _now_ms
    new_id: Callable[[], str] = _new_id


def configured(
    variables: Mapping[str, Any],
    messages: MessageStore,
    presence: PresenceStore,
    telemetry: TelemetryStore,
    publisher: Publisher,
) -> Backend:
    """A backend over these stores, set up by the template's function variables (ROOMS,
    ALERT_THRESHOLDS, MESSAGE_RETENTION_DAYS): the same reading in AWS and locally."""
    return Backend(
        messages=messages,
        presence=presence,
        telemetry=telemetry,
        publisher=publisher,
        rooms=rooms_from(str(variables.get("ROOMS", ""))),
        thresholds=parse_thresholds(str(variables.get("ALERT_THRESHOLDS", ""))),
        retention_days=int(variables.get("MESSAGE_RETENTION_DAYS", 7)),
    )


_installed: Backend | None = None
_lock = threading.Lock()


def install(backend: Backend | None) -> None:
    """Locally: every handler in this process uses `backend` (None uninstalls)."""
    global _installed
    with _lock:
        _installed = backend


def current() -> Backend:
    global _installed
    with _lock:
        if _installed is None:
            _installed = from_environment()
        return _installed


def rooms_from(text: str) -> tuple[str, ...]:
    return tuple(room.strip() for room in text.split(",") if room.strip()) or DEFAULT_ROOMS


def from_environment() -> Backend:
    """The AWS wiring: DynamoDB tables and IoT Core's data plane, named by the template's variables."""
    import boto3

    from cloud_backend.handlers.publisher import IotDataPublisher
    from cloud_backend.store.dynamodb import (
        DynamoDBMessageStore,
        DynamoDBPresenceStore,
        DynamoDBTelemetryStore,
    )

    dynamodb = boto3.client("dynamodb")
    endpoint = (
        os.environ.get("IOT_DATA_ENDPOINT")
        or boto3.client("iot").describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    )
    return configured(
        os.environ,
        DynamoDBMessageStore(os.environ["MESSAGES_TABLE"], dynamodb),
        DynamoDBPresenceStore(os.environ["PRESENCE_TABLE"], dynamodb),
        DynamoDBTelemetryStore(os.environ["TELEMETRY_TABLE"], dynamodb),
        IotDataPublisher(boto3.client("iot-data", endpoint_url=f"https://{endpoint}")),
    )
