"""The event-stream RPC layer's vocabulary (aws-c-event-stream's RPC header), and message builders."""

from __future__ import annotations

import json
import struct
from enum import IntEnum
from functools import lru_cache

from .codec import Header, HeaderType, Message, encode_header, frame

MESSAGE_TYPE = ":message-type"
MESSAGE_FLAGS = ":message-flags"
STREAM_ID = ":stream-id"
VERSION = ":version"
OPERATION = "operation"
CONTENT_TYPE = ":content-type"
SERVICE_MODEL_TYPE = "service-model-type"
APPLICATION_JSON = "application/json"
PROTOCOL_VERSION = "0.1.0"


class MessageType(IntEnum):
    APPLICATION_MESSAGE = 0
    APPLICATION_ERROR = 1
    PING = 2
    PING_RESPONSE = 3
    CONNECT = 4
    CONNECT_ACK = 5
    PROTOCOL_ERROR = 6
    INTERNAL_ERROR = 7


class MessageFlag:
    NONE = 0
    CONNECTION_ACCEPTED = 0x1
    TERMINATE_STREAM = 0x2


def rpc_message(
    message_type: MessageType,
    *,
    flags: int = 0,
    stream_id: int = 0,
    headers: tuple[Header, ...] = (),
    payload: bytes = b"",
) -> Message:
    """The three RPC headers are INT32, as the client requires."""
    return Message(
        (
            Header.int32(MESSAGE_TYPE, int(message_type)),
            Header.int32(MESSAGE_FLAGS, flags),
            Header.int32(STREAM_ID, stream_id),
            *headers,
        ),
        payload,
    )


@lru_cache(maxsize=256)
def _fixed_headers(message_type: int, flags: int, shape: str) -> tuple[bytes, bytes]:
    """Encoded headers around the stream id: those before it and those after it."""
    before = encode_header(Header.int32(MESSAGE_TYPE, message_type)) + encode_header(
        Header.int32(MESSAGE_FLAGS, flags)
    )
    after = encode_header(Header.string(CONTENT_TYPE, APPLICATION_JSON)) + encode_header(
        Header.string(SERVICE_MODEL_TYPE, shape)
    )
    return before, after


_STREAM_ID_PREFIX = bytes([len(STREAM_ID)]) + STREAM_ID.encode() + bytes([HeaderType.INT32])
_I32 = struct.Struct(">i")


def shape_frame(
    message_type: MessageType, stream_id: int, shape: str, payload: bytes, flags: int = 0
) -> bytes:
    """A modeled shape on a stream, framed from cached header bytes: every response, event and error.

    JSON payload with `:content-type` application/json and `service-model-type`.
    """
    before, after = _fixed_headers(int(message_type), flags, shape)
    return frame(before + _STREAM_ID_PREFIX + _I32.pack(stream_id) + after, payload)


def json_error(message_type: MessageType, text: str, stream_id: int = 0, flags: int = 0) -> Message:
    """An unmodeled error (protocol errors, unsupported operations), as the nucleus's server sends them."""
    return rpc_message(
        message_type,
        flags=flags,
        stream_id=stream_id,
        headers=(Header.string(CONTENT_TYPE, APPLICATION_JSON),),
        payload=json.dumps({"error": message_type.name.replace("_", " ").title(), "message": text}).encode(),
    )
