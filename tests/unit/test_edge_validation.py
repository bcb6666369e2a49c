"""CloudFront's validation rules: every case of the corpus is rejected for the right reason, and the
sample events pass unchanged."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import jsonpointer
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudfront_edge.emulator import events, validation
from cloudfront_edge.emulator.validation import Violation, _as_json, validate
from cloudfront_edge.model.triggers import Trigger
from tests.edge_support import sample_event

CORPUS = yaml.safe_load((Path(__file__).parents[1] / "edge_corpus" / "invalid_results.yaml").read_text())


def apply(document, operations):
    for operation in operations:
        pointer = jsonpointer.JsonPointer(operation["path"])
        if operation["op"] == "remove":
            parent, key = pointer.to_last(document)
            del parent[key]
        else:
            pointer.set(document, operation["value"])
    return document


def body(value):
    return value["repeat"] * value["times"] if isinstance(value, dict) else value


def case_result(case, cf):
    trigger = Trigger(case["trigger"])
    if "result" in case:
        return case["result"]
    if "generate" in case:
        generated = dict(case["generate"])
        if "body" in generated:
            generated["body"] = body(generated["body"])
        return generated
    returned = cf["request"] if trigger.is_request else cf["response"]
    return apply(returned, case["patch"])


@pytest.mark.parametrize("case", CORPUS, ids=[case["name"] for case in CORPUS])
def test_invalid_result_is_rejected_with_its_reason(case):
    trigger = Trigger(case["trigger"])
    before = sample_event(trigger)["Records"][0]["cf"]
    cf = sample_event(trigger)["Records"][0]["cf"]
    with pytest.raises(Violation) as raised:
        validate(trigger, before, case_result(case, cf))
    assert raised.value.rule == case["rule"], str(raised.value)
    assert raised.value.header == case.get("header"), str(raised.value)
    assert case["rule"] in str(raised.value)


@pytest.mark.parametrize("trigger", list(Trigger))
def test_the_unchanged_sample_passes(trigger):
    cf = sample_event(trigger)["Records"][0]["cf"]
    returned = cf["request"] if trigger.is_request else cf["response"]
    outcome = validate(trigger, sample_event(trigger)["Records"][0]["cf"], returned)
    assert outcome.kind == ("request" if trigger.is_request else "response") and not outcome.generated


def test_values_json_cannot_carry_are_invalid_json():
    before = sample_event(Trigger.VIEWER_REQUEST)["Records"][0]["cf"]
    request = before["request"] | {"uri": b"/bytes"}
    with pytest.raises(Violation) as raised:
        validate(Trigger.VIEWER_REQUEST, before, request)
    assert raised.value.rule == "invalid-json"


def test_generated_limits_are_inclusive():
    before = sample_event(Trigger.VIEWER_REQUEST)["Records"][0]["cf"]
    exactly = {"status": "200", "body": "x" * (40 * 1024)}
    assert validate(Trigger.VIEWER_REQUEST, before, exactly).generated


def test_only_what_the_function_changed_is_judged():
    """A viewer may send `/??=`; passing its querystring through unchanged is not the function's fault."""
    before = sample_event(Trigger.VIEWER_REQUEST)["Records"][0]["cf"]
    before["request"]["querystring"] = "?="
    unchanged = sample_event(Trigger.VIEWER_REQUEST)["Records"][0]["cf"]["request"] | {"querystring": "?="}
    assert validate(Trigger.VIEWER_REQUEST, before, unchanged).kind == "request"
    with pytest.raises(Violation) as raised:
        validate(Trigger.VIEWER_REQUEST, before, unchanged | {"querystring": "?a=1"})
    assert raised.value.rule == "querystring-invalid"


_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.floats() | st.binary(max_size=2)
)
_KEYS = st.text(max_size=3) | st.integers(0, 3) | st.booleans()
_RESULTS = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.lists(inner, max_size=3).map(tuple)
        | st.dictionaries(_KEYS, inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=2000, deadline=None)
@given(_RESULTS)
def test_a_result_is_copied_as_lambdas_json_round_trip_copies_it(result):
    """Most results take a plain copy instead of the round trip; both give the same value, and what
    JSON cannot carry (bytes, NaN) is refused the same way."""
    try:
        expected = json.loads(json.dumps(result, allow_nan=False))
    except (TypeError, ValueError):
        with pytest.raises(Violation) as raised:
            _as_json(result)
        assert raised.value.rule == "invalid-json"
    else:
        assert _as_json(result) == expected
        assert json.dumps(_as_json(result)) == json.dumps(expected)  # the same types, keys in order


class _Text(str):
    pass


