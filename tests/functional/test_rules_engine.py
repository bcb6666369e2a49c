"""The rules engine: loading from templates (errors at load with the rule and the position), actions,
substitution templates, and the errorAction when a handler fails."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from cloud_backend.errors import StoreError
from cloud_backend.local.action_runner import LocalActionRunner
from cloud_backend.local.lambda_host import FunctionSpec, LambdaHost
from cloud_backend.local.write_thread import MAX_BATCH
from cloud_backend.rules.engine import MAX_TOPICS, RulesEngine
from cloud_backend.rules.loader import RuleLoadError, load_rules
from cloud_backend.store.sqlite import SqliteDatabase, SqliteMessageStore
from cloud_backend.streams.log import StreamLog
from edgeway_common import cfn
from edgeway_common.topics import topic_matches
from tests.backend_support import TEMPLATE
from tests.fakes.broker import free_port
from tests.waiting import wait_for


def rule_template(sql: str, actions: list, error_action: dict | None = None) -> dict:
    payload: dict = {"Sql": sql, "Actions": actions}
    if error_action:
        payload["ErrorAction"] = error_action
    return {
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"Handler": "tests.cloud_test_handlers.failing.handler"},
            },
            "TheRule": {"Type": "AWS::IoT::TopicRule", "Properties": {"TopicRulePayload": payload}},
        }
    }


def load(template: dict) -> list:
    return load_rules(template, cfn.LocalResolver(template, source="t.yaml"))


def test_the_templates_rules_all_load():
    template = cfn.load_template(TEMPLATE)
    names = {rule.name for rule in load(template)}
    assert names == {
        "StoreMessagesRule",
        "RepublishMessagesRule",
        "ChatCommandsRule",
        "PresenceRule",
        "TelemetryStreamRule",
    }


REPUBLISH = [{"Republish": {"Topic": "b"}}]
WHERE = "t.yaml: rule TheRule: "


@pytest.mark.parametrize(
    ("sql", "actions", "message"),
    [
        (
            "SELECT * FROM 'a' WHERE (x = ",
            REPUBLISH,
            WHERE + "SQL does not parse: expected an expression, found 'the end' at column 30",
        ),
        (
            "SELECT * FROM a",
            REPUBLISH,
            WHERE + "SQL does not parse: expected a quoted topic filter after FROM, found 'a' at column 15",
        ),
        (
            "SELECT * FROM 'a'",
            [{"Republish": {"Topic": "b/${(}"}}],
            WHERE + "Actions[0]: substitution template 'b/${(}' does not parse",
        ),
        (
            "SELECT * FROM 'a'",
            [{"Sns": {"TargetArn": "x"}}],
            WHERE + "Actions[0]: action Sns is not supported",
        ),
        (
            "SELECT * FROM 'a'",
            [{"Lambda": {"FunctionArn": "local:Nope.Arn"}}],
            "'local:Nope.Arn' is not a function",
        ),
        ("SELECT * FROM 'a'", [{"Republish": {}}], WHERE + "Actions[0]: Republish is missing 'Topic'"),
        (
            "SELECT md5(a) AS h FROM 'a'",
            REPUBLISH,
            WHERE + "SQL does not parse: md5() is not a function the local rules engine runs (abs,",
        ),
        (
            "SELECT * FROM 'a'",
            [{"Republish": {"Topic": "b/${md5(x)}"}}],
            WHERE + "Actions[0]: substitution template 'b/${md5(x)}' does not parse: md5() is not a function",
        ),
        ("SELECT * FROM 'a'", [], WHERE + "a rule needs at least one action"),
    ],
)
def test_a_rule_that_cannot_run_fails_at_load_naming_the_rule_and_place(sql, actions, message):
    with pytest.raises(RuleLoadError) as caught:
        load(rule_template(sql, actions))
    assert message in str(caught.value)


def test_edgeway_cloud_run_refuses_a_template_with_bad_sql(tmp_path):
    text = TEMPLATE.read_text().replace("FROM 'chat/stream'", "FROM chat/stream")
    bad = tmp_path / "template.yaml"
    bad.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", "edgeway.cli", "cloud", "run", "--data-dir", str(tmp_path / "d"),
         "--template", str(bad), "--mqtt-port", str(free_port()), "--ws-port", str(free_port()),
         "--http-port", str(free_port()), "--discovery-port", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0
    assert "rule TelemetryStreamRule: SQL does not parse" in result.stderr
    assert "at column" in result.stderr


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("chat/out", "chat/out", True),
        ("chat/+", "chat/out", True),
        ("chat/#", "chat/in/a", True),
        ("chat/+", "chat/in/a", False),
        ("#", "$aws/events/presence/connected/a", False),
        ("$aws/events/presence/+/+", "$aws/events/presence/connected/a", True),
        ("chat/out", "chat/out/x", False),
    ],
)
def test_topic_filters(topic_filter, topic, expected):
    assert topic_matches(topic_filter, topic) is expected


class Bus:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    def publish(self, topic: str, payload: bytes, client_id: str = "", qos: int = 0) -> None:
        self.published.append((topic, payload))

    def after_delivery(self, job: Callable[[], None]) -> None:
        job()


@pytest.fixture
def runner(tmp_path):
    db = SqliteDatabase(tmp_path / "b.sqlite3")
    stream = StreamLog(tmp_path / "s.sqlite3", "Telemetry")
    host = LambdaHost({"Fn": FunctionSpec("Fn", "tests.cloud_test_handlers.failing.handler", 3.0)})
    local = LocalActionRunner(
        Bus(), host, {"Messages": SqliteMessageStore(db)}, {"Telemetry": stream}, tmp_path / "rule-errors.log"
    )
    yield local
    local.close()
    host.close()
    stream.close()
    db.close()


def test_republish_renders_substitution_templates_from_the_original_message(runner):
    template = rule_template(
        "SELECT text, upper(user) AS who FROM 'chat/out' WHERE type = 'message'",
        [{"Republish": {"Topic": "chat/pub/${room}/${lower(user)}/${clientid()}"}}],
    )
    engine = RulesEngine(load(template), runner, now_ms=lambda: 5)
    assert (
        engine.process(
            "chat/out",
            json.dumps({"type": "message", "room": "lobby", "user": "Ada", "text": "hi"}).encode(),
            "c-1",
        )
        == 1
    )
    assert engine.process("chat/out", b'{"type": "join"}', "c-1") == 0
    assert runner.bus.published == [("chat/pub/lobby/ada/c-1", b'{"text":"hi","who":"ADA"}')]


def test_a_failing_handler_is_logged_and_goes_to_the_error_action(runner, tmp_path):
    template = rule_template(
        "SELECT * FROM 'chat/out'",
        [{"Lambda": {"FunctionArn": "local:Fn.Arn"}}],
        {"CloudwatchLogs": {"LogGroupName": "rule-errors"}},
    )
    engine = RulesEngine(load(template), runner, new_uuid=lambda: "trace-1")
    engine.process("chat/out", b'{"type": "message"}', "c-9")
    log = tmp_path / "rule-errors.log"
    line = json.loads(wait_for(lambda: log.exists() and log.read_text().strip(), 10, "the error action"))
    assert line["ruleName"] == "TheRule" and line["clientId"] == "c-9" and line["logGroup"] == "rule-errors"
    assert base64.b64decode(line["base64OriginalPayload"]) == b'{"type": "message"}'
    (failure,) = line["failures"]
    assert failure["failedAction"] == "LambdaAction" and failure["failedResource"] == "Fn"
    assert "RuntimeError: cannot handle ['type'] in Fn" in failure["errorMessage"]


def test_a_dynamodb_action_with_an_item_that_lacks_the_key_goes_to_the_error_action(runner, tmp_path):
    template = rule_template(
        "SELECT text FROM 'chat/out'",
        [{"DynamoDBv2": {"PutItem": {"TableName": "Messages"}}}],
        {"Republish": {"Topic": "errors/${topic()}"}},
    )
    engine = RulesEngine(load(template), runner)
    engine.process("chat/out", b'{"text": "no room"}', "c-1")
    wait_for(lambda: runner.bus.published, 10, "the republish error action")
    topic, payload = runner.bus.published[0]
    assert topic == "errors/chat/out"
    assert json.loads(payload)["failures"][0]["failedAction"] == "DynamoDBv2Action"


class HoldingBus(Bus):
    """Keeps what is to run after the delivery until `deliver()`, as the broker's loop does until it
    has written the fan-out."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Callable[[], None]] = []
        self._lock = threading.Lock()  # error actions ask from the writer thread

    def after_delivery(self, job: Callable[[], None]) -> None:
        with self._lock:
            self.held.append(job)

    def deliver(self) -> None:
        with self._lock:
            held, self.held = self.held, []
        for job in held:
            job()


