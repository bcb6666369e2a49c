"""Group commit in the writer thread (`cloud_backend.local.write_thread`): a write after a quiet spell
goes at once; writes that follow the last batch sooner than the spacing wait out the rest of it and
go in one transaction. The real thread, with its clock and its sleep passed in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager

from cloud_backend.local.write_thread import WriteThread

SPACING = 0.02


class Clock:
    """Time as the test sets it; `sleep` tells the test it was asked and waits for the test's go."""

    def __init__(self) -> None:
        self.now = 100.0
        self.asked: list[float] = []
        self.asleep = threading.Event()
        self.wake = threading.Event()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.asleep.set()
        assert self.wake.wait(10), "the test never woke the writer"
        self.now += seconds


class Store:
    """Writes by name, and the transactions they went in."""

    def __init__(self) -> None:
        self.transactions: list[list[str]] = []
        self.alone: list[str] = []
        self._open: list[str] | None = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._open = []
        yield
        self.transactions.append(self._open)
        self._open = None

    def write(self, name: str) -> None:
        (self._open if self._open is not None else self.alone).append(name)


def submit(writer: WriteThread, store: Store, *names: str) -> Future[None]:
    done: Future[None] = Future()
    writer.submit_all([(store.write, (name,), print) for name in names], done)
    return done


def test_a_write_after_a_quiet_spell_goes_at_once():
    clock, store = Clock(), Store()
    writer = WriteThread(store.transaction, spacing_s=SPACING, clock=clock, sleep=clock.sleep)
    try:
        submit(writer, store, "first").result(10)
        clock.now += SPACING  # a quiet spell as long as the spacing
        submit(writer, store, "second").result(10)
    finally:
        writer.close()
    assert clock.asked == []
    assert store.alone == ["first", "second"] and store.transactions == []


def test_writes_that_follow_a_batch_sooner_wait_out_the_spacing_and_go_together():
    clock, store = Clock(), Store()
    writer = WriteThread(store.transaction, spacing_s=SPACING, clock=clock, sleep=clock.sleep)
    try:
        submit(writer, store, "a").result(10)
        clock.now += 0.005
        b = submit(writer, store, "b")
        assert clock.asleep.wait(10), "the writer did not wait out the spacing"
        assert not b.done()  # nothing written while it waits
        c, d = submit(writer, store, "c"), submit(writer, store, "d", "e")
        clock.wake.set()
        for done in (b, c, d):
            done.result(10)
        clock.asleep.clear()
        clock.now += 0.001  # the next batch starts sooner again: waits again
        f = submit(writer, store, "f")
        assert clock.asleep.wait(10)
        f.result(10)
    finally:
        writer.close()
    assert len(clock.asked) == 2
    assert abs(clock.asked[0] - (SPACING - 0.005)) < 1e-9 and abs(clock.asked[1] - (SPACING - 0.001)) < 1e-9
    assert store.alone == ["a", "f"]
    assert store.transactions == [["b", "c", "d", "e"]]  # one commit for all that came meanwhile
