"""MQTT-3.1.2-24 for the project's two amqtt brokers (the cloud stand-in's and the core's broker for
client devices): a client that sends nothing for 1.5 times its keep-alive is disconnected. amqtt
closes nobody for it (its read timeout does nothing in a broker), so each broker reads through a
`ReadClock` and, once every `SWEEP_SECONDS`, closes what `silent_sessions` names, in its own way.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any

from amqtt.adapters import ReaderAdapter

SWEEP_SECONDS = 1.0


class ReadClock(ReaderAdapter):  # type: ignore[misc]
    """A connection's reader that notes when the client last sent anything."""

    def __init__(self, reader: ReaderAdapter, clock: Callable[[], float] = time.monotonic) -> None:
        self._reader = reader
        self._clock = clock
        self.last_read = clock()
        # on TCP, amqtt's adapter holds the asyncio StreamReader, which can give what has come
        stream = getattr(reader, "_reader", None)
        self._stream = stream if isinstance(stream, asyncio.StreamReader) else None

    async def read(self, n: int = -1) -> bytes:
        data: bytes = await self._reader.read(n)
        self._arrived(data)
        return data

    async def read_some(self, needed: int, most: int) -> bytes:
        """For `mqtt_reader.Packets`: on TCP, what has come, at least one byte and at most `most`
        (amqtt's adapter reads only exactly n bytes); from another reader (WebSocket), exactly
        `needed`. b"" once the connection has ended."""
        stream = self._stream
        data: bytes = await (stream.read(most) if stream is not None else self._reader.read(needed))
        self._arrived(data)
        return data

    def _arrived(self, data: bytes) -> None:
        self.last_read = self._clock()

    def feed_eof(self) -> None:
        self._reader.feed_eof()


def silent_sessions(sessions: Mapping[str, tuple[Any, Any]], now: float) -> list[tuple[str, Any, Any]]:
    """(client id, session, handler) of each connection, read through a `ReadClock`, whose client
    has a keep-alive and sent nothing for 1.5 times it (amqtt's `Broker._sessions` is the mapping)."""
    silent = []
    for client_id, (session, handler) in list(sessions.items()):
        reader = getattr(handler, "reader", None)
        keep_alive = getattr(session, "keep_alive", 0) or 0
        if isinstance(reader, ReadClock) and keep_alive > 0 and now - reader.last_read > 1.5 * keep_alive:
            silent.append((client_id, session, handler))
    return silent