def test_table_writes_and_lambda_calls_start_once_the_delivery_is_written(tmp_path):
    db = SqliteDatabase(tmp_path / "b.sqlite3")
    store = SqliteMessageStore(db)
    host = LambdaHost({"Fn": FunctionSpec("Fn", "tests.cloud_test_handlers.failing.handler", 3.0)})
    bus = HoldingBus()
    runner = LocalActionRunner(bus, host, {"Messages": store}, {}, tmp_path / "rule-errors.log")
    template = rule_template(
        "SELECT room, concat('k#', id) AS sk, text FROM 'chat/out'",
        [
            {"DynamoDBv2": {"PutItem": {"TableName": "Messages"}}},
            {"Republish": {"Topic": "chat/pub/${room}"}},
            {"Lambda": {"FunctionArn": "local:Fn.Arn"}},
        ],
        {"CloudwatchLogs": {"LogGroupName": "rule-errors"}},
    )
    durable: list = []
    try:
        engine = RulesEngine(load(template), runner)
        engine.process("chat/out", b'{"room": "lobby", "id": "1", "text": "hi"}', "c-1", durable)
        assert bus.published == [("chat/pub/lobby", b'{"room":"lobby","sk":"k#1","text":"hi"}')]
        (write,) = durable
        assert len(bus.held) == 2 and not write.done() and store.recent("lobby", 10) == []
        bus.deliver()
        assert write.result(10) is None
        assert [m.text for m in store.recent("lobby", 10)] == ["hi"]
        # the function ran and failed: its error action's write waits for a delivery too
        wait_for(lambda: bus.held, 10, "the Lambda's error action")
        bus.deliver()
        log = tmp_path / "rule-errors.log"
        wait_for(lambda: log.exists() and "LambdaAction" in log.read_text(), 10, "the error action's line")
    finally:
        runner.close()
        host.close()
        db.close()


