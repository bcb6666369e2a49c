"""The lifecycle's pure rules: transitions, and the error count with its reset window (a fake clock)."""

from __future__ import annotations

import pytest

from greengrass_components.runtime.lifecycle_rules import (
    ErrorCounter,
    Event,
    LifecycleError,
    next_state,
)
from greengrass_components.runtime.state_board import State


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("state", "event", "expected"),
    [
        (State.NEW, Event.INSTALLED, State.INSTALLED),
        (State.INSTALLED, Event.START, State.STARTING),
        (State.STARTING, Event.STARTED, State.RUNNING),
        (State.STARTING, Event.NOTHING_TO_RUN, State.FINISHED),
        (State.RUNNING, Event.RUN_EXITED, State.FINISHED),
        (State.RUNNING, Event.FAILED, State.ERRORED),
        (State.NEW, Event.FAILED, State.ERRORED),
        (State.ERRORED, Event.RETRY_INSTALL, State.NEW),
        (State.ERRORED, Event.SHUTDOWN, State.STOPPING),
        (State.STOPPING, Event.STOPPED_TO_RESTART, State.INSTALLED),
        (State.RUNNING, Event.STOPPED, State.FINISHED),
        (State.STARTING, Event.FAILED_TOO_OFTEN, State.BROKEN),
        (State.BROKEN, Event.INTERNAL_ERROR, State.BROKEN),
    ],
)
def test_each_event_leads_where_the_nucleus_goes(state, event, expected):
    assert next_state(state, event) is expected


@pytest.mark.parametrize(
    ("state", "event"),
    [
        (State.BROKEN, Event.STOPPED),  # broken stays broken until redeployed
        (State.BROKEN, Event.START),
        (State.NEW, Event.STARTED),  # never running without installing and starting
        (State.FINISHED, Event.FAILED_TOO_OFTEN),  # FINISHED is not a counted state
        (State.RUNNING, Event.RETRY_INSTALL),
    ],
)
def test_an_event_with_no_transition_from_a_state_is_refused_with_both_named(state, event):
    with pytest.raises(LifecycleError, match=f"{event.value}.*{state}"):
        next_state(state, event)


def test_the_third_error_in_a_row_from_a_state_breaks_the_component():
    clock = FakeClock()
    errors = ErrorCounter(clock, reset_seconds=3600)
    assert errors.failed(State.RUNNING) is Event.FAILED
    clock.now += 10
    assert errors.failed(State.RUNNING) is Event.FAILED
    clock.now += 10
    assert errors.failed(State.RUNNING) is Event.FAILED_TOO_OFTEN
    assert errors.count(State.RUNNING) == 3


def test_errors_from_different_states_are_counted_apart_and_uncounted_states_never_break():
    errors = ErrorCounter(FakeClock())
    assert [errors.failed(s) for s in (State.NEW, State.STARTING, State.RUNNING, State.NEW)] == [
        Event.FAILED
    ] * 4
    assert all(errors.failed(State.FINISHED) is Event.FAILED for _ in range(5))
    assert errors.count(State.NEW) == 2 and errors.count(State.FINISHED) == 0


def test_an_error_after_the_reset_window_starts_the_count_again():
    clock = FakeClock()
    errors = ErrorCounter(clock, reset_seconds=60)
    errors.failed(State.STARTING)
    clock.now += 59.9
    errors.failed(State.STARTING)  # within the window of the last one: 2
    clock.now += 60.0  # the last error is now exactly as old as the window
    assert errors.failed(State.STARTING) is Event.FAILED
    assert errors.count(State.STARTING) == 1
    clock.now += 1
    errors.failed(State.STARTING)
    clock.now += 1
    assert errors.failed(State.STARTING) is Event.FAILED_TOO_OFTEN


def test_leaving_a_state_any_other_way_resets_its_count():
    errors = ErrorCounter(FakeClock())
    errors.failed(State.RUNNING)
    errors.failed(State.RUNNING)
    errors.left(State.RUNNING)
    assert errors.count(State.RUNNING) == 0
    assert errors.failed(State.RUNNING) is Event.FAILED
