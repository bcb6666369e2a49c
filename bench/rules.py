"""IoT SQL: the interpreter against the compiled statements (Python functions generated at load, with
closures for the rest), side by side, on the template's own rules.

    python bench/rules.py [--messages 200000]

Messages: chat messages, joins, commands and stream batches as the web app and the uplink send them,
each through every rule whose FROM matches, in both evaluators; every answer compared. CPU time per
evaluation from `time.process_time`; and per message, the engine as the broker runs it (compiled, a
WHERE that several rules share evaluated once) against the interpreter rule by rule. Prints one JSON
object. Goal (issue 18): the rules at half their cost.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import machine  # noqa: E402
from cloud_backend.local.stack import DEFAULT_TEMPLATE  # noqa: E402
from cloud_backend.rules.engine import RulesEngine  # noqa: E402
from cloud_backend.rules.loader import load_rules  # noqa: E402
from cloud_backend.rules.model import Rule  # noqa: E402
from cloud_backend.rules.sql_compile import CompiledStatement  # noqa: E402
from cloud_backend.rules.sql_eval import Environment, Message, evaluate  # noqa: E402
from edgeway_common import cfn  # noqa: E402
from edgeway_common.topics import topic_matches  # noqa: E402


def messages(count: int, rng: random.Random) -> list[Message]:
    made = []
    for n in range(count):
        kind = rng.random()
        if kind < 0.6:
            room, text = rng.choice(["lobby", "ops", "alerts"]), "hello " * rng.randint(1, 5)
            body = {"type": "message", "room": room, "text": text, "id": f"m-{n}", "user": "ada"}
            made.append(Message("chat/out", json.dumps(body).encode(), "user-1"))
        elif kind < 0.75:
            made.append(
                Message(
                    "chat/out", json.dumps({"type": "join", "room": "lobby", "id": f"j-{n}"}).encode(), "u"
                )
            )
        elif kind < 0.85:
            made.append(
                Message(
                    "chat/out", json.dumps({"type": "command", "text": "/who", "id": f"c-{n}"}).encode(), "u"
                )
            )
        else:
            readings = [
                {"id": f"r-{n}-{i}", "sensor": "temperature", "value": 20 + i, "ts": n} for i in range(5)
            ]
            made.append(
                Message("chat/stream", json.dumps({"thing": "gw-1", "readings": readings}).encode(), "gw-1")
            )
    return made


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200_000)
    args = parser.parse_args()
    rules = template_rules()
    compiled = [CompiledStatement(rule.statement) for rule in rules]
    environment = Environment(now_ms=lambda: 1_800_000_000_000, new_uuid=lambda: "u")
    batch = messages(args.messages, random.Random(5))
    pairs = [
        (
            m,
            [
                (r, c)
                for r, c in zip(rules, compiled, strict=True)
                if topic_matches(r.statement.topic_filter, m.topic)
            ],
        )
        for m in batch
    ]
    evaluations = sum(len(matching) for _, matching in pairs)

    def timed(run) -> tuple[float, list]:
        answers = []
        started = time.process_time()
        for message, matching in pairs:
            fresh = Message(
                message.topic, message.payload, message.client_id
            )  # the payload parsed anew, as per message
            for rule, statement in matching:
                answers.append(run(rule, statement, fresh))
        return time.process_time() - started, answers

    interpreted_s, interpreted = timed(
        lambda rule, statement, message: evaluate(rule.statement, message, environment)
    )
    compiled_s, compiled_answers = timed(
        lambda rule, statement, message: statement.evaluate(message, environment)
    )
    mismatches = sum(1 for a, b in zip(interpreted, compiled_answers, strict=True) if a != b)

    # Per message, as the broker's loop pays it: the engine (compiled, a WHERE shared by several rules
    # evaluated once, actions handed to a runner that does nothing) against the interpreter rule by rule.
    engine = RulesEngine(rules, NoActions(), environment.now_ms, environment.new_uuid)
    started = time.process_time()
    for message, matching in pairs:
        for rule, _ in matching:
            evaluate(rule.statement, Message(message.topic, message.payload, message.client_id), environment)
    per_message_interpreter = time.process_time() - started
    started = time.process_time()
    for message in batch:
        engine.process(message.topic, message.payload, message.client_id)
    per_message_engine = time.process_time() - started
    print(json.dumps({
        "benchmark": "rules", "machine": machine(), "rules": [r.name for r in rules], "messages": len(batch),
        "evaluations": evaluations, "mismatches": mismatches,
        "interpreter_us_per_evaluation": round(1e6 * interpreted_s / evaluations, 2),
        "compiled_us_per_evaluation": round(1e6 * compiled_s / evaluations, 2),
        "ratio_compiled_to_interpreter": round(compiled_s / interpreted_s, 3),
        "interpreter_rule_by_rule_us_per_message": round(1e6 * per_message_interpreter / len(batch), 2),
        "engine_us_per_message": round(1e6 * per_message_engine / len(batch), 2),
        "ratio_engine_to_interpreter_per_message": round(per_message_engine / per_message_interpreter, 3),
    }))  # fmt: skip


def template_rules() -> list[Rule]:
    """The rules of the project's cloud template, as `edgeway cloud run` loads them."""
    template = cfn.load_template(DEFAULT_TEMPLATE)
    return load_rules(template, cfn.LocalResolver(template, {}, str(DEFAULT_TEMPLATE)))


class NoActions:
    """An action runner that runs nothing: the rules' own cost, without their actions'."""

    def run(self, call: Any, failed: Any) -> None:
        return None


if __name__ == "__main__":
    main()