def test_messages_of_one_millisecond_are_kept_in_the_order_of_their_ids(runner):
    """The store rule's sort key is time#id#uuid: messages that reach the server within one millisecond
    (an outbox flushed on reconnect) are kept in the order of their ids, which the web app makes as
    UUIDv7s in the order they are written, whatever the uuids the rule draws."""
    store = runner.tables["MessagesTable"] = runner.tables["Messages"]  # the template's table name
    rules = [rule for rule in load(cfn.load_template(TEMPLATE)) if rule.name == "StoreMessagesRule"]
    drawn = iter(["ffffffff-0000-4000-8000-000000000000", "88888888-0000-4000-8000-000000000000"])
    engine = RulesEngine(rules, runner, now_ms=lambda: 1_800_000_000_000, new_uuid=lambda: next(drawn))
    ids = ["018f0000-0000-7000-8000-00000000000a", "018f0000-0000-7001-8000-000000000001"]
    for text, message_id in zip(("first", "second"), ids, strict=True):
        message = {"type": "message", "room": "lobby", "text": text, "id": message_id, "user": "ada"}
        assert engine.process("chat/out", json.dumps(message).encode(), "c-1") == 1
    stored = wait_for(lambda: len(store.recent("lobby", 10)) == 2 and store.recent("lobby", 10), 10, "both")
    assert [(m.text, m.ts) for m in stored] == [("first", 1_800_000_000_000), ("second", 1_800_000_000_000)]
    assert stored[1].sk == f"1800000000000#{ids[1]}#88888888-0000-4000-8000-000000000000"
    assert [m.text for m in store.recent("lobby", 10, before=stored[1].sk)] == ["first"]


