"""Repositories for handler and store tests: SQLite in a temporary file, or DynamoDB through moto with
the tables created from cloud_backend/template.yaml's own definitions."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from moto import mock_aws

from cloud_backend.store.dynamodb import DynamoDBMessageStore, DynamoDBPresenceStore, DynamoDBTelemetryStore
from cloud_backend.store.ports import MessageStore, PresenceStore, TelemetryStore
from cloud_backend.store.sqlite import (
    SqliteDatabase,
    SqliteMessageStore,
    SqlitePresenceStore,
    SqliteTelemetryStore,
)
from edgeway_common import cfn

TEMPLATE = Path(__file__).resolve().parent.parent / "cloud_backend" / "template.yaml"
TABLE_KEYS = ("AttributeDefinitions", "KeySchema", "BillingMode")


@dataclass
class Stores:
    messages: MessageStore
    presence: PresenceStore
    telemetry: TelemetryStore


@contextmanager
def sqlite_stores(directory: Path) -> Iterator[Stores]:
    db = SqliteDatabase(directory / "backend.sqlite3")
    try:
        yield Stores(SqliteMessageStore(db), SqlitePresenceStore(db), SqliteTelemetryStore(db))
    finally:
        db.close()


@contextmanager
def dynamodb_stores() -> Iterator[Stores]:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        template = cfn.load_template(TEMPLATE)
        for name, resource in cfn.resources_of_type(template, "AWS::DynamoDB::Table"):
            properties = resource["Properties"]
            client.create_table(TableName=name, **{k: properties[k] for k in TABLE_KEYS})
        yield Stores(
            DynamoDBMessageStore("MessagesTable", client),
            DynamoDBPresenceStore("PresenceTable", client),
            DynamoDBTelemetryStore("TelemetryTable", client),
        )


@contextmanager
def stores_of(kind: str, directory: Path) -> Iterator[Stores]:
    factory = sqlite_stores(directory) if kind == "sqlite" else dynamodb_stores()
    with factory as stores:
        yield stores
