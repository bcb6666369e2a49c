"""The event-stream message format (aws-c-event-stream), encoded and decoded by hand.

Written by hand because no Python library implements it for a server: awscrt
wraps the C implementation for clients only. The format is small and public:

    prelude   total length (u32), headers length (u32), CRC32 of those 8 bytes
    headers   name length (u8), name (utf-8), type (u8), value
    payload   bytes
    trailer   CRC32 of everything before it

Header values: BOOL_TRUE/BOOL_FALSE carry no bytes; BYTE, INT16, INT32, INT64
and TIMESTAMP are big-endian signed integers of 1, 2, 4, 8 and 8 bytes;
BYTE_BUF and STRING carry a u16 length then the bytes; UUID is 16 bytes.
Limits: a message of at most 16 MiB, headers of at most 128 KiB.

Pure: no I/O. `Decoder.feed` takes bytes as they arrive and returns the whole
messages found; a violation raises `FramingError` saying what is wrong.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

MAX_MESSAGE_SIZE = 16 * 1024 * 1024
MAX_HEADERS_SIZE = 128 * 1024
PRELUDE_SIZE = 12
MIN_MESSAGE_SIZE = PRELUDE_SIZE + 4


class FramingError(Exception):
    """The bytes are not a valid event-stream message."""


class HeaderType(IntEnum):
    BOOL_TRUE = 0
    BOOL_FALSE = 1
    BYTE = 2
    INT16 = 3
    INT32 = 4
    INT64 = 5
    BYTE_BUF = 6
    STRING = 7
    TIMESTAMP = 8
    UUID = 9


HeaderValue = bool | int | bytes | str | uuid.UUID
_PRELUDE = struct.Struct(">II")
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")
_PRELUDE_FULL = struct.Struct(">III")
_TYPES = tuple(HeaderType)
_INT_FORMATS = {
    HeaderType.BYTE: ">b",
    HeaderType.INT16: ">h",
    HeaderType.INT32: ">i",
    HeaderType.INT64: ">q",
    HeaderType.TIMESTAMP: ">q",
}


_INT_STRUCTS = {kind: struct.Struct(fmt) for kind, fmt in _INT_FORMATS.items()}


@dataclass(frozen=True)
class Header:
    name: str
    type: HeaderType
    value: HeaderValue

    @classmethod
    def string(cls, name: str, value: str) -> Header:
        return cls(name, HeaderType.STRING, value)

    @classmethod
    def int32(cls, name: str, value: int) -> Header:
        return cls(name, HeaderType.INT32, value)


@dataclass(frozen=True)
class Message:
    headers: tuple[Header, ...]
    payload: bytes = b""

    def header(self, name: str) -> Header | None:
        for header in self.headers:
            if header.name == name:
                return header
        return None


@lru_cache(maxsize=4096)
def encode_header(header: Header) -> bytes:
    name = header.name.encode()
    if not 0 < len(name) < 256:
        raise FramingError(f"header name must be 1 to 255 bytes, got {len(name)}")
    out = bytearray([len(name)]) + name
    kind = header.type
    if kind in (HeaderType.BOOL_TRUE, HeaderType.BOOL_FALSE):
        kind = HeaderType.BOOL_TRUE if header.value else HeaderType.BOOL_FALSE
        out.append(kind)
        return bytes(out)
    out.append(kind)
    if kind in _INT_FORMATS:
        try:
            out += struct.pack(_INT_FORMATS[kind], header.value)
        except struct.error as exc:
            raise FramingError(f"header {header.name!r}: {exc}") from exc
    elif kind in (HeaderType.BYTE_BUF, HeaderType.STRING):
        data = header.value.encode() if isinstance(header.value, str) else bytes(header.value)  # type: ignore[arg-type]
        if len(data) > 0xFFFF:
            raise FramingError(f"header {header.name!r}: value longer than 65535 bytes")
        out += struct.pack(">H", len(data)) + data
    elif kind == HeaderType.UUID:
        value = header.value
        out += value.bytes if isinstance(value, uuid.UUID) else bytes(value)  # type: ignore[arg-type]
    return bytes(out)


def frame(headers: bytes, payload: bytes) -> bytes:
    """A whole message from already-encoded headers and a payload: prelude, CRCs and all."""
    total = PRELUDE_SIZE + len(headers) + len(payload) + 4
    if total > MAX_MESSAGE_SIZE:
        raise FramingError(f"message of {total} bytes exceeds {MAX_MESSAGE_SIZE}")
    prelude = _PRELUDE.pack(total, len(headers))
    body = b"".join((prelude, _U32.pack(zlib.crc32(prelude)), headers, payload))
    return body + _U32.pack(zlib.crc32(body))


def encode(message: Message) -> bytes:
    headers = b"".join(encode_header(h) for h in message.headers)
    if len(headers) > MAX_HEADERS_SIZE:
        raise FramingError(f"headers of {len(headers)} bytes exceed {MAX_HEADERS_SIZE}")
    total = PRELUDE_SIZE + len(headers) + len(message.payload) + 4
    if total > MAX_MESSAGE_SIZE:
        raise FramingError(f"message of {total} bytes exceeds {MAX_MESSAGE_SIZE}")
    prelude = struct.pack(">II", total, len(headers))
    body = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + message.payload
    return body + struct.pack(">I", zlib.crc32(body))


_UNREPEATED = b":stream-id"  # a new value on every stream: not worth remembering


def decode_headers(data: bytes, known: dict[bytes, Header] | None = None) -> tuple[Header, ...]:
    """The headers in `data`. With `known` (a connection's own, bounded to `MAX_KNOWN_HEADERS`), a
    header whose bytes came before is taken from it instead of being decoded again: a client sends the
    same operation, content type and model type headers on every stream."""
    headers = []
    at = 0
    while at < len(data):
        start = at
        name_length = data[at]
        at += 1
        if name_length == 0 or at + name_length + 1 > len(data):
            raise FramingError("header name runs past the headers")
        raw_name = data[at : at + name_length]
        at += name_length
        if data[at] >= len(_TYPES):
            raise FramingError(f"header {_printable(raw_name)!r} has unknown type {data[at]}")
        kind = _TYPES[data[at]]
        at += 1
        end = _value_end(data, at, kind, raw_name)
        if known is not None:
            entry = data[start:end]
            header = known.get(entry)
            if header is None:
                header = Header(_name(raw_name), kind, _value(data, at, end, kind, raw_name))
                if raw_name != _UNREPEATED and len(known) < MAX_KNOWN_HEADERS:
                    known[entry] = header
        else:
            header = Header(_name(raw_name), kind, _value(data, at, end, kind, raw_name))
        headers.append(header)
        at = end
    return tuple(headers)


MAX_KNOWN_HEADERS = 256


def _printable(raw_name: bytes) -> str:
    return raw_name.decode("utf-8", "replace")


def _name(raw_name: bytes) -> str:
    try:
        return raw_name.decode()
    except UnicodeDecodeError as exc:
        raise FramingError("header name is not utf-8") from exc


def _value_end(data: bytes, at: int, kind: HeaderType, raw_name: bytes) -> int:
    """Where the header's value ends; FramingError when it runs past the headers."""
    if kind in (HeaderType.BOOL_TRUE, HeaderType.BOOL_FALSE):
        return at
    if kind in _INT_STRUCTS:
        end = at + _INT_STRUCTS[kind].size
    elif kind in (HeaderType.BYTE_BUF, HeaderType.STRING):
        if at + 2 > len(data):
            raise FramingError(f"header {_name(raw_name)!r} length runs past the headers")
        end = at + 2 + _U16.unpack_from(data, at)[0]
    else:  # UUID
        end = at + 16
    if end > len(data):
        what = "uuid" if kind == HeaderType.UUID else "value"
        raise FramingError(f"header {_name(raw_name)!r} {what} runs past the headers")
    return end


def _value(data: bytes, at: int, end: int, kind: HeaderType, raw_name: bytes) -> HeaderValue:
    if kind == HeaderType.BOOL_TRUE:
        return True
    if kind == HeaderType.BOOL_FALSE:
        return False
    if kind in _INT_STRUCTS:
        value: int = _INT_STRUCTS[kind].unpack_from(data, at)[0]
        return value
    if kind == HeaderType.STRING:
        try:
            return data[at + 2 : end].decode()
        except UnicodeDecodeError as exc:
            raise FramingError(f"header {_name(raw_name)!r} string is not utf-8") from exc
    if kind == HeaderType.BYTE_BUF:
        return bytes(data[at + 2 : end])
    return uuid.UUID(bytes=bytes(data[at:end]))


class Decoder:
    """Incremental decoder: feed bytes, get whole messages."""

    def __init__(self, max_message_size: int = MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_message_size
        self._known: dict[bytes, Header] = {}  # header bytes -> header, for this stream of messages

    def allow(self, max_message_size: int) -> None:
        """Messages up to this size from now on (the server allows large ones once a client is known)."""
        self._max = max_message_size

    def feed(self, data: bytes) -> list[Message]:
        """Every whole message the buffer now holds."""
        self.push(data)
        messages = []
        while (message := self.next()) is not None:
            messages.append(message)
        return messages

    def push(self, data: bytes) -> None:
        self._buffer += data

    def next(self) -> Message | None:
        """The next whole message, or None until more bytes come; checked against the size allowed
        now, so a message after the one that changes it (CONNECT) gets the new limit."""
        if len(self._buffer) < PRELUDE_SIZE:
            return None
        total, headers_length, prelude_crc = _PRELUDE_FULL.unpack_from(self._buffer, 0)
        if zlib.crc32(self._buffer[:8]) != prelude_crc:
            raise FramingError("prelude CRC mismatch")
        if total < MIN_MESSAGE_SIZE:
            raise FramingError(f"message length {total} is shorter than the minimum {MIN_MESSAGE_SIZE}")
        if total > self._max:
            raise FramingError(f"message of {total} bytes exceeds {self._max}")
        if headers_length > MAX_HEADERS_SIZE:
            raise FramingError(f"headers of {headers_length} bytes exceed {MAX_HEADERS_SIZE}")
        if headers_length > total - MIN_MESSAGE_SIZE:
            raise FramingError("headers length runs past the message")
        if len(self._buffer) < total:
            return None
        whole = bytes(self._buffer[:total])
        del self._buffer[:total]
        (message_crc,) = _U32.unpack_from(whole, total - 4)
        if zlib.crc32(memoryview(whole)[: total - 4]) != message_crc:
            raise FramingError("message CRC mismatch")
        headers = decode_headers(whole[PRELUDE_SIZE : PRELUDE_SIZE + headers_length], self._known)
        return Message(headers, whole[PRELUDE_SIZE + headers_length : total - 4])
