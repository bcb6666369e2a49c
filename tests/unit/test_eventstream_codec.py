"""The event-stream codec: round trips, corruption and limits (interop: tests/functional/test_ipc_*)."""

from __future__ import annotations

import struct
import uuid
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greengrass_components.ipc.codec import (
    Decoder,
    FramingError,
    Header,
    HeaderType,
    Message,
    encode,
)

ALL_TYPES = (
    Header("t", HeaderType.BOOL_TRUE, True),
    Header("f", HeaderType.BOOL_FALSE, False),
    Header("b", HeaderType.BYTE, -7),
    Header("s", HeaderType.INT16, -300),
    Header(":stream-id", HeaderType.INT32, 2**31 - 1),
    Header("l", HeaderType.INT64, -(2**63)),
    Header("buf", HeaderType.BYTE_BUF, b"\x00\xff"),
    Header(":content-type", HeaderType.STRING, "application/json"),
    Header("ts", HeaderType.TIMESTAMP, 1_700_000_000_000),
    Header("id", HeaderType.UUID, uuid.UUID("12345678-1234-5678-1234-567812345678")),
)


def test_every_header_type_round_trips():
    message = Message(ALL_TYPES, b'{"hello": "world"}')
    assert Decoder().feed(encode(message)) == [message]


def test_known_bytes_of_an_empty_message():
    # The smallest message: 16 bytes, prelude CRC of (16, 0), trailer CRC of the prelude.
    wire = encode(Message(()))
    prelude = struct.pack(">II", 16, 0)
    assert wire[:8] == prelude
    assert wire[8:12] == struct.pack(">I", zlib.crc32(prelude))
    assert wire[12:] == struct.pack(">I", zlib.crc32(wire[:12]))


@given(st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=5), st.integers(1, 50))
def test_messages_split_anywhere_decode_whole(payloads, chunk):
    wire = b"".join(encode(Message((Header.int32(":stream-id", i),), p)) for i, p in enumerate(payloads))
    decoder = Decoder()
    found = []
    for at in range(0, len(wire), chunk):
        found += decoder.feed(wire[at : at + chunk])
    assert [m.payload for m in found] == payloads


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda w: w[:3] + bytes([w[3] ^ 1]) + w[4:], "prelude CRC mismatch"),
        (lambda w: w[:-1] + bytes([w[-1] ^ 1]), "message CRC mismatch"),
        (lambda w: w[:20] + bytes([w[20] ^ 0xFF]) + w[21:], "message CRC mismatch"),
    ],
)
def test_corruption_is_detected(mutate, error):
    wire = encode(Message(ALL_TYPES, b"payload"))
    with pytest.raises(FramingError, match=error):
        Decoder().feed(mutate(wire))


def _frame(total: int, headers_length: int) -> bytes:
    prelude = struct.pack(">II", total, headers_length)
    return prelude + struct.pack(">I", zlib.crc32(prelude))


@pytest.mark.parametrize(
    ("total", "headers", "error"),
    [
        (17 * 1024 * 1024, 0, "exceeds 16777216"),
        (200_000, 140_000, "headers of 140000 bytes exceed 131072"),
        (8, 0, "shorter than the minimum 16"),
        (20, 10, "headers length runs past the message"),
    ],
)
def test_limits_are_enforced_from_the_prelude(total, headers, error):
    with pytest.raises(FramingError, match=error):
        Decoder().feed(_frame(total, headers))


def test_a_connection_remembers_repeated_headers_but_not_stream_ids_and_stays_bounded():
    decoder = Decoder()
    for stream_id in range(1, 600):
        headers = (
            Header("operation", HeaderType.STRING, "aws.greengrass#PublishToTopic"),
            Header(":stream-id", HeaderType.INT32, stream_id),
            Header("unique", HeaderType.STRING, f"value-{stream_id}"),  # a client that never repeats
        )
        (message,) = decoder.feed(encode(Message(headers, b"{}")))
        assert message.headers == headers  # remembered or decoded, the same headers
    known = decoder._known
    assert len(known) == 256  # bounded: a client sending new values cannot grow it
    assert all(header.name != ":stream-id" for header in known.values())
    assert Header("operation", HeaderType.STRING, "aws.greengrass#PublishToTopic") in known.values()


def test_a_remembered_header_does_not_hide_a_later_error():
    decoder = Decoder()
    good = encode(Message((Header("operation", HeaderType.STRING, "x"),), b""))
    decoder.feed(good)
    broken = Message((Header("operation", HeaderType.STRING, "x"), Header("n", HeaderType.INT32, 1)), b"")
    data = bytearray(encode(broken))
    data[12 + 14 + 2] = 42  # after the first header (14 bytes), the second's type byte: no such type
    struct.pack_into(">I", data, len(data) - 4, zlib.crc32(bytes(data[:-4])))
    with pytest.raises(FramingError, match="unknown type 42"):
        decoder.feed(bytes(data))
