"""Where the uplink's messages go: IoT Core through the core (PublishToIoTCore, QoS 1), or, for the
stream, straight to Kinesis with PutRecords. A sink raises `SendError` when a message was not taken;
the uplink keeps its records and backs off."""

from __future__ import annotations

from typing import Any, Protocol

from .ipc_client import CoreLink
from .uplink_batches import Outgoing

KINESIS_MAX_RECORDS = 500
KINESIS_MAX_BYTES = 5 * 1024 * 1024


class SendError(Exception):
    """A message was not delivered; nothing of it may be deleted."""


class Sink(Protocol):
    def send(self, messages: list[Outgoing]) -> int:
        """Sends in order; returns how many of `messages`, from the first, were delivered."""
        ...


class IotCoreSink:
    def __init__(self, link: CoreLink, timeout: float = 30.0) -> None:
        self.link, self.timeout = link, timeout

    def send(self, messages: list[Outgoing]) -> int:
        for done, message in enumerate(messages):
            try:
                self.link.publish_iot_core_async(message.topic, message.payload, qos=1).result(self.timeout)
            except Exception as exc:  # the SDK raises its own error types, and timeouts
                if done:
                    return done
                raise SendError(f"PublishToIoTCore {message.topic}: {type(exc).__name__}: {exc}") from exc
        return len(messages)


class KinesisSink:
    """Stream messages by PutRecords (partition key: the thing), everything else through `fallback`
    (alerts still go to `chat/out` over IoT Core). Records Kinesis reports as failed are sent again."""

    def __init__(self, client: Any, stream: str, thing: str, fallback: Sink, attempts: int = 3) -> None:
        self.client, self.stream, self.thing, self.fallback, self.attempts = (
            client,
            stream,
            thing,
            fallback,
            attempts,
        )

    def send(self, messages: list[Outgoing]) -> int:
        done = 0
        while done < len(messages):
            if messages[done].topic != "chat/stream":
                if self.fallback.send([messages[done]]) != 1:
                    return done
                done += 1
                continue
            group: list[Outgoing] = []
            size = 0
            for message in messages[done:]:
                if message.topic != "chat/stream" or len(group) == KINESIS_MAX_RECORDS:
                    break
                if size + len(message.payload) > KINESIS_MAX_BYTES:
                    break
                group.append(message)
                size += len(message.payload)
            self._put(group)
            done += len(group)
        return done

    def _put(self, group: list[Outgoing]) -> None:
        pending = [{"Data": m.payload, "PartitionKey": self.thing} for m in group]
        for _ in range(self.attempts):
            try:
                answer = self.client.put_records(StreamName=self.stream, Records=pending)
            except Exception as exc:  # botocore's errors: the stream is away
                raise SendError(f"Kinesis PutRecords to {self.stream}: {exc}") from exc
            if not answer.get("FailedRecordCount"):
                return
            pending = [p for p, r in zip(pending, answer["Records"], strict=True) if "ErrorCode" in r]
        raise SendError(
            f"Kinesis PutRecords to {self.stream}: {len(pending)} records failed {self.attempts} times"
        )