class CountedTransactions:
    """The database's own transactions, counted; `fail_commit` makes the end of the next one fail as a
    commit that did not happen."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db, self.count, self.fail_commit = db, 0, False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        self.count += 1
        with self.db.transaction():
            yield
            if self.fail_commit:
                raise StoreError("disk I/O error at commit")


STORE_AND_LOG_ERRORS = rule_template(
    "SELECT room, concat('k#', id) AS sk, id, text FROM 'chat/out'",
    [{"DynamoDBv2": {"PutItem": {"TableName": "Messages"}}}],
    {"CloudwatchLogs": {"LogGroupName": "rule-errors"}},
)


@dataclass
class Burst:
    """A store rule over a real SQLite table, its writes held until `bus.deliver()`."""

    bus: HoldingBus
    store: SqliteMessageStore
    transactions: CountedTransactions
    engine: RulesEngine


@pytest.fixture
def burst(tmp_path):
    db = SqliteDatabase(tmp_path / "b.sqlite3")
    bus, store, transactions = HoldingBus(), SqliteMessageStore(db), CountedTransactions(db)
    runner = LocalActionRunner(bus, LambdaHost({}), {"Messages": store}, {}, tmp_path / "e.log", transactions)
    yield Burst(bus, store, transactions, RulesEngine(load(STORE_AND_LOG_ERRORS), runner))
    runner.close()
    db.close()


def test_the_writes_of_a_burst_commit_together_and_a_bad_one_fails_alone(burst, tmp_path):
    durable: list = []
    for n in range(200):
        message = {"room": "lobby", "id": f"{n:03d}", "text": f"m{n}"} if n != 57 else {"id": "057"}
        burst.engine.process("chat/out", json.dumps(message).encode(), "c-1", durable)
    assert len(burst.bus.held) == 1 and not any(write.done() for write in durable)  # one hand-over
    burst.bus.deliver()
    assert all(write.result(10) is None for write in durable)  # all of them through
    assert [m.text for m in burst.store.recent("lobby", 300)] == [f"m{n}" for n in range(200) if n != 57]
    assert burst.transactions.count == 1  # the burst's 199 items: one commit
    log = tmp_path / "e.log"
    wait_for(lambda: burst.bus.held, 10, "the bad item's error action")
    burst.bus.deliver()
    text = wait_for(lambda: log.exists() and log.read_text().strip(), 10, "the error action's line")
    (error,) = [json.loads(line) for line in text.splitlines()]  # the bad one, alone
    assert error["failures"][0]["failedAction"] == "DynamoDBv2Action"
    assert "lacks" in error["failures"][0]["errorMessage"]
    assert json.loads(base64.b64decode(error["base64OriginalPayload"])) == {"id": "057"}


def test_a_commit_that_fails_fails_every_write_of_its_batch_and_the_next_batch_is_kept(burst, tmp_path):
    lost: list = []
    kept: list = []
    burst.transactions.fail_commit = True
    for n in range(5):
        message = {"room": "r", "id": str(n), "text": "x"}
        burst.engine.process("chat/out", json.dumps(message).encode(), "c", lost)
    burst.bus.deliver()
    assert all(write.result(10) is None for write in lost)  # through, if not kept
    assert burst.store.recent("r", 10) == []  # rolled back: none of the five was kept
    burst.transactions.fail_commit = False
    log = tmp_path / "e.log"

    def error_lines() -> list[str]:
        burst.bus.deliver()  # each failure's error action, handed over as it comes
        return log.read_text().splitlines() if log.exists() else []

    lines = wait_for(lambda: len(error_lines()) == 5 and error_lines(), 10, "an error line per write")
    assert {json.loads(line)["failures"][0]["errorMessage"] for line in lines} == {"disk I/O error at commit"}
    burst.engine.process("chat/out", json.dumps({"room": "r", "id": "9", "text": "y"}).encode(), "c", kept)
    burst.bus.deliver()
    assert kept[0].result(10) is None and [m.text for m in burst.store.recent("r", 10)] == ["y"]


def test_which_rules_a_topic_reaches_holds_for_every_topic_however_many_are_seen(runner):
    """The engine keeps each topic's matching rules (at most MAX_TOPICS topics before it starts again);
    what fires is what the FROM filters say, for a topic seen once, twice, or after the table restarted."""
    template = rule_template("SELECT * FROM 'a/+'", [{"Republish": {"Topic": "one/${topic()}"}}])
    template["Resources"]["Other"] = {
        "Type": "AWS::IoT::TopicRule",
        "Properties": {
            "TopicRulePayload": {"Sql": "SELECT * FROM 'a/#'", "Actions": [{"Republish": {"Topic": "all"}}]}
        },
    }
    engine = RulesEngine(load(template), runner)
    topics = ["a/x", "a/x/y", "b", "a"] + [f"a/{n}/z" for n in range(MAX_TOPICS)] + ["a/x", "a/x/y", "b"]
    fired = [engine.process(topic, b"{}") for topic in topics]
    expected = [topic_matches("a/+", t) + topic_matches("a/#", t) for t in topics]
    assert fired == expected and fired[:4] == [2, 1, 0, 1] and fired[-3:] == [2, 1, 0]


def test_a_burst_longer_than_a_batch_commits_in_batches_of_at_most_max_batch(burst):
    count = 2 * MAX_BATCH + 76
    durable: list = []
    for n in range(count):
        message = {"room": "lobby", "id": f"{n:05d}", "text": f"m{n}"}
        burst.engine.process("chat/out", json.dumps(message).encode(), "c-1", durable)
    burst.bus.deliver()
    assert all(write.result(10) is None for write in durable)
    assert burst.transactions.count == 3
    assert [m.text for m in burst.store.recent("lobby", count)] == [f"m{n}" for n in range(count)]
