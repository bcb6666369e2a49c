"""The `context` a Lambda-style handler gets, the same wherever edgeway calls one: the stand-in's
functions, the local CloudFront's Lambda@Edge functions and the core's Lambda host.

Attribute names and types follow the Python Lambda runtime (`memory_limit_in_mb` is a string there,
read from the environment). The deadline is on the scale of the clock passed in, so the remaining time
can be tested without waiting, and a context sent to another process carries a wall-clock deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], float]


@dataclass(frozen=True)
class ClientContext:
    """What a mobile SDK (or Greengrass, for a Lambda component's triggering topic) passes along."""

    custom: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, Any] = field(default_factory=dict)
    client: Any = None


@dataclass(slots=True)
class LambdaContext:
    """Not frozen: the Python runtime's context is a plain object, and one is built for every call (a
    frozen dataclass's `__init__` sets each of its eleven fields through `object.__setattr__`, four
    times the cost, twice on every local CloudFront cache hit)."""

    function_name: str
    aws_request_id: str
    deadline: float  # on `clock`'s scale
    clock: Clock = time.monotonic
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    memory_limit_in_mb: str = "128"
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: ClientContext | None = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock()) * 1000))


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return arn if qualifier is None else f"{arn}:{qualifier}"
