"""Handlers for the Lambda host's tests: one that answers with what it was given, one that raises, one that
takes as long as it is told to."""

from __future__ import annotations

import os
import time
from typing import Any

_calls = 0


def echo(event: Any, context: Any) -> dict[str, Any]:
    global _calls
    _calls += 1
    return {
        "event": event,
        "calls": _calls,
        "pid": os.getpid(),
        "function": context.function_name,
        "subject": context.client_context.custom["subject"],
        "remainingMs": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
        "greeting": os.environ.get("GREETING"),
    }


def boom(event: Any, context: Any) -> None:
    if event.get("fail"):
        raise ValueError(f"cannot handle {event['fail']}")
    return event


def slow(event: Any, context: Any) -> dict[str, Any]:
    time.sleep(float(event.get("seconds", 0)))
    return {"slept": event.get("seconds", 0), "n": event.get("n"), "pid": os.getpid()}
