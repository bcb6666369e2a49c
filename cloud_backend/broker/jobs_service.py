"""The IoT jobs MQTT API, as IoT Core serves it to a device, over the jobs store.

Requests on `$aws/things/{thing}/jobs/{get, start-next, <jobId>/get, <jobId>/update}`; answers on the
request topic plus `/accepted` or `/rejected` (`{code, message, clientToken, timestamp}`). Whenever a
thing's next job changes (a job queued for it, its current one ended, canceled or timed out) it gets
`$aws/things/{thing}/jobs/notify-next`, holding the next execution or none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cloud_backend.broker.jobs_store import JobError, JobsStore

_REQUEST = re.compile(
    r"^\$aws/things/(?P<thing>[A-Za-z0-9:_-]{1,128})/jobs/"
    r"(?:(?P<op>get|start-next)|(?P<job>[A-Za-z0-9_-]{1,64})/(?P<job_op>get|update))$"
)
Publish = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class JobsRequest:
    thing: str
    op: str  # get, start-next, describe, update
    job_id: str | None = None

    @property
    def topic(self) -> str:
        base = f"$aws/things/{self.thing}/jobs"
        if self.job_id is None:
            return f"{base}/{self.op}"
        return f"{base}/{self.job_id}/{'get' if self.op == 'describe' else 'update'}"


def parse_topic(topic: str) -> JobsRequest | None:
    match = _REQUEST.match(topic)
    if match is None:
        return None
    if match["op"]:
        return JobsRequest(match["thing"], match["op"])
    return JobsRequest(match["thing"], "describe" if match["job_op"] == "get" else "update", match["job"])


def _details(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise JobError("InvalidRequestException", "statusDetails must map strings to strings")
    return dict(value)


class JobsService:
    def __init__(self, store: JobsStore, publish: Publish, now: Callable[[], float]) -> None:
        self.store, self.publish, self.now = store, publish, now

    def handle(self, request: JobsRequest, payload: bytes) -> None:
        token: Any = None
        try:
            try:
                body = json.loads(payload) if payload else {}
            except (UnicodeDecodeError, ValueError) as exc:
                raise JobError("InvalidJson", f"the request is not JSON: {exc}") from exc
            if not isinstance(body, dict):
                raise JobError("InvalidRequestException", "the request must be a JSON object")
            token = body.get("clientToken")
            answer = self._answer(request, body)
        except JobError as exc:
            rejected = {"code": exc.code, "message": str(exc), "timestamp": int(self.now())}
            if token is not None:
                rejected["clientToken"] = token
            self.publish(f"{request.topic}/rejected", rejected)
            return
        answer["timestamp"] = int(self.now())
        if token is not None:
            answer["clientToken"] = token
        self.publish(f"{request.topic}/accepted", answer)

    def _answer(self, request: JobsRequest, body: dict[str, Any]) -> dict[str, Any]:
        thing = request.thing
        if request.op == "get":
            pending = self.store.pending_for(thing)
            return {
                "inProgressJobs": [e.summary() for e in pending if e.status == "IN_PROGRESS"],
                "queuedJobs": [e.summary() for e in pending if e.status == "QUEUED"],
            }
        if request.op == "start-next":
            started = self.store.start_next(thing, _details(body.get("statusDetails")))
            return {} if started is None else {"execution": started.mqtt()}
        assert request.job_id is not None
        if request.op == "describe":
            return {"execution": self.store.execution(request.job_id, thing).mqtt()}
        status = body.get("status")
        version = body.get("expectedVersion")
        if not isinstance(status, str):
            raise JobError("InvalidRequestException", "status is required")
        if version is not None and not isinstance(version, int):
            raise JobError("InvalidRequestException", "expectedVersion must be a whole number")
        updated = self.store.update(
            request.job_id, thing, status, _details(body.get("statusDetails")), version
        )
        answer: dict[str, Any] = {
            "executionState": {
                "status": updated.status,
                "statusDetails": updated.status_details,
                "versionNumber": updated.version,
            }
        }
        if body.get("includeJobDocument"):
            answer["jobDocument"] = updated.document
        if updated.status not in ("QUEUED", "IN_PROGRESS"):
            self.notify_next(thing)
        return answer

    def notify_next(self, thing: str) -> None:
        following = self.store.next_for(thing)
        document: dict[str, Any] = {"timestamp": int(self.now())}
        if following is not None:
            document["execution"] = following.mqtt()
        self.publish(f"$aws/things/{thing}/jobs/notify-next", document)

    def sweep(self) -> None:
        """Times out executions past their limit, releases what the rollouts allow now, and tells
        the things whose next job changed."""
        for thing in sorted(set(self.store.time_out()) | set(self.store.released())):
            self.notify_next(thing)
