"""JSON for the paths that run once per message (the rules reading a payload, a republish writing one,
the store keeping an item): the standard library's own C scanner and encoder, made once.

Hand-written because the standard functions spend more around their C parts than in them, and the
stand-in's broker calls them on every chat message. `json.loads(bytes)` works out the encoding in
Python, decodes, and matches whitespace with two regular expressions around the scanner (2.2 µs for a
chat message here, the scanner alone 0.6); `json.dumps` builds a new C encoder on every call (2.2
against 1.2 µs for a republished message). Same answers as theirs, to the byte: `loads` takes its
fast way only for text in UTF-8 with no whitespace around the value, and anything else (other
encodings, a byte-order mark, whitespace, a mistake) goes to `json.loads`, so it raises what
`json.loads` raises. The encoders keep no record of the containers they are in (`check_circular`
off): the values encoded here come from JSON and from IoT SQL's functions, which make no cycles. A
property test holds both to the standard functions.
"""

from __future__ import annotations

import json
import json.decoder
import json.encoder
from collections.abc import Callable
from typing import Any

_DECODER: Any = json.decoder.JSONDecoder()  # Any: its scanner is not in the typing stubs
_scan: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # the one `json.loads` runs


def loads(data: bytes | str) -> Any:
    """`json.loads(data)`."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
        value, end = _scan(text, 0)
        if end == len(text):
            return value
    except (UnicodeDecodeError, StopIteration, ValueError):
        pass  # the standard function says what is wrong, or reads what the scanner alone does not
    return json.loads(data)


def encoder(separators: tuple[str, str] = (", ", ": "), ensure_ascii: bool = True) -> Callable[[Any], str]:
    """A function that writes a value as `json.dumps(value, separators=..., ensure_ascii=...)` does."""
    item_separator, key_separator = separators
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # the C parts, not in the typing stubs
    if make is None:  # a Python built without the _json accelerator
        return json.JSONEncoder(separators=separators, ensure_ascii=ensure_ascii).encode
    strings = getattr(json.encoder, "c_encode_basestring_ascii" if ensure_ascii else "c_encode_basestring")
    encode = make(None, _not_serializable, strings, None, key_separator, item_separator, False, False, True)

    def dumps(value: Any) -> str:
        return "".join(encode(value, 0))

    return dumps


def _not_serializable(value: Any) -> Any:
    return json.JSONEncoder().default(value)  # raises the standard TypeError


dumps = encoder()  # json.dumps(value)
dumps_compact = encoder((",", ":"), ensure_ascii=False)  # what IoT Core writes: no spaces, UTF-8
