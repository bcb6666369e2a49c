"""The IPC server: event-stream RPC over a Unix socket, as the nucleus serves it.

A connection must start with CONNECT carrying `:version` 0.1.0 and
`{"authToken": SVCUID}`; a known token is answered with CONNECT_ACK flagged
CONNECTION_ACCEPTED, anything else with a CONNECT_ACK without it, and the
connection is closed. After that each stream (a positive `:stream-id`) starts
with an APPLICATION_MESSAGE naming its `operation`; the first message back is
that operation's response shape, then, for subscriptions, events. Either side
ends a stream with TERMINATE_STREAM; a client's terminate (or its going away)
removes its subscriptions. Malformed frames get a PROTOCOL_ERROR and the
connection is closed; every other connection keeps working.

The server knows nothing of the services: it looks each operation up in the
table it is given and passes the caller's component name along.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeway_common.json_logs import log

from .codec import MAX_MESSAGE_SIZE, Decoder, FramingError, HeaderType, Message, encode
from .errors import IpcError, ServiceError
from .rpc import (
    OPERATION,
    PROTOCOL_VERSION,
    VERSION,
    MessageFlag,
    MessageType,
    json_error,
    rpc_message,
    shape_frame,
)


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


Handler = Callable[["CallContext", dict[str, Any]], "dict[str, Any] | Awaitable[dict[str, Any]]"]
Authenticate = Callable[[str], str | None]
READ_SIZE = 256 * 1024
REJECTED_GRACE_S = 2.0


@dataclass(frozen=True)
class IpcLimits:
    """Before a client has authenticated it may send one small CONNECT: no more than
    `max_connect_message` bytes are buffered for it, it must come within `connect_seconds`, and at
    most `max_unauthenticated` such connections are open at once (`max_connections` in all); beyond
    that a new connection is closed at once."""

    max_connect_message: int = 64 * 1024
    connect_seconds: float = 10.0
    max_unauthenticated: int = 32
    max_connections: int = 1024


def parse_json_object(payload: bytes | None) -> dict[str, Any]:
    """A JSON object from a payload; ValueError, with why, for anything else. Deep nesting, numbers
    past Python's digit limit and bytes that are not UTF-8 are all ValueErrors here."""
    try:
        value = json.loads(payload or b"{}")
    except RecursionError:
        raise ValueError("it is nested too deeply") from None
    except UnicodeDecodeError as exc:
        raise ValueError(f"it is not UTF-8: {exc.reason}") from None
    except ValueError as exc:  # JSONDecodeError, and int digit limits
        raise ValueError(str(exc)[:200]) from None
    if not isinstance(value, dict):
        raise ValueError("the request must be a JSON object")
    return value


@dataclass(frozen=True)
class Operation:
    name: str
    handler: Handler
    event_shape: str | None = None  # set for operations that answer with a stream of events

    @property
    def response_shape(self) -> str:
        return f"{self.name}Response"


class Stream:
    """One operation's stream on a connection."""

    def __init__(self, connection: Connection, stream_id: int, operation: Operation) -> None:
        self.connection = connection
        self.stream_id = stream_id
        self.operation = operation
        self.closed = False
        self._ready = False
        self._pending: list[dict[str, Any]] = []
        self._closers: list[Callable[[], None]] = []

    def on_close(self, closer: Callable[[], None]) -> None:
        self._closers.append(closer)

    def send_event(self, body: dict[str, Any]) -> None:
        if self.closed or self.operation.event_shape is None:
            return
        if not self._ready:
            self._pending.append(body)
            return
        self.connection.send_bytes(
            shape_frame(
                MessageType.APPLICATION_MESSAGE, self.stream_id, self.operation.event_shape, _json(body)
            )
        )

    def respond(self, body: dict[str, Any]) -> None:
        streaming = self.operation.event_shape is not None
        flags = MessageFlag.NONE if streaming else MessageFlag.TERMINATE_STREAM
        self.connection.send_bytes(
            shape_frame(
                MessageType.APPLICATION_MESSAGE,
                self.stream_id,
                self.operation.response_shape,
                _json(body),
                flags,
            )
        )
        if not streaming:
            self.close()
            return
        self._ready = True
        for pending in self._pending:
            self.send_event(pending)
        self._pending.clear()

    def fail(self, error: IpcError) -> None:
        self.connection.send_bytes(
            shape_frame(
                MessageType.APPLICATION_ERROR,
                self.stream_id,
                error.model,
                _json(error.payload()),
                MessageFlag.TERMINATE_STREAM,
            )
        )
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.connection.streams.pop(self.stream_id, None)
        for closer in self._closers:
            closer()
        self._closers.clear()


