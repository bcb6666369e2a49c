"""The stand-in's durable writes (table items, stream records, error lines) on one thread, in the order
they come, a batch at a time: what piles up while the thread writes goes into one transaction
(`transaction`), and no write of a batch is reported done before that transaction has committed.

A burst of chat messages costs one commit per batch, not one per message, and one wake-up of the thread
per pass of the broker's loop (`submit_all`); a batch of one write commits on its own, without a BEGIN
and a COMMIT around it. A write that fails fails alone; a commit that fails fails every write of its
batch, as none of them was kept. Each write says whom to tell if it fails; what is submitted together
shares one future, settled once all of it is through (kept or failed): a `Future` (a lock and a
condition of its own) per write cost the broker's loop about a tenth of its time on the chat path
flat out. Writes of one kind that one call can make together (a burst's items for one table: one
statement) come as a `Group` and count as all of them.

Group commit: under a steady stream a batch starts at most every `SPACING_S`. A write after a quiet
spell goes at once; one that follows the last batch's start sooner waits out the rest of the spacing,
and what comes meanwhile joins it. At 200 chat messages a second that is four messages to a commit
instead of one: a message put and committed alone after 5 ms asleep costs 112 to 180 µs of CPU here
against 18 back to back (`bench/idle_gap.py`, sqlite_put), and side by side on the chat path at 200 a
second the writer thread's CPU fell from about 190 to 95 µs a message. What waits on a write (a QoS 1
PUBACK of a stored message) may wait that much longer; the republish never waits on it.

Written here rather than on `ThreadPoolExecutor`: an executor runs one call at a time with a future and
a wake-up each, and has no place to open a transaction around what is queued.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager, nullcontext
from typing import Any

MAX_BATCH = 512  # writes in one transaction; a longer queue is taken in several
SPACING_S = 0.02  # under a steady stream, a batch starts at most this often
Failed = Callable[[BaseException], None]
Write = tuple[Callable[..., None], tuple[Any, ...], Failed]  # the call, its arguments, whom to tell
_Submitted = tuple[list[Write], Future[None]]


class Group:
    """Writes of one kind that one call makes together (one statement for all of them), given as that
    call's first argument: they count as that many writes, for a batch's size and for whether it
    takes a transaction. Each item comes with whom to tell if it fails (`whom`), and `failed` tells
    each of them through `tell`, made once for the group rather than a function per item."""

    __slots__ = ("items", "key", "tell", "whom")

    def __init__(self, key: Any, tell: Callable[[Any, BaseException], None]) -> None:
        self.key = key  # what the writes share (a table)
        self.tell = tell
        self.items: list[Any] = []
        self.whom: list[Any] = []

    def add(self, item: Any, whom: Any) -> None:
        self.items.append(item)
        self.whom.append(whom)

    def failed(self, error: BaseException) -> None:
        for whom in self.whom:
            self.tell(whom, error)


def weight(write: Write) -> int:
    """How many writes `write` is: a `Group`'s size, else one."""
    args = write[1]
    return len(args[0].items) if args and isinstance(args[0], Group) else 1


class WriteThread:
    def __init__(
        self,
        transaction: Callable[[], AbstractContextManager[Any]] = nullcontext,
        name: str = "store-writer",
        spacing_s: float = SPACING_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._transaction = transaction
        self._spacing_s, self._clock, self._sleep = spacing_s, clock, sleep
        self._started = -spacing_s  # when the last batch started, by `clock`
        self._queue: queue.SimpleQueue[_Submitted | None] = queue.SimpleQueue()  # None: stop
        self._closing = False
        self._lock = threading.Lock()  # `_closing` and what is queued agree
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit_all(self, writes: list[Write], done: Future[None]) -> None:
        """Queues `writes`, in order; `done` is settled once every one of them is through."""
        with self._lock:
            if not self._closing:
                self._queue.put((writes, done))
                return
        stopping = RuntimeError("the stand-in is stopping: nothing more is written")
        for _, _, failed in writes:
            failed(stopping)
        done.set_result(None)

    def close(self) -> None:
        """Writes what is queued, then ends the thread."""
        with self._lock:
            self._closing = True
            self._queue.put(None)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            submitted = self._queue.get()
            if submitted is None:
                return
            self._space_out()
            batch: list[Write] = []
            settled_at: list[tuple[int, Future[None]]] = []  # (where its writes end in `batch`, future)
            weighed = 0
            while True:
                batch += submitted[0]
                weighed += sum(map(weight, submitted[0]))
                settled_at.append((len(batch), submitted[1]))
                if weighed >= MAX_BATCH or self._queue.empty():  # only this thread takes from it
                    break
                more = self._queue.get_nowait()  # and whatever else piled up meanwhile
                if more is None:
                    stopping = True
                    break
                submitted = more
            for start, end in batches(batch):
                self._write(batch[start:end])
                while settled_at and settled_at[0][0] <= end:
                    settled_at.pop(0)[1].set_result(None)
            for _, done in settled_at:  # only what submitted no writes at all
                done.set_result(None)

    def _space_out(self) -> None:
        """Waits, if the last batch started less than the spacing ago, for the rest of it."""
        now = self._clock()
        wait = self._started + self._spacing_s - now
        if wait > 0:
            self._sleep(wait)
            now = self._clock()
        self._started = now

    def _write(self, batch: list[Write]) -> None:
        errors: list[BaseException | None] = []
        # one write commits on its own as well as in a transaction, without the BEGIN and COMMIT
        transaction = self._transaction if len(batch) > 1 or weight(batch[0]) > 1 else nullcontext
        try:
            with transaction():
                for write, args, _ in batch:
                    try:
                        write(*args)
                        errors.append(None)
                    except Exception as exc:  # this write's own failure, reported to its caller
                        errors.append(exc)
        except Exception as exc:  # the commit failed: nothing of the batch was kept
            errors = [exc] * len(batch)
        for (_, _, failed), error in zip(batch, errors, strict=True):
            if error is not None:
                failed(error)


def batches(batch: list[Write]) -> list[tuple[int, int]]:
    """`batch` cut into runs of writes of at most MAX_BATCH in weight, in order (a heavier write
    alone): (start, end) of each."""
    chunks: list[tuple[int, int]] = []
    start, weighed = 0, 0
    for at, write in enumerate(batch):
        heavy = weight(write)
        if at > start and weighed + heavy > MAX_BATCH:
            chunks.append((start, at))
            start, weighed = at, 0
        weighed += heavy
    if start < len(batch):
        chunks.append((start, len(batch)))
    return chunks
