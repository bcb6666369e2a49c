"""The store and republish rules (IoT SQL, in the template) and the chat handler's validation accept
exactly the same messages: otherwise a message could be stored and also answered with an error. And the
commands rule takes exactly the rest: otherwise a message could be neither stored nor answered."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from cloud_backend.handlers.chat_messages import Message, parse
from cloud_backend.rules.loader import load_rules
from cloud_backend.rules.sql_eval import Environment, evaluate
from cloud_backend.rules.sql_eval import Message as SqlMessage
from edgeway_common import cfn
from tests.backend_support import TEMPLATE

TEMPLATE_DATA = cfn.load_template(TEMPLATE)
RULES = {r.name: r for r in load_rules(TEMPLATE_DATA, cfn.LocalResolver(TEMPLATE_DATA))}
ENV = Environment(now_ms=lambda: 1_700_000_000_000, new_uuid=lambda: "u")

text = st.one_of(
    st.text(max_size=3),
    st.text(min_size=998, max_size=1002),
    st.sampled_from(
        [
            *["lobby", "field", "alerts", "attic", "lobby\n", "", "x" * 32, "x" * 33, "x" * 64, "x" * 65],
            *["Lobby", "a b", "-x", "_x", "x-", "a_b-c", "caf\u00e9", "\nlobby", "0", "room/1", "a\u0000"],
        ]
    ),
)
value = st.one_of(text, st.integers(), st.none(), st.booleans(), st.lists(st.integers(), max_size=2))
payloads = st.fixed_dictionaries(
    {},
    optional={
        "type": st.one_of(st.sampled_from(["message", "join", "command"]), value),
        "room": value,
        "text": value,
        "id": value,
        "user": value,
    },
)


@settings(max_examples=400, deadline=None)
@given(payloads)
def test_the_rules_store_exactly_what_the_handler_accepts(document):
    raw = json.dumps(document).encode()
    accepted = isinstance(parse(raw), Message)
    for name in ("StoreMessagesRule", "RepublishMessagesRule"):
        stored = evaluate(RULES[name].statement, SqlMessage("chat/out", raw, "c"), ENV) is not None
        assert stored == accepted, f"{name} {'stored' if stored else 'dropped'} {document!r}"
    handled = evaluate(RULES["ChatCommandsRule"].statement, SqlMessage("chat/out", raw, "c"), ENV) is not None
    assert handled != accepted, f"ChatCommandsRule {'took' if handled else 'left'} {document!r}"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=40), st.sampled_from([b"", b"[]", b"7", b'"message"', b"{", b"null"])))
def test_a_payload_that_is_not_a_json_object_goes_to_the_handler_and_is_not_stored(raw):
    assert not isinstance(parse(raw), Message)
    message = SqlMessage("chat/out", raw, "c")
    assert evaluate(RULES["StoreMessagesRule"].statement, message, ENV) is None
    assert evaluate(RULES["ChatCommandsRule"].statement, message, ENV) is not None
