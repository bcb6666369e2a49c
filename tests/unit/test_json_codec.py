"""The per-message JSON (`edgeway_common.json_codec`) answers as the standard functions do: the same
values read, the same errors raised, the same text written."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from edgeway_common import json_codec

values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def outcome(read, data):
    """What reading `data` gives: ("value", v) or ("error", its type and message)."""
    try:
        return ("value", read(data))
    except Exception as exc:
        return ("error", type(exc), str(exc))


def same(a, b) -> bool:
    """Equal, NaN equal to NaN (json writes and reads NaN)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


@settings(max_examples=500, deadline=None)
@given(value=values, spaces=st.sampled_from(["", " ", "\n", "\t "]))
def test_reading_json_gives_what_json_loads_gives(value, spaces):
    for text in (json.dumps(value), spaces + json.dumps(value, ensure_ascii=False) + spaces):
        for data in (text, text.encode(), text.encode("utf-16")):
            assert same(outcome(json_codec.loads, data), outcome(json.loads, data))


@settings(max_examples=500, deadline=None)
@given(data=st.binary(max_size=40))
@example(data=b'{"a": 1} x')  # text after the value
@example(data=b"\xef\xbb\xbf{}")  # a UTF-8 byte-order mark
@example(data=b'{"a": 1')  # cut short
@example(data=b"")
@example(data=b"\xff")
def test_reading_anything_raises_what_json_loads_raises(data):
    assert same(outcome(json_codec.loads, data), outcome(json.loads, data))


@settings(max_examples=500, deadline=None)
@given(value=values)
def test_writing_json_gives_what_json_dumps_gives(value):
    assert json_codec.dumps(value) == json.dumps(value)
    assert json_codec.dumps_compact(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def test_writing_what_json_cannot_hold_raises_the_standard_error():
    with pytest.raises(TypeError, match="not JSON serializable"):
        json_codec.dumps({"when": object()})
