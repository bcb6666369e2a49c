"""Where each rule action runs locally.

Republish goes straight to the broker's bus (ordered, on the loop); a Lambda action goes to the Lambda
host's pool; table and stream writes go to one writer thread in arrival order, so SQLite never blocks
the loop and messages are stored in the order they came. A CloudWatch Logs error action becomes a JSON
line in `<data>/rule-errors.log`.

Work for the threads is handed over once the loop has written what it is delivering
(`Bus.after_delivery`): a thread woken sooner takes the GIL at each `send()` of the fan-out the same
message started, and the loop waits to get it back once per subscriber. The writes one pass of the loop
asks for go to the writer together (`WriteThread`), which commits what piles up in one transaction;
a table's items asked for one after the other are one write there, one statement (`Group`).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from cloud_backend.broker.gate import Bus
from cloud_backend.local.lambda_host import LambdaHost
from cloud_backend.local.write_thread import MAX_BATCH, Group, Write, WriteThread
from cloud_backend.rules.engine import ActionCall
from cloud_backend.rules.model import InvokeLambda, LogError, PutItem, PutRecord, Republish
from cloud_backend.store.ports import MessageStore
from cloud_backend.streams.log import StreamLog

log = logging.getLogger("edgeway.rules")


Failed = Callable[[ActionCall, str], None]


class LocalActionRunner:
    def __init__(
        self,
        bus: Bus,
        lambdas: LambdaHost,
        tables: dict[str, MessageStore],
        streams: dict[str, StreamLog],
        error_log: Path,
        transaction: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        """`transaction`: the tables' database's, so that a batch of writes commits once."""
        self.bus, self.lambdas, self.tables, self.streams = bus, lambdas, tables, streams
        self.error_log = error_log
        self._writer = WriteThread(transaction)
        self._unsent: list[Write] = []  # writes asked for in this pass of the loop
        self._unsent_done: Future[None] = Future()  # settled once they are through
        self._open: Group | None = None  # the last of `_unsent`, when it is items more may join
        self._open_failed: Failed | None = None  # whom its items tell when they fail
        self._unsent_lock = threading.Lock()  # an error action may ask from another thread
        self._log_lock = threading.Lock()

    def run(self, call: ActionCall, failed: Failed) -> Future[Any] | None:
        action = call.action
        if isinstance(action, Republish):
            self.bus.publish(call.target, call.payload(), qos=action.qos)
        elif isinstance(action, PutItem):
            return self._put(action.table, call, failed)
        elif isinstance(action, InvokeLambda):
            function, event = action.function, call.output

            def invoke() -> None:
                self._watch(self.lambdas.submit(function, event), call, failed)

            self.bus.after_delivery(invoke)
        elif isinstance(action, PutRecord):
            return self._write(self._put_record, (action.stream, call), call, failed)
        elif isinstance(action, LogError):
            self._write(self._log_error, (action.log_group, call.output), call, failed)
        return None

    def _write(
        self, write: Callable[..., None], args: tuple[Any, ...], call: ActionCall, failed: Failed
    ) -> Future[None]:
        """The write goes to the writer thread after the delivery, with the others asked for before
        then; its failure goes to `failed`. Returns the future those writes share: settled once all of
        them are through."""

        def tell(error: BaseException) -> None:
            failed(call, str(error))

        with self._unsent_lock:
            first = not self._unsent
            self._unsent.append((write, args, tell))
            self._open = None
            done = self._unsent_done
        if first:
            self.bus.after_delivery(self._send)
        return done

    def _put(self, table: str, call: ActionCall, failed: Failed) -> Future[None]:
        """A PutItem, as `_write`, joining the items for its table asked for just before it in this
        pass with the same `failed` (a `Group`, one statement for the writer, of at most MAX_BATCH),
        or starting them."""
        with self._unsent_lock:
            first = not self._unsent
            group = self._open
            if (
                group is None
                or group.key != table
                or self._open_failed is not failed
                or len(group.items) >= MAX_BATCH
            ):

                def tell(whom: ActionCall, error: BaseException) -> None:
                    failed(whom, str(error))

                group = self._open = Group(table, tell)
                self._open_failed = failed
                self._unsent.append((self._put_items, (group,), group.failed))
            group.add(call.output, call)
            done = self._unsent_done
        if first:
            self.bus.after_delivery(self._send)
        return done

    def _send(self) -> None:
        with self._unsent_lock:
            unsent, self._unsent, self._open = self._unsent, [], None
            done, self._unsent_done = self._unsent_done, Future()
        if unsent:
            self._writer.submit_all(unsent, done)

    @staticmethod
    def _watch(future: Future[Any], call: ActionCall, failed: Failed) -> Future[Any]:
        def done(finished: Future[Any]) -> None:
            error = finished.exception()
            if error is not None:
                failed(call, str(error))

        future.add_done_callback(done)
        return future

    def _put_items(self, items: Group) -> None:
        """In one statement (the writer's transaction around it for more than one); if that fails,
        each on its own (an item put again is the same row), so each failure reaches its own rule."""
        store = self.tables.get(items.key)
        if store is None:
            raise LookupError(f"table {items.key} is not a local table")
        try:
            store.put_items(items.items)
            return
        except Exception:  # which one failed is found below, item by item, and told to its rule
            pass
        for item, whom in zip(items.items, items.whom, strict=True):
            try:
                self._put_item(items.key, item)
            except Exception as exc:  # this item's own failure, reported to its rule
                items.tell(whom, exc)

    def _put_item(self, table: str, item: dict[str, Any]) -> None:
        store = self.tables.get(table)
        if store is None:
            raise LookupError(f"table {table} is not a local table")
        try:
            store.put_item(item)  # every attribute of the rule's output, as DynamoDBv2 writes it
        except ValueError as exc:
            raise ValueError(f"item for {table}: {exc}") from exc

    def _put_record(self, stream: str, call: ActionCall) -> None:
        log_ = self.streams.get(stream)
        if log_ is None:
            raise LookupError(f"stream {stream} is not a local stream")
        log_.append(call.target, call.payload())

    def _log_error(self, group: str, document: dict[str, Any]) -> None:
        line = json.dumps({"logGroup": group, **document}, separators=(",", ":"))
        with self._log_lock, self.error_log.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def close(self) -> None:
        self._send()  # what a pass of the loop asked for and had not handed over yet
        self._writer.close()
