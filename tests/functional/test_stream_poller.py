"""The local stream: durable records, Kinesis-shaped events, checkpoints, retries, bisection, poison."""

from __future__ import annotations

import base64
import threading

from cloud_backend.streams.log import StreamLog
from cloud_backend.streams.poller import PollerSettings, StreamPoller
from tests.waiting import wait_for

SETTINGS = PollerSettings(batch_size=8, window_seconds=0.05, max_retries=1, retry_delay=0.001)


class Handler:
    """Fails any batch that holds a poisoned record; remembers what it processed."""

    def __init__(self, poison: set[bytes]) -> None:
        self.poison = poison
        self.calls: list[list[bytes]] = []
        self.processed: list[bytes] = []
        self.lock = threading.Lock()

    def __call__(self, event: dict) -> None:
        batch = [base64.b64decode(r["kinesis"]["data"]) for r in event["Records"]]
        with self.lock:
            self.calls.append(batch)
            if self.poison & set(batch):
                raise ValueError("poisoned")
            self.processed.extend(batch)


def test_records_arrive_in_order_in_kinesis_shape_and_are_checkpointed(tmp_path):
    log = StreamLog(tmp_path / "s.sqlite3", "Telemetry")
    seen: list[dict] = []
    poller = StreamPoller(log, "fn", seen.append, SETTINGS)
    for n in range(5):
        log.append("gw-1", f"r{n}".encode())
    assert poller.poll_once() == 5
    record = seen[0]["Records"][0]
    assert record["eventSource"] == "aws:kinesis" and record["kinesis"]["partitionKey"] == "gw-1"
    assert record["eventSourceARN"].endswith(":stream/Telemetry")
    assert [base64.b64decode(r["kinesis"]["data"]) for r in seen[0]["Records"]] == [
        f"r{n}".encode() for n in range(5)
    ]
    assert log.checkpoint("fn") == 5
    log.close()


def test_a_poison_record_is_bisected_out_and_set_aside(tmp_path):
    log = StreamLog(tmp_path / "s.sqlite3", "Telemetry")
    handler = Handler({b"r5"})
    poller = StreamPoller(log, "fn", handler, SETTINGS)
    for n in range(8):
        log.append("gw-1", f"r{n}".encode())
    poller.poll_once()
    assert handler.processed == [f"r{n}".encode() for n in range(8) if n != 5]
    assert log.set_aside_records("fn") == [(6, "ValueError: poisoned")]
    assert log.checkpoint("fn") == 8
    assert handler.calls[0] == handler.calls[1]  # retried before bisecting
    log.close()


def test_the_checkpoint_survives_a_restart_and_nothing_is_delivered_twice(tmp_path):
    log = StreamLog(tmp_path / "s.sqlite3", "Telemetry")
    first = Handler(set())
    for n in range(3):
        log.append("k", f"a{n}".encode())
    StreamPoller(log, "fn", first, SETTINGS).poll_once()
    log.close()
    log = StreamLog(tmp_path / "s.sqlite3", "Telemetry")
    log.append("k", b"b0")
    second = Handler(set())
    poller = StreamPoller(log, "fn", second, SETTINGS).start()
    wait_for(lambda: second.processed == [b"b0"], 10, "the new record")
    poller.stop()
    assert first.processed == [b"a0", b"a1", b"a2"]
    log.close()


def test_oversized_records_and_bad_partition_keys_are_refused(tmp_path):
    import pytest

    log = StreamLog(tmp_path / "s.sqlite3")
    with pytest.raises(ValueError, match="at most 1048576 bytes"):
        log.append("k", b"x" * (1024 * 1024 + 1))
    with pytest.raises(ValueError, match="partition key"):
        log.append("", b"x")
    log.close()
