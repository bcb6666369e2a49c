"""The uplink component: local telemetry, vision and alert records to the cloud, durably and in order.

    python3 -m greengrass_components.components.uplink

Ingest: producers that hand their records over durably (`handoff`) append them to the spool file's
inbox, which the writer thread moves into the spool; messages on the subscribed topics from anyone
else go through a queue. One writer thread commits both to the spool in batches (one transaction per
batch). Every record gets an id when it has none
(`{thing}-{start}-{n}`), kept through every resend. Drain: the oldest records become messages
(`uplink_batches`), sent in spool order through the sink; a record is deleted only after its message
was delivered (QoS 1). While sending fails the uplink backs off, doubling from `BackoffMinSeconds` to
`BackoffMaxSeconds` with jitter, and keeps spooling. Status (spool size, counts of everything sent,
expired, dropped, refused) goes to the status topic and the log every `StatusSeconds`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgeway_common.topics import topic_matches

from . import local_topics
from .component_main import ComponentConfigError, run_component
from .ipc_client import CoreLink, thing_name
from .settings import items, number, section, text
from .uplink_batches import outgoing
from .uplink_sinks import IotCoreSink, KinesisSink, SendError, Sink
from .uplink_spool import ALERT, RecordSpool


def record_kind(topic_kind: str, record: Any) -> str:
    if isinstance(record, dict) and record.get("kind") in ("telemetry", "vision", "alert"):
        return str(record["kind"])
    return topic_kind


class Uplink:
    def __init__(
        self, link: CoreLink, config: dict[str, Any], log: logging.Logger, *, sink: Sink | None = None
    ) -> None:
        self.link, self.log = link, log
        self.thing = thing_name() or "core"
        self.subscriptions: list[tuple[str, str]] = []
        for i, raw in enumerate(items(config, "Subscriptions") or _DEFAULT_SUBSCRIPTIONS):
            where = f"Subscriptions[{i}]"
            if not isinstance(raw, dict):
                raise ComponentConfigError(f"{where} must be an object with topic and kind")
            kind = text(raw, "kind", None, where)
            if kind not in ("telemetry", "vision", "alert"):
                raise ComponentConfigError(f"{where}.kind must be telemetry, vision or alert, got {kind!r}")
            self.subscriptions.append((text(raw, "topic", None, where), kind))
        spool = section(config, "Spool")
        self.spool = RecordSpool(
            Path(text(spool, "path", "uplink-spool.sqlite3", "Spool")),
            int(number(spool, "maxBytes", 50 * 1024 * 1024, "Spool", minimum=1024)),
            number(spool, "maxAgeSeconds", 7 * 24 * 3600, "Spool", minimum=1),
        )
        self.batch_records = int(number(config, "BatchRecords", 1000, minimum=1))
        self.backoff = (
            number(config, "BackoffMinSeconds", 0.5, minimum=0.01),
            number(config, "BackoffMaxSeconds", 30, minimum=0.01),
        )
        self.status_seconds = number(config, "StatusSeconds", 30, minimum=0.1)
        self.status_topic = text(config, "StatusTopic", local_topics.UPLINK_STATUS)
        self.sink = sink or self._sink(config)
        self._queue: queue.Queue[tuple[str, str, Any]] = queue.Queue()
        self.writer_failure: Exception | None = None
        self._prefix = f"{self.thing}-{int(time.time() * 1000):x}"
        self._next_id = 0
        self._wake = threading.Event()
        self._rng = random.Random()

    def _sink(self, config: dict[str, Any]) -> Sink:
        iot = IotCoreSink(self.link)
        kinesis = section(config, "Kinesis")
        if not kinesis.get("streamName"):
            return iot
        import boto3

        client = boto3.client(
            "kinesis", region_name=text(kinesis, "region", os.environ.get("AWS_REGION"), "Kinesis")
        )
        return KinesisSink(client, text(kinesis, "streamName", None, "Kinesis"), self.thing, iot)

    # -- ingest ---------------------------------------------------------------

    def subscribe(self) -> None:
        for topic, kind in self.subscriptions:
            self.link.subscribe(topic, self._enqueue(kind))

    def _enqueue(self, kind: str) -> Callable[[str, Any], None]:
        def put(topic: str, body: Any) -> None:
            self._queue.put((topic, kind, body))

        return put

    def _writer(self, stop: threading.Event) -> None:
        """Spools what arrives; a failure it cannot retry ends the component (ERRORED), never silently."""
        try:
            self._write_until(stop)
        except Exception as exc:
            self.writer_failure = exc
            self._wake.set()

    def _write_until(self, stop: threading.Event) -> None:
        batch: list[tuple[str, str, Any]] = []
        while not (stop.is_set() and self._queue.empty() and not batch):
            with contextlib.suppress(queue.Empty):
                if not batch:
                    batch.append(self._queue.get(timeout=0.2))
                while len(batch) < 2000:
                    batch.append(self._queue.get_nowait())
            try:
                self.absorb()
                if batch:
                    self.ingest(batch)
                    batch = []
            except sqlite3.OperationalError as exc:  # the file is busy: keep the batch, try again
                self.log.warning("uplink-spool-busy", extra={"error": str(exc)})
                stop.wait(0.1)

    def _kind_for(self, topic: str) -> str | None:
        return next((kind for pattern, kind in self.subscriptions if topic_matches(pattern, topic)), None)

    def absorb(self) -> int:
        """Moves what producers handed over (`handoff`) into the spool; returns the records kept.
        Appends to a topic the uplink does not subscribe to are not for it, and leave the inbox too."""
        kept = 0
        while rows := self.spool.inbox(500):
            messages = [
                (topic, kind, envelope) for _, topic, envelope in rows if (kind := self._kind_for(topic))
            ]
            kept += self.ingest(messages, inbox_upto=rows[-1][0])
        return kept

    def ingest(self, messages: list[tuple[str, str, Any]], *, inbox_upto: int | None = None) -> int:
        rows, refused = [], 0
        for topic, kind, raw in messages:
            body = _decoded(raw)
            if isinstance(body, dict) and body.get("handedOff") is True:
                continue  # the local copy of an append: the records come through the inbox
            if not isinstance(body, dict):
                self.log.warning(
                    "uplink-message-refused", extra={"topic": topic, "error": "not a JSON object"}
                )
                refused += 1
                continue
            source = str(body.get("source") or topic)
            for record in body["records"] if isinstance(body.get("records"), list) else [body]:
                if not isinstance(record, dict):
                    refused += 1
                    continue
                record_id = record.get("id")
                if not isinstance(record_id, str) or not record_id:
                    self._next_id += 1
                    record_id = f"{self._prefix}-{self._next_id}"
                rows.append(
                    (record_id, record_kind(kind, record), str(record.get("source") or source), record)
                )
        if refused:
            self.spool.refuse(refused)
        kept = self.spool.add_many(rows, inbox_upto=inbox_upto)
        if len(rows) - kept:
            self.log.warning("uplink-records-refused", extra={"count": len(rows) - kept})
        self._wake.set()
        return kept

    # -- drain ----------------------------------------------------------------

    def drain_once(self) -> int:
        """Sends what the spool holds, oldest first, until it is empty; returns records delivered."""
        delivered = 0
        while True:
            records = self.spool.oldest(self.batch_records)
            if not records:
                return delivered
            messages = outgoing(records, self.thing)
            sent = self.sink.send(messages)
            done = [r for m in messages[:sent] for r in m.records]
            self.spool.remove(done)
            delivered += len(done)
            if sent < len(messages):
                raise SendError(f"{len(messages) - sent} messages not delivered")

    def run(self, stop: threading.Event) -> None:
        writer = threading.Thread(target=self._writer, args=(stop,), name="uplink-writer", daemon=True)
        writer.start()
        self.subscribe()
        self.log.info("component-ready", extra={"subscriptions": [t for t, _ in self.subscriptions]})
        delay, status_at = 0.0, time.monotonic()
        while not stop.is_set():
            if self.writer_failure is not None:
                raise RuntimeError(
                    f"the spool writer failed: {self.writer_failure!r}"
                ) from self.writer_failure
            if time.monotonic() >= status_at:
                self.report()
                status_at = time.monotonic() + self.status_seconds
            try:
                self.drain_once()
                delay = 0.0
                self._wake.wait(min(1.0, self.status_seconds))
                self._wake.clear()
            except SendError as exc:
                low, high = self.backoff
                delay = min(high, max(low, delay * 2))
                wait = delay * self._rng.uniform(0.5, 1.0)
                self.log.warning("uplink-backoff", extra={"error": str(exc), "seconds": round(wait, 3)})
                stop.wait(wait)
        writer.join(timeout=10)

    def report(self) -> None:
        status = {"thing": self.thing, **self.spool.status()}
        self.log.info("uplink-status", extra=status)
        try:
            self.link.publish_json(self.status_topic, status)
        except Exception as exc:  # status is best effort; the records are what matter
            self.log.warning("uplink-status-not-published", extra={"error": str(exc)})

    def close(self) -> None:
        self.report()
        self.spool.close()


_DEFAULT_SUBSCRIPTIONS = [
    {"topic": local_topics.TELEMETRY, "kind": "telemetry"},
    {"topic": local_topics.VISION, "kind": "vision"},
    {"topic": local_topics.ALERTS, "kind": ALERT},
]


def _decoded(body: Any) -> Any:
    """A binary message (as the bridge relays a device's MQTT payload) holding JSON, as its document."""
    if isinstance(body, bytes | bytearray):
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError):
            return None
    return body


def main() -> int:
    return run_component("uplink", Uplink)


if __name__ == "__main__":
    sys.exit(main())
