"""CloudFront's validation rules: every case of the corpus is rejected for the right reason, and the
sample events pass unchanged."""

from __future__ import annotations

from pathlib import Path

import jsonpointer
import pytest
import yaml

from cloudfront_edge.emulator.validation import Violation, validate
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
