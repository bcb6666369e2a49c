"""Every component's lifecycle state in one place, and a way to wait on it.

Waiters check a predicate and then wait for the next change; each change sets
the current event and replaces it, so no change can slip between the check and
the wait. `epoch(name)` counts how often a component has left the ready states
(RUNNING, FINISHED): a dependent that saw epoch 3 when it started and now sees 4
knows its dependency restarted, however fast that went.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    NEW = "NEW"
    INSTALLED = "INSTALLED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    STOPPING = "STOPPING"
    FINISHED = "FINISHED"
    ERRORED = "ERRORED"
    BROKEN = "BROKEN"


READY = frozenset({State.RUNNING, State.FINISHED})


@dataclass(frozen=True)
class StateChange:
    name: str
    old: State | None
    new: State
    reason: str


Listener = Callable[[StateChange], None]


class StateBoard:
    def __init__(self) -> None:
        self._states: dict[str, State] = {}
        self._reasons: dict[str, str] = {}
        self._epochs: dict[str, int] = {}
        self._changed = asyncio.Event()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def state(self, name: str) -> State | None:
        return self._states.get(name)

    def reason(self, name: str) -> str:
        return self._reasons.get(name, "")

    def epoch(self, name: str) -> int:
        return self._epochs.get(name, 0)

    def names(self) -> list[str]:
        return list(self._states)

    def publish(self, name: str, state: State, reason: str = "") -> None:
        old = self._states.get(name)
        if old in READY and state not in READY:
            self._epochs[name] = self.epoch(name) + 1
        self._states[name] = state
        self._reasons[name] = reason
        change = StateChange(name, old, state, reason)
        for listener in list(self._listeners):
            listener(change)
        self.poke()

    def forget(self, name: str) -> None:
        self._states.pop(name, None)
        self._reasons.pop(name, None)
        self.poke()

    def poke(self) -> None:
        """Wake every waiter so it checks its predicate again."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float | None = None) -> bool:
        """True once `predicate()` holds; False if `timeout` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not predicate():
            event = self._changed
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return predicate()
        return True