class ComponentStreams:
    """Open event streams per component, each forgotten when it closes."""

    def __init__(self) -> None:
        self._streams: dict[str, list[Stream]] = {}

    def add(self, component: str, stream: Stream) -> None:
        self._streams.setdefault(component, []).append(stream)
        stream.on_close(lambda: self._streams[component].remove(stream))

    def components(self) -> list[str]:
        return sorted(c for c, streams in self._streams.items() if any(not s.closed for s in streams))

    def send(self, component: str, event: dict[str, Any]) -> None:
        for stream in list(self._streams.get(component, [])):
            stream.send_event(event)


@dataclass(frozen=True)
class CallContext:
    component: str
    stream: Stream


class Connection:
    def __init__(
        self,
        writer: asyncio.StreamWriter,
        operations: Mapping[str, Operation],
        authenticate: Authenticate,
        logger: logging.Logger,
    ) -> None:
        self._writer = writer
        # the loop the connection is served on; asyncio.get_running_loop() is a getpid() system call on
        # Python 3.11, and `send_bytes` schedules a flush for every turn that has frames to write
        self._loop = asyncio.get_running_loop()
        self._operations = operations
        self._authenticate = authenticate
        self._log = logger
        self.component: str | None = None
        self.streams: dict[int, Stream] = {}
        self._seen_streams = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.open = True
        self.rejected = False
        self._pending: list[bytes] = []
        self._flush_scheduled = False

    def send(self, message: Message) -> None:
        self.send_bytes(encode(message))

    def send_bytes(self, data: bytes) -> None:
        """Frames are gathered and written once per turn of the event loop: one send call for many
        frames (a burst of responses, or many events fanned out to this subscriber), in order."""
        if not self.open or self._writer.is_closing():
            return
        self._pending.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        self._flush_scheduled = False
        if self._pending and not self._writer.is_closing():
            self._writer.write(b"".join(self._pending))
        self._pending.clear()

    async def drain(self) -> None:
        self.flush()
        with contextlib.suppress(ConnectionError):
            await self._writer.drain()

    def protocol_error(self, text: str) -> None:
        log(self._log, logging.WARNING, "ipc-protocol-error", component=self.component, error=text)
        self.send(json_error(MessageType.PROTOCOL_ERROR, text))
        self.open = False

    def handle(self, message: Message) -> None:
        fields = {}
        for name in (":message-type", ":message-flags", ":stream-id"):
            header = message.header(name)
            if header is None or header.type != HeaderType.INT32:
                self.protocol_error(f"header {name} is missing or is not INT32")
                return
            fields[name] = int(header.value)
        try:
            kind = MessageType(fields[":message-type"])
        except ValueError:
            self.protocol_error(f"unknown message type {fields[':message-type']}")
            return
        flags, stream_id = fields[":message-flags"], fields[":stream-id"]
        if self.component is None:
            if kind != MessageType.CONNECT:
                self.protocol_error(f"expected CONNECT first, got {kind.name}")
                return
            self._connect(message)
            return
        if kind == MessageType.PING:
            headers = tuple(h for h in message.headers if not h.name.startswith(":"))
            self.send(rpc_message(MessageType.PING_RESPONSE, headers=headers, payload=message.payload))
        elif kind == MessageType.PING_RESPONSE:
            return
        elif kind in (MessageType.APPLICATION_MESSAGE, MessageType.APPLICATION_ERROR) and stream_id > 0:
            self._on_stream_message(message, stream_id, flags)
        else:
            self.protocol_error(f"{kind.name} is not valid here (stream {stream_id})")

    def _connect(self, message: Message) -> None:
        version = message.header(VERSION)
        component = None
        reason = ""
        if version is None or version.value != PROTOCOL_VERSION:
            reason = f"client version {version.value if version else None!r} is not {PROTOCOL_VERSION}"
        else:
            try:
                token = parse_json_object(message.payload).get("authToken")
            except ValueError:
                token = None
            component = (
                self._authenticate(token) if isinstance(token, str) and 0 < len(token) <= 4096 else None
            )
            reason = "" if component else "Unrecognized client connecting to GGC over IPC"
        if component is None:
            log(self._log, logging.WARNING, "ipc-connect-rejected", reason=reason)
            self.send(rpc_message(MessageType.CONNECT_ACK, flags=MessageFlag.NONE))
            self.rejected = (
                True  # the client hangs up once it reads the ACK; the server waits a little for that
            )
            self.open = False
            return
        self.component = component
        log(self._log, logging.INFO, "ipc-connect-accepted", component=component)
        self.send(rpc_message(MessageType.CONNECT_ACK, flags=MessageFlag.CONNECTION_ACCEPTED))

    def _on_stream_message(self, message: Message, stream_id: int, flags: int) -> None:
        stream = self.streams.get(stream_id)
        if stream is not None:
            if flags & MessageFlag.TERMINATE_STREAM:
                stream.close()
            return
        if stream_id <= self._seen_streams:
            return  # a late message on a stream that has ended
        if flags & MessageFlag.TERMINATE_STREAM:
            self._seen_streams = stream_id
            return
        header = message.header(OPERATION)
        if header is None or header.type != HeaderType.STRING:
            self.protocol_error(f"stream {stream_id} starts without an 'operation' header")
            return
        self._seen_streams = stream_id
        operation_name = str(header.value)
        operation = self._operations.get(operation_name)
        if operation is None:
            text = f"{operation_name} is an unsupported operation."
            log(self._log, logging.WARNING, "ipc-unsupported-operation", component=self.component, error=text)
            self.send(
                json_error(MessageType.APPLICATION_ERROR, text, stream_id, MessageFlag.TERMINATE_STREAM)
            )
            return
        stream = Stream(self, stream_id, operation)
        self.streams[stream_id] = stream
        try:
            request = parse_json_object(message.payload)
        except ValueError as exc:
            stream.fail(ServiceError(f"{operation.name}: request is not valid JSON: {exc}"))
            return
        assert self.component is not None
        try:
            outcome = stream.operation.handler(CallContext(self.component, stream), request)
        except Exception as exc:
            self._finish(stream, exc)
            return
        if inspect.isawaitable(outcome):
            task = asyncio.create_task(self._await(stream, outcome))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._finish(stream, outcome)

    async def _await(self, stream: Stream, outcome: Awaitable[dict[str, Any]]) -> None:
        try:
            result: dict[str, Any] | BaseException = await outcome
        except Exception as exc:
            result = exc
        self._finish(stream, result)

    def _finish(self, stream: Stream, result: dict[str, Any] | BaseException) -> None:
        """Answer a stream: its response, or the modeled error (anything unexpected is a ServiceError)."""
        if isinstance(result, IpcError):
            error = result
            log(
                self._log,
                logging.INFO,
                "ipc-operation-error",
                component=self.component,
                operation=stream.operation.name,
                error=error.message,
                shape=error.model,
            )
            stream.fail(error)
            return
        if isinstance(result, BaseException):
            self._log.error(
                "ipc-operation-crashed",
                exc_info=result,
                extra={"fields": {"operation": stream.operation.name}},
            )
            stream.fail(ServiceError(f"{stream.operation.name} failed: {result}"))
            return
        if not stream.closed:
            stream.respond(result)

    def close(self) -> None:
        self.open = False
        for stream in list(self.streams.values()):
            stream.close()
        for task in list(self._tasks):
            task.cancel()


