"""The shared leaf's one topic matcher (held to both matchers it replaced), one Lambda context, one zip."""

from __future__ import annotations

import io
import zipfile

from hypothesis import given, settings
from hypothesis import strategies as st

from edgeway_common.lambda_context import LambdaContext
from edgeway_common.topics import topic_matches
from edgeway_common.zips import deterministic_zip


def ipc_matcher_before(topic_filter: str, topic: str) -> bool:
    """The local core's matcher before the leaf (no `$` rule), kept here as the reference."""
    if topic_filter == topic:
        return True
    filter_levels, topic_levels = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)


def rules_matcher_before(topic_filter: str, topic: str) -> bool:
    """The rules engine's matcher before the leaf (MQTT's `$` rule), kept here as the reference."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    levels, parts = topic_filter.split("/"), topic.split("/")
    for index, level in enumerate(levels):
        if level == "#":
            return True
        if index >= len(parts) or (level != "+" and level != parts[index]):
            return False
    return len(levels) == len(parts)


level = st.sampled_from(["a", "b", "chat", "$aws", "$SYS", "", "x y"])
topics = st.lists(level, min_size=1, max_size=5).map("/".join)
filters = st.lists(st.sampled_from(["a", "b", "chat", "$aws", "+", ""]), min_size=0, max_size=4).flatmap(
    lambda head: st.sampled_from(["", "/#", "/+"]).map(lambda tail: "/".join(head) + tail if head else "#")
)


@settings(max_examples=3000, deadline=None)
@given(filters, topics)
def test_the_one_matcher_agrees_with_the_rules_engine_everywhere_and_with_the_core_off_dollar_topics(
    topic_filter, topic
):
    matched = topic_matches(topic_filter, topic)
    assert matched == rules_matcher_before(topic_filter, topic)
    if not topic.startswith("$") or topic_filter[:1] not in ("+", "#"):
        assert matched == ipc_matcher_before(topic_filter, topic)


def test_a_wildcard_first_level_does_not_see_dollar_topics_but_a_named_one_does():
    assert not topic_matches("#", "$aws/things/t/shadow/update")
    assert not topic_matches("+/things/t/shadow/update", "$aws/things/t/shadow/update")
    assert topic_matches("$aws/things/+/shadow/#", "$aws/things/t/shadow/update")
    assert topic_matches("sport/#", "sport")  # MQTT 4.7.1.2: '#' also matches the parent level


def test_the_lambda_context_counts_down_on_the_clock_it_was_given():
    now = [100.0]
    context = LambdaContext("fn", "req-1", deadline=103.0, clock=lambda: now[0])
    assert context.get_remaining_time_in_millis() == 3000
    now[0] = 102.5
    assert context.get_remaining_time_in_millis() == 500
    now[0] = 200.0
    assert context.get_remaining_time_in_millis() == 0
    assert isinstance(context.memory_limit_in_mb, str)  # as the Python Lambda runtime gives it


def test_a_deterministic_zip_depends_only_on_its_members():
    members = [("b.py", b"print('b')\n"), ("a/x.json", b"{}")]
    first, second = deterministic_zip(members), deterministic_zip(list(members))
    assert first == second
    archive = zipfile.ZipFile(io.BytesIO(first))
    assert archive.namelist() == ["b.py", "a/x.json"]
    assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    assert deterministic_zip([("b.py", b"print('c')\n"), ("a/x.json", b"{}")]) != first
