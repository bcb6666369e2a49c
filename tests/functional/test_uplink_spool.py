"""The uplink's SQLite spool: the stated policy when full or old, counts that survive a restart, and the
Kinesis export (moto)."""

from __future__ import annotations

import json
import logging
from typing import Any

import boto3
import pytest
from moto import mock_aws

from greengrass_components.components.handoff import HandOff, HandOffFull
from greengrass_components.components.uplink import Uplink
from greengrass_components.components.uplink_sinks import IotCoreSink, KinesisSink
from greengrass_components.components.uplink_spool import RecordSpool


def rows(kind: str, count: int, start: int = 0, pad: int = 900) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [(f"{kind}-{i}", kind, "s", {"n": i, "pad": "x" * pad}) for i in range(start, start + count)]


def test_when_full_telemetry_is_dropped_before_alerts_and_every_drop_is_counted(tmp_path):
    spool = RecordSpool(tmp_path / "spool.sqlite3", max_bytes=20_000)
    spool.add_many(rows("alert", 5) + rows("telemetry", 10))
    spool.add_many(rows("telemetry", 10, start=10))
    kept = {r.id for r in spool.oldest(100)}
    assert {f"alert-{i}" for i in range(5)} <= kept
    assert spool.size_bytes <= 20_000
    assert spool.counts["dropped_telemetry"] == 25 - len(kept) and spool.counts["dropped_alerts"] == 0
    assert "telemetry-0" not in kept and "telemetry-19" in kept
    spool.add_many(rows("alert", 25, start=5))  # only alerts are left to drop now
    assert spool.counts["dropped_alerts"] > 0 and "alert-29" in {r.id for r in spool.oldest(100)}
    spool.close()
    reopened = RecordSpool(tmp_path / "spool.sqlite3", max_bytes=20_000)
    assert reopened.counts["dropped_telemetry"] == spool.counts["dropped_telemetry"]
    assert reopened.size_bytes == spool.size_bytes


def test_records_older_than_the_age_bound_expire_and_are_counted(tmp_path):
    now = [1000.0]
    spool = RecordSpool(tmp_path / "spool.sqlite3", max_age_seconds=60, clock=lambda: now[0])
    spool.add_many(rows("telemetry", 3))
    now[0] += 61
    spool.add_many(rows("telemetry", 1, start=3))
    assert [r.id for r in spool.oldest(10)] == ["telemetry-3"]
    assert spool.counts["expired"] == 3


def test_a_record_too_big_for_any_message_is_refused_and_counted(tmp_path):
    spool = RecordSpool(tmp_path / "spool.sqlite3")
    assert spool.add_many(rows("telemetry", 1, pad=70_000) + rows("telemetry", 1, start=1)) == 1
    assert spool.counts["refused"] == 1


class RecordingLink:
    """Stands in for the core link: what would go through PublishToIoTCore."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish_iot_core_async(self, topic: str, payload: bytes, qos: int = 1) -> Any:
        from concurrent.futures import Future

        self.published.append((topic, payload))
        done: Future[Any] = Future()
        done.set_result(None)
        return done

    def publish_json(self, topic: str, document: Any) -> None:
        pass


@mock_aws
def test_the_stream_goes_to_kinesis_with_put_records_and_alerts_still_to_chat_out(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kinesis = boto3.client("kinesis", region_name="eu-west-1")
    kinesis.create_stream(StreamName="telemetry", ShardCount=1)
    link = RecordingLink()
    uplink = Uplink(
        link,  # type: ignore[arg-type]
        {"Spool": {"path": str(tmp_path / "spool.sqlite3")}},
        logging.getLogger("test"),
        sink=KinesisSink(kinesis, "telemetry", "gw", IotCoreSink(link)),  # type: ignore[arg-type]
    )
    uplink.ingest(
        [
            (
                "edgeway/telemetry",
                "telemetry",
                {"source": "hub", "records": [{"sensor": "t", "value": i, "ts": i} for i in range(1200)]},
            ),
            ("edgeway/alerts", "alert", {"records": [{"kind": "alert", "text": "hot", "id": "a-1"}]}),
        ]
    )
    assert uplink.drain_once() == 1201
    shard = kinesis.describe_stream(StreamName="telemetry")["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = kinesis.get_shard_iterator(
        StreamName="telemetry", ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    records = kinesis.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    readings = [r for rec in records for r in json.loads(rec["Data"])["readings"]]
    assert [r["value"] for r in readings] == list(range(1200))
    assert len({r["id"] for r in readings}) == 1200 and all(rec["PartitionKey"] == "gw" for rec in records)
    assert [(t, json.loads(p)["id"]) for t, p in link.published] == [("chat/out", "a-1")]
    assert uplink.spool.count() == 0 and uplink.spool.counts["sent"] == 1201


def test_messages_and_records_that_are_not_objects_are_refused_and_the_count_is_kept(tmp_path):
    config = {"Spool": {"path": str(tmp_path / "spool.sqlite3")}}
    uplink = Uplink(RecordingLink(), config, logging.getLogger("test"))  # type: ignore[arg-type]
    kept = uplink.ingest(
        [
            ("edgeway/telemetry", "telemetry", "not an object"),
            ("edgeway/telemetry", "telemetry", {"records": [{"sensor": "t", "value": 1}, 42]}),
        ]
    )
    assert kept == 1 and uplink.spool.counts["refused"] == 2
    uplink.close()
    assert RecordSpool(tmp_path / "spool.sqlite3").counts["refused"] == 2


def test_handed_over_records_move_into_the_spool_once_and_a_full_inbox_says_so(tmp_path):
    spool_path = tmp_path / "uplink-spool.sqlite3"
    handoff = HandOff(spool_path, max_waiting=3)
    for n in range(3):
        handoff.append("edgeway/telemetry", {"source": "s", "records": [{"id": f"r{n}", "value": n}]})
    with pytest.raises(HandOffFull, match="holds 3 appends"):
        handoff.append("edgeway/telemetry", {"source": "s", "records": [{"id": "r3"}]})
    config = {"Spool": {"path": str(spool_path)}}
    uplink = Uplink(RecordingLink(), config, logging.getLogger("test"))  # type: ignore[arg-type]
    assert uplink.absorb() == 3
    assert [r.id for r in uplink.spool.oldest(10)] == ["r0", "r1", "r2"]
    assert uplink.absorb() == 0 and uplink.spool.inbox(10) == []
    # the local copy of an append is not taken a second time; anyone else's message is
    kept = uplink.ingest(
        [
            ("edgeway/telemetry", "telemetry", {"source": "s", "records": [{"id": "r0"}], "handedOff": True}),
            ("edgeway/telemetry", "telemetry", {"source": "other", "records": [{"id": "x1"}]}),
        ]
    )
    assert kept == 1 and [r.id for r in uplink.spool.oldest(10)] == ["r0", "r1", "r2", "x1"]
    handoff.append("edgeway/errors", {"source": "s", "records": [{"id": "e1"}]})  # a topic it does not take
    assert uplink.absorb() == 0 and uplink.spool.inbox(10) == []
    uplink.close()
    handoff.close()
