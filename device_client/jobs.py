"""The device's side of IoT jobs over MQTT: one handler per job operation (the job document's
`operation`), one job at a time, in the order the service gives them.

On every connection the client asks for its next job (`start-next`), and again whenever the service
says the next one changed (`notify-next`) or an update it sent was accepted. A handler returns status
details (SUCCEEDED) or raises `JobFailed` with a reason (FAILED, the reason in the details); an
operation with no handler is REJECTED, saying so. The final update goes through the outbox, so a job
finished while offline is reported when the connection is back, and is not run twice meanwhile.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .client import DeviceClient

log = logging.getLogger("edgeway.device.jobs")
JobHandler = Callable[[dict[str, Any]], Mapping[str, str]]


class JobFailed(Exception):
    """A handler's way to fail a job; the message becomes `statusDetails.reason`."""


class JobsClient:
    def __init__(self, client: DeviceClient, thing: str, handlers: Mapping[str, JobHandler]) -> None:
        self.client, self.thing, self.handlers = client, thing, dict(handlers)
        self.prefix = f"$aws/things/{thing}/jobs"
        self._lock = threading.Lock()
        self._running: str | None = None
        self._reported: set[str] = set()  # finished here, update not yet accepted
        self.finished: list[tuple[str, str, dict[str, str]]] = []  # (job id, status, details)
        client.subscribe(f"{self.prefix}/notify-next", self._notified)
        client.subscribe(f"{self.prefix}/start-next/accepted", self._next)
        client.subscribe(f"{self.prefix}/start-next/rejected", self._rejected)
        client.subscribe(f"{self.prefix}/+/update/accepted", self._update_accepted)
        client.subscribe(f"{self.prefix}/+/update/rejected", self._rejected)
        client.add_state_listener(lambda connected, reason: self.ask() if connected else None)

    def ask(self) -> None:
        """Asks the service to start the next pending job (answered on start-next/accepted)."""
        self.client.publish_now(f"{self.prefix}/start-next", b'{"statusDetails":{}}', 1)

    def _notified(self, topic: str, payload: bytes) -> None:
        execution = _execution(payload)
        with self._lock:
            idle = self._running is None
        if execution is not None and idle:
            self.ask()

    def _next(self, topic: str, payload: bytes) -> None:
        execution = _execution(payload)
        if execution is None:
            return
        job_id = str(execution.get("jobId"))
        with self._lock:
            if self._running is not None or job_id in self._reported:
                return
            self._running = job_id
        threading.Thread(target=self._run, args=(execution,), name=f"job-{job_id}", daemon=True).start()

    def _run(self, execution: dict[str, Any]) -> None:
        job_id = str(execution["jobId"])
        document = execution.get("jobDocument") or {}
        operation = document.get("operation") if isinstance(document, dict) else None
        handler = self.handlers.get(str(operation))
        status, details = "SUCCEEDED", {}
        if handler is None:
            status, details = (
                "REJECTED",
                {"reason": f"no handler for operation {operation!r} on {self.thing}"},
            )
        else:
            try:
                details = {str(k): str(v) for k, v in handler(document).items()}
            except JobFailed as exc:
                status, details = "FAILED", {"reason": str(exc)[:1000]}
            except Exception as exc:  # a handler's bug fails its job, not the device
                log.exception("job handler raised", extra={"job": job_id})
                status, details = "FAILED", {"reason": f"{type(exc).__name__}: {exc}"[:1000]}
        with self._lock:
            self._reported.add(job_id)
            self._running = None
            self.finished.append((job_id, status, details))
        log.info("job finished", extra={"job": job_id, "status": status, **details})
        self.client.publish(
            f"{self.prefix}/{job_id}/update",
            lambda rid: {"status": status, "statusDetails": details, "clientToken": rid},
            priority=10,
        )

    def _update_accepted(self, topic: str, payload: bytes) -> None:
        job_id = topic.split("/")[-3]
        with self._lock:
            self._reported.discard(job_id)
        self.ask()

    def _rejected(self, topic: str, payload: bytes) -> None:
        log.warning(
            "jobs request rejected", extra={"topic": topic, "answer": payload[:300].decode(errors="replace")}
        )
        if topic.endswith("/update/rejected"):  # canceled meanwhile, say: on to the next one
            with self._lock:
                self._reported.discard(topic.split("/")[-3])
            self.ask()


def _execution(payload: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    execution = document.get("execution") if isinstance(document, dict) else None
    return execution if isinstance(execution, dict) and "jobId" in execution else None
