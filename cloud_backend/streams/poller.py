"""Feeds a stream's records to a handler as Lambda's Kinesis event source mapping does.

Batches of up to `batch_size` records, gathered for at most `window_seconds`; a checkpoint after each
batch that succeeded. A failing batch is retried `max_retries` times, then bisected (as with
BisectBatchOnFunctionError); a single record that still fails is set aside with a log line and the
stream moves on. Records are delivered in order and the checkpoint only moves forward.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cloud_backend.streams.log import StreamLog, StreamRecord

log = logging.getLogger("edgeway.stream")


@dataclass(frozen=True)
class PollerSettings:
    batch_size: int = 100
    window_seconds: float = 1.0
    max_retries: int = 2
    retry_delay: float = 0.05
    region: str = "us-east-1"
    account: str = "000000000000"


def kinesis_event(stream: str, records: Sequence[StreamRecord], settings: PollerSettings) -> dict[str, Any]:
    arn = f"arn:aws:kinesis:{settings.region}:{settings.account}:stream/{stream}"
    return {
        "Records": [
            {
                "kinesis": {
                    "kinesisSchemaVersion": "1.0",
                    "partitionKey": r.partition_key,
                    "sequenceNumber": r.sequence_number,
                    "data": base64.b64encode(r.data).decode("ascii"),
                    "approximateArrivalTimestamp": r.arrived,
                },
                "eventSource": "aws:kinesis",
                "eventVersion": "1.0",
                "eventID": f"shardId-000000000000:{r.sequence_number}",
                "eventName": "aws:kinesis:record",
                "invokeIdentityArn": f"arn:aws:iam::{settings.account}:role/edgeway-local",
                "awsRegion": settings.region,
                "eventSourceARN": arn,
            }
            for r in records
        ]
    }


class StreamPoller:
    def __init__(
        self,
        stream: StreamLog,
        consumer: str,
        invoke: Callable[[dict[str, Any]], Any],
        settings: PollerSettings = PollerSettings(),
    ) -> None:
        self.stream, self.consumer, self.invoke, self.settings = stream, consumer, invoke, settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller-{consumer}", daemon=True)

    def start(self) -> StreamPoller:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        with self.stream.appended:
            self.stream.appended.notify_all()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the poller must outlive any one failure; the next poll retries
                log.exception("stream poll failed", extra={"consumer": self.consumer})
                self._stop.wait(1.0)

    def _gather(self) -> list[StreamRecord]:
        after = self.stream.checkpoint(self.consumer)
        deadline = time.monotonic() + self.settings.window_seconds
        records = self.stream.read_after(after, self.settings.batch_size)
        while len(records) < self.settings.batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic() if records else 1.0
            if remaining <= 0:
                break
            with self.stream.appended:
                self.stream.appended.wait(remaining)
            records = self.stream.read_after(after, self.settings.batch_size)
            if not records:
                deadline = time.monotonic() + self.settings.window_seconds
        return records

    def poll_once(self) -> int:
        """One batch: gathered, delivered (with retries and bisection), checkpointed. Returns its size."""
        records = self._gather()
        if records:
            self._deliver(records)
        return len(records)

    def _attempt(self, records: Sequence[StreamRecord]) -> str | None:
        error = ""
        for attempt in range(self.settings.max_retries + 1):
            try:
                self.invoke(kinesis_event(self.stream.name, records, self.settings))
                return None
            except Exception as exc:  # a handler error is the batch's failure, reported below
                error = f"{type(exc).__name__}: {exc}"
                if attempt < self.settings.max_retries and not self._stop.is_set():
                    time.sleep(self.settings.retry_delay * (2**attempt))
        return error

    def _deliver(self, records: Sequence[StreamRecord]) -> None:
        error = self._attempt(records)
        if error is None:
            self.stream.set_checkpoint(self.consumer, records[-1].sequence)
            return
        if len(records) == 1:
            (record,) = records
            log.error(
                "stream record set aside after retries",
                extra={"consumer": self.consumer, "sequence": record.sequence_number, "error": error},
            )
            self.stream.set_aside(self.consumer, record, error)
            self.stream.set_checkpoint(self.consumer, record.sequence)
            return
        middle = len(records) // 2
        self._deliver(records[:middle])
        self._deliver(records[middle:])
