"""The lifecycle's rules as pure code: which state an event leads to, and when errors break a component.

    NEW -(installed)-> INSTALLED -(start)-> STARTING -(started)-> RUNNING -(run exited 0)-> FINISHED
    STARTING -(nothing to run)-> FINISHED
    NEW, STARTING, RUNNING, FINISHED -(failed)-> ERRORED -(retry install)-> NEW
    any state but BROKEN -(shutdown)-> STOPPING -(stopped to restart)-> INSTALLED
    any state but BROKEN -(stopped)-> FINISHED
    NEW, STARTING, RUNNING -(failed too often)-> BROKEN;  any state -(internal error)-> BROKEN

`ErrorCounter` keeps the nucleus's rule: errors are counted per state they came from (NEW, STARTING,
RUNNING); a state's count resets when the component leaves it any other way, or when its last error
is older than the reset window; the third error in a row breaks the component. The clock is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

from .errors import CoreError
from .state_board import State

MAXIMUM_CONTINUAL_ERRORS = 3
DEFAULT_ERROR_RESET_SECONDS = 3600.0
COUNTED_STATES = frozenset({State.NEW, State.STARTING, State.RUNNING})


class Event(Enum):
    INSTALLED = "installed"
    START = "start"
    STARTED = "started"
    NOTHING_TO_RUN = "nothing to run"
    RUN_EXITED = "run exited 0"
    FAILED = "failed"
    FAILED_TOO_OFTEN = "failed too often"
    RETRY_INSTALL = "retry install"
    SHUTDOWN = "shutdown"
    STOPPED_TO_RESTART = "stopped to restart"
    STOPPED = "stopped"
    INTERNAL_ERROR = "internal error"


class LifecycleError(CoreError):
    """An event that the state it arrived in has no transition for: a bug in the runner."""


_NOT_BROKEN = frozenset(State) - {State.BROKEN}

_TRANSITIONS: dict[Event, tuple[frozenset[State], State]] = {
    Event.INSTALLED: (frozenset({State.NEW}), State.INSTALLED),
    Event.START: (frozenset({State.INSTALLED}), State.STARTING),
    Event.STARTED: (frozenset({State.STARTING}), State.RUNNING),
    Event.NOTHING_TO_RUN: (frozenset({State.STARTING}), State.FINISHED),
    Event.RUN_EXITED: (frozenset({State.RUNNING, State.FINISHED}), State.FINISHED),
    Event.FAILED: (
        frozenset({State.NEW, State.STARTING, State.RUNNING, State.FINISHED}),
        State.ERRORED,
    ),
    Event.FAILED_TOO_OFTEN: (COUNTED_STATES, State.BROKEN),
    Event.RETRY_INSTALL: (frozenset({State.ERRORED}), State.NEW),
    Event.SHUTDOWN: (_NOT_BROKEN, State.STOPPING),  # from NEW or INSTALLED only while a script still runs
    Event.STOPPED_TO_RESTART: (frozenset({State.STOPPING, State.INSTALLED}), State.INSTALLED),
    Event.STOPPED: (_NOT_BROKEN, State.FINISHED),
    Event.INTERNAL_ERROR: (frozenset(State), State.BROKEN),
}


def next_state(state: State, event: Event) -> State:
    """The state `event` leads to from `state`; LifecycleError if it has no transition there."""
    sources, target = _TRANSITIONS[event]
    if state not in sources:
        raise LifecycleError(f"no lifecycle transition for {event.value!r} in state {state}")
    return target


class ErrorCounter:
    def __init__(
        self,
        clock: Callable[[], float],
        reset_seconds: float = DEFAULT_ERROR_RESET_SECONDS,
        maximum: int = MAXIMUM_CONTINUAL_ERRORS,
    ) -> None:
        self._clock = clock
        self._reset = reset_seconds
        self._maximum = maximum
        self._errors: dict[State, list[float]] = {}

    def failed(self, came_from: State) -> Event:
        """Counts an error that came from `came_from`: FAILED, or FAILED_TOO_OFTEN at the maximum."""
        if came_from not in COUNTED_STATES:
            return Event.FAILED
        errors = self._errors.setdefault(came_from, [])
        now = self._clock()
        if errors and now - errors[-1] >= self._reset:
            errors.clear()
        errors.append(now)
        return Event.FAILED_TOO_OFTEN if len(errors) >= self._maximum else Event.FAILED

    def left(self, state: State) -> None:
        """The component left `state` some way other than an error: its count starts again."""
        self._errors.pop(state, None)

    def count(self, state: State) -> int:
        return len(self._errors.get(state, ()))