_GIVEN = {"a": [{"key": "A", "value": "1"}], "b": [{"key": "B", "value": "2"}, {"key": "B", "value": "3"}]}
_ENTRY_VARIANTS = st.sampled_from(
    [
        lambda entries: [dict(entry) for entry in entries],  # as given
        lambda entries: [{**entry, "value": _Text(entry["value"])} for entry in entries],  # equal, a subclass
        lambda entries: [{**entry, "value": collections.UserString(entry["value"])} for entry in entries],
        lambda entries: tuple(dict(entry) for entry in entries),  # JSON makes a list of a tuple
        lambda entries: [{**entry, "value": entry["value"] + "!"} for entry in entries],  # changed
        lambda entries: [{**entry, "extra": float("nan")} for entry in entries],  # JSON cannot carry NaN
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(st.sampled_from(["a", "b", "c"]), _ENTRY_VARIANTS, max_size=3))
def test_header_entries_left_as_given_are_taken_as_given_only_where_json_would_give_them_back(variants):
    """Entries equal to those the function was sent are shared with them, not copied; anything JSON
    would change or refuse (a subclass, a tuple, NaN) still goes the copy's or the round trip's way."""
    result = {
        "status": "200",
        "headers": {
            name: make(_GIVEN.get(name, [{"key": "C", "value": "c"}])) for name, make in variants.items()
        },
    }
    try:
        expected = json.loads(json.dumps(result, allow_nan=False))
    except (TypeError, ValueError):
        with pytest.raises(Violation) as raised:
            _as_json(result, _GIVEN)
        assert raised.value.rule == "invalid-json"
        return
    copied = _as_json(result, _GIVEN)
    assert json.dumps(copied) == json.dumps(expected)
    assert all(type(entry["value"]) is str for entries in copied["headers"].values() for entry in entries)
    assert not _containers(copied, set()) & _containers(result, set())  # nothing the function still holds


def _containers(value, found):
    if isinstance(value, (dict, list)):
        found.add(id(value))
        for item in value.values() if isinstance(value, dict) else value:
            _containers(item, found)
    return found


@pytest.mark.parametrize("trigger", list(Trigger))
def test_a_function_gets_a_copy_that_shares_nothing_it_could_change(trigger):
    """The part of the event a function's result is judged against is copied by its shape; the copy
    equals the original and shares no dict or list with it (the sample origin-request has an origin and
    a body). The other parts go as they are."""
    cf = sample_event(trigger)["Records"][0]["cf"]
    name = "request" if trigger.is_request else "response"
    # a function may return entries with fields of its own; they pass validation and reach the next event
    cf[name]["headers"]["x-extra"] = [{"key": "X-Extra", "value": "1", "note": {"nested": ["a"]}}]
    copy_ = events.copied(cf, name)
    assert copy_ == cf
    assert not _containers(copy_[name], set()) & _containers(cf[name], set())
    assert all(copy_[other] is cf[other] for other in cf if other != name)


_HEADER_NAMES = [
    "x-a",
    "user-agent",
    "host",
    "via",
    "content-length",
    "x-amz-cf-id",
    "x-edge-a",
    "connection",
    "a b",
]
_CHANGES = st.lists(
    st.one_of(
        st.tuples(
            st.just("header"),
            st.sampled_from(_HEADER_NAMES),
            st.sampled_from(["one", "two", "extra field", "subclass", "tuple", "not a list", "key other"]),
            st.sampled_from(["v", "", "bad\nvalue"]),
        ),
        st.tuples(st.just("remove"), st.sampled_from([*_HEADER_NAMES, "server", "content-type"])),
        st.tuples(
            st.just("field"),
            st.sampled_from(["uri", "querystring", "method", "status", "statusDescription", "body"]),
            st.sampled_from(["/other", "a=1", "POST", "404", 200, "OK", None]),
        ),
    ),
    max_size=5,
)


def _changed(part, changes):
    result = json.loads(json.dumps(part))
    headers = result["headers"]
    for change in changes:
        if change[0] == "header":
            _, name, shape, value = change
            entry = {"key": name.title() if shape != "key other" else "Other", "value": value}
            headers[name] = {
                "one": [entry],
                "key other": [entry],
                "two": [entry, dict(entry)],
                "extra field": [{**entry, "note": 1}],
                "subclass": [{**entry, "value": _Text(value)}],
                "tuple": (entry,),
                "not a list": entry,
            }[shape]
        elif change[0] == "remove":
            headers.pop(change[1], None)
        elif change[2] is None:
            result.pop(change[1], None)
        else:
            result[change[1]] = change[2]
    return result


@settings(max_examples=1500, deadline=None)
@given(st.sampled_from(list(Trigger)), _CHANGES)
def test_the_one_pass_for_plain_results_agrees_with_the_full_checks(trigger, changes):
    """What the one-pass check of a plain result accepts, the full checks accept with an equal outcome;
    everything else it leaves to them."""
    before = sample_event(trigger)["Records"][0]["cf"]
    part = "request" if trigger.is_request else "response"
    result = _changed(before[part], changes)
    plain = validation._plain_outcome(trigger, part, before[part], result)
    if plain is not None:
        assert plain == validation._validate_in_full(trigger, before, result)


def test_a_plain_result_takes_the_one_pass():
    """The common result (headers added, one removed, the rest as given) is judged in one pass."""
    for trigger, changes in [
        (Trigger.VIEWER_REQUEST, [("header", "x-a", "one", "v")]),
        (Trigger.VIEWER_RESPONSE, [("header", "x-a", "one", "v"), ("remove", "server")]),
    ]:
        before = sample_event(trigger)["Records"][0]["cf"]
        part = "request" if trigger.is_request else "response"
        result = _changed(before[part], changes)
        plain = validation._plain_outcome(trigger, part, before[part], result)
        assert plain is not None and plain == validation._validate_in_full(trigger, before, result)
        assert plain.value["headers"]["x-a"] == [{"key": "X-A", "value": "v"}]
