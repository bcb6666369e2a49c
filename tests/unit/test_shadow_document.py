from __future__ import annotations

import json

import pytest

from edgeway_common.shadow_document import (
    Shadow,
    ShadowDocumentError,
    ShadowVersionConflict,
    apply_update,
    delete,
    get_document,
    parse_update,
)


def update(shadow: Shadow, document: dict, now: int = 100):
    return apply_update(shadow, parse_update(json.dumps(document).encode()), now)


def test_merge_delta_metadata_and_versions():
    shadow, response = update(Shadow(), {"state": {"desired": {"color": "red", "led": {"on": True}}}})
    assert response == {
        "state": {"desired": {"color": "red", "led": {"on": True}}},
        "metadata": {"desired": {"color": {"timestamp": 100}, "led": {"on": {"timestamp": 100}}}},
        "version": 1,
        "timestamp": 100,
    }
    shadow, _ = update(
        shadow, {"state": {"reported": {"color": "blue", "led": {"on": True}}}, "clientToken": "c"}, 101
    )
    document = get_document(shadow, 102)
    assert document["state"] == {
        "desired": {"color": "red", "led": {"on": True}},
        "reported": {"color": "blue", "led": {"on": True}},
        "delta": {"color": "red"},
    }
    assert document["metadata"]["reported"]["color"] == {"timestamp": 101}
    assert document["version"] == 2
    shadow, _ = update(shadow, {"state": {"reported": {"color": "red"}}})
    assert "delta" not in get_document(shadow, 103)["state"]


def test_null_deletes_a_key_or_a_section():
    shadow, _ = update(Shadow(), {"state": {"desired": {"a": 1, "b": 2}, "reported": {"a": 1}}})
    shadow, _ = update(shadow, {"state": {"desired": {"a": None}}})
    assert shadow.state == {"desired": {"b": 2}, "reported": {"a": 1}}
    shadow, _ = update(shadow, {"state": {"desired": None}})
    assert shadow.state == {"reported": {"a": 1}}


def test_version_conflict_and_delete_keeps_the_version():
    shadow, _ = update(Shadow(), {"state": {"reported": {"x": 1}}})
    with pytest.raises(ShadowVersionConflict, match="the shadow is at version 1"):
        update(shadow, {"state": {"reported": {"x": 2}}, "version": 7})
    shadow, _ = update(shadow, {"state": {"reported": {"x": 2}}, "version": 1})
    gone, response = delete(shadow, 200)
    assert response == {"version": 2, "timestamp": 200} and not gone.exists
    again, _ = update(gone, {"state": {"reported": {"x": 3}}})
    assert again.version == 3 and again.state == {"reported": {"x": 3}}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"state": {}}', "needs a state"),
        (b'{"state": {"delta": {}}}', "only desired and reported, not delta"),
        (b'{"state": {"desired": 5}}', "state.desired must be an object or null"),
        (b'{"state": {"desired": {}}, "version": "1"}', "version must be a whole number"),
        (json.dumps({"state": {"desired": {"big": "x" * 9000}}}).encode(), "larger than 8192 bytes"),
    ],
)
def test_bad_documents_say_why(payload, message):
    with pytest.raises(ShadowDocumentError, match=message):
        parse_update(payload)