class IpcServer:
    def __init__(
        self,
        socket_path: Path,
        operations: Mapping[str, Operation],
        authenticate: Authenticate,
        logger: logging.Logger,
        limits: IpcLimits = IpcLimits(),
    ) -> None:
        self._limits = limits
        self._path = socket_path
        self._operations = operations
        self._authenticate = authenticate
        self._log = logger
        self._server: asyncio.Server | None = None
        self.connections: set[Connection] = set()
        self._handlers: set[asyncio.Task[Any]] = set()

    def _handle_safely(self, connection: Connection, message: Message) -> None:
        """A message the connection could not handle is that connection's protocol error, logged in
        the core's log; the server and everyone else go on."""
        try:
            connection.handle(message)
        except Exception as exc:
            self._log.error(
                "ipc-message-crashed", exc_info=exc, extra={"fields": {"component": connection.component}}
            )
            connection.protocol_error(f"the server could not handle this message: {type(exc).__name__}")

    async def start(self) -> None:
        self._path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, path=str(self._path))
        # Components run as the core's user here; the socket is theirs and nobody else's.
        self._path.chmod(0o600)

    async def close(self) -> None:
        """Stop listening, end every connection and wait for their handlers to finish."""
        if self._server is not None:
            self._server.close()
        for connection in list(self.connections):
            connection.close()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._path.unlink(missing_ok=True)

    def _refused(self) -> str | None:
        limits = self._limits
        if len(self.connections) >= limits.max_connections:
            return f"{limits.max_connections} connections are open"
        waiting = sum(1 for c in self.connections if c.component is None)
        if waiting >= limits.max_unauthenticated:
            return f"{limits.max_unauthenticated} connections have not sent CONNECT yet"
        return None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        refused = self._refused()
        if refused is not None:
            log(self._log, logging.WARNING, "ipc-connection-refused", reason=refused)
            writer.close()
            with contextlib.suppress(ConnectionError, RuntimeError):
                await writer.wait_closed()
            return
        connection = Connection(writer, self._operations, self._authenticate, self._log)
        self.connections.add(connection)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        decoder = Decoder(self._limits.max_connect_message)
        connect_by = asyncio.get_running_loop().time() + self._limits.connect_seconds
        try:
            while connection.open:
                if connection.component is None:
                    left = connect_by - asyncio.get_running_loop().time()
                    try:
                        data = await asyncio.wait_for(reader.read(READ_SIZE), max(left, 0.0))
                    except TimeoutError:
                        connection.protocol_error(
                            f"no CONNECT within {self._limits.connect_seconds:g} seconds"
                        )
                        break
                else:
                    data = await reader.read(READ_SIZE)
                if not data:
                    break
                decoder.push(data)
                try:
                    while connection.open and (message := decoder.next()) is not None:
                        self._handle_safely(connection, message)
                        if connection.component is not None:
                            decoder.allow(MAX_MESSAGE_SIZE)
                except FramingError as exc:
                    connection.protocol_error(str(exc))
                    break
                await connection.drain()
            if connection.rejected:
                with contextlib.suppress(TimeoutError, ConnectionError):
                    await asyncio.wait_for(reader.read(), REJECTED_GRACE_S)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            await connection.drain()
            connection.close()
            self.connections.discard(connection)
            if task is not None:
                self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, RuntimeError, asyncio.CancelledError):
                await writer.wait_closed()
