"""The rules engine: every message through every rule whose FROM matches it, then the actions.

Evaluation is pure and quick, so it runs where the message arrives (the broker's loop); the actions go
to an `ActionRunner`, which decides where each runs and reports a failure back through `failed`, which
sends IoT Core's error-action payload to the rule's errorAction. `timestamp()` is the same for every
rule that sees one message. Statements are compiled to closures when the engine is made
(`sql_compile`), and a WHERE that several rules share is evaluated once per message.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any, NamedTuple, Protocol

from cloud_backend.rules.model import Action, PutRecord, Republish, Rule, describe
from cloud_backend.rules.sql_compile import CompiledStatement, Rules, compile_rules
from cloud_backend.rules.sql_eval import Environment, Evaluator, Message
from edgeway_common.json_codec import dumps_compact
from edgeway_common.topics import topic_matches

log = logging.getLogger("edgeway.rules")
MAX_TOPICS = 4096  # topics whose matching rules are kept


class ActionCall(NamedTuple):
    """One action to run for one message: the action, its rendered target and the rule's output. A
    named tuple, made for every action of every message (a frozen dataclass sets each field through
    `object.__setattr__`)."""

    rule: Rule
    action: Action
    message: Message
    output: dict[str, Any]
    target: str = ""  # the rendered topic (republish) or partition key (kinesis)

    def payload(self) -> bytes:
        return dumps_compact(self.output).encode()


class ActionRunner(Protocol):
    def run(self, call: ActionCall, failed: Callable[[ActionCall, str], None]) -> Future[Any] | None:
        """Run `call`; on failure, call `failed(call, error message)` (from any thread). For a durable
        write (a table or a stream) returns a future settled once the write is through (kept, or
        failed and reported), else None."""


class _Prepared(NamedTuple):
    """A rule as `process` runs it: its compiled statement, the slot its WHERE's answer is kept in for
    the other rules with the same WHERE, and its actions."""

    rule: Rule
    compiled: CompiledStatement
    slot: int
    actions: tuple[Action, ...]


class _Topic(NamedTuple):
    """What a topic reaches: the rules whose FROM matches it, and them as one generated function."""

    matching: tuple[_Prepared, ...]
    generated: Rules | None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def random_uuid() -> str:
    """`newuuid()`: a random (version 4) UUID. Drawn from `random`, not the system's entropy as
    `uuid.uuid4` does: IoT SQL's newuuid() makes an identifier (the store rule's sort key ends with
    one), not a secret, and this saves a system call per message (about 4% of the broker loop's time
    on the chat path, paced). Its version and variant bits set as `uuid.UUID(version=4)` sets them,
    and written out directly rather than through a UUID object (a third of the time), through
    `bytes.hex` rather than a format (520 against 770 ns)."""
    value = (random.getrandbits(128) & _UUID_CLEARED | _UUID_VERSION_4).to_bytes(16, "big").hex()
    return f"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"


_UUID_CLEARED = ~((0xF000 << 64) | (0xC000 << 48))  # the version's and the variant's bits
_UUID_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


class RulesEngine:
    def __init__(
        self,
        rules: Sequence[Rule],
        runner: ActionRunner,
        now_ms: Callable[[], int] = _now_ms,
        new_uuid: Callable[[], str] = random_uuid,
    ) -> None:
        self.rules = tuple(rules)
        shared: dict[Any, int] = {}  # one slot per distinct WHERE
        self._prepared = []
        for rule in self.rules:
            where = rule.statement.where
            slot = shared.setdefault(where, len(shared)) if where is not None else -1
            self._prepared.append(_Prepared(rule, CompiledStatement(rule.statement), slot, rule.actions))
        self._slots = len(shared)
        self._matching: dict[str, _Topic] = {}  # topic -> the rules whose FROM matches it
        self._generated: dict[tuple[int, ...], Rules | None] = {}  # those rules -> them as one function
        self._runner = runner
        self._report = self._failed  # bound once: handed over with every action
        self._now_ms = now_ms
        self._new_uuid = new_uuid

    def process(
        self, topic: str, payload: bytes, client_id: str = "", durable: list[Future[Any]] | None = None
    ) -> int:
        """Runs the matching rules; returns how many produced output. `durable` collects the writes
        that keep the message (table and stream actions), for an acknowledgement that waits on them."""
        matching, generated = self._rules_for(topic)
        if not matching:
            return 0
        message = Message(topic, payload, client_id)
        now = self._now_ms()
        environment = Environment(lambda: now, self._new_uuid)  # positional: half the time of keywords
        evaluator = Evaluator(message, message.document(), environment)
        fired: list[int] = []
        run, report = self._runner.run, self._report

        def fire(index: int, output: dict[str, Any]) -> None:
            """Rule `index` (of `matching`) gave `output`: its actions run."""
            rule, _, _, actions = matching[index]
            fired.append(index)
            for action in actions:
                pending = run(self._call(rule, action, evaluator, output), report)
                if pending is not None and durable is not None:
                    durable.append(pending)

        if generated is not None:
            generated(evaluator, fire)
            return len(fired)
        wheres: list[bool | None] = [None] * self._slots
        for index, (_, compiled, slot, _) in enumerate(matching):
            if compiled.where is not None:
                holds = wheres[slot]
                if holds is None:
                    holds = wheres[slot] = compiled.where(evaluator) is True
                if not holds:
                    continue
            fire(index, compiled.select(evaluator))
        return len(fired)

    def _rules_for(self, topic: str) -> _Topic:
        """The rules whose FROM matches `topic`, in their order, and them as one generated function
        (the same for every topic that reaches the same rules; None when they cannot be one);
        worked out once per topic (the rules do not change), for at most MAX_TOPICS topics before
        the table starts again."""
        found = self._matching.get(topic)
        if found is None:
            indexes = tuple(
                at
                for at, prepared in enumerate(self._prepared)
                if topic_matches(prepared.rule.statement.topic_filter, topic)
            )
            if indexes not in self._generated:
                self._generated[indexes] = (
                    compile_rules([(self._prepared[at].compiled, self._prepared[at].slot) for at in indexes])
                    if indexes
                    else None
                )
            found = _Topic(tuple(self._prepared[at] for at in indexes), self._generated[indexes])
            if len(self._matching) >= MAX_TOPICS:
                self._matching.clear()
            self._matching[topic] = found
        return found

    @staticmethod
    def _call(rule: Rule, action: Action, evaluator: Evaluator, output: dict[str, Any]) -> ActionCall:
        target = ""
        if isinstance(action, Republish):
            target = action.topic.render_for(evaluator)
        elif isinstance(action, PutRecord):
            target = action.partition_key.render_for(evaluator)
        return ActionCall(rule, action, evaluator.message, output, target)

    def _failed(self, call: ActionCall, error: str) -> None:
        failed_action, resource = describe(call.action)
        log.warning(
            "rule action failed",
            extra={"rule": call.rule.name, "action": failed_action, "resource": resource, "error": error},
        )
        if call.rule.error_action is None or call.action is call.rule.error_action:
            return
        document = {
            "ruleName": call.rule.name,
            "topic": call.message.topic,
            "cloudwatchTraceId": self._new_uuid(),
            "clientId": call.message.client_id,
            "base64OriginalPayload": base64.b64encode(call.message.payload).decode("ascii"),
            "failures": [{"failedAction": failed_action, "failedResource": resource, "errorMessage": error}],
        }
        environment = Environment(now_ms=self._now_ms, new_uuid=self._new_uuid)
        evaluator = Evaluator(call.message, call.message.document(), environment)
        error_call = self._call(call.rule, call.rule.error_action, evaluator, document)
        self._runner.run(error_call, self._failed)
