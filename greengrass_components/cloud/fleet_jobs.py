"""The core takes deployments from the cloud as the nucleus does: through the IoT jobs topics of its
thing. On every connection it asks for its next job (`start-next`), and again when the service says
the next one changed (`notify-next`) or its last update was accepted; a Greengrass deployment's job
document is handed to `apply` (which fetches, deploys, and rolls back on failure) and the outcome is
reported as the job execution's status, with the reason in its details. One job at a time.

It also publishes the core's health to the fleet status topic
(`$aws/things/<thing>/greengrassv2/health/json`) when asked: on start, after every deployment, and
when a component breaks.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from edgeway_common.json_logs import log

from .mqtt_session import InboundMessage, IotCoreSession

Apply = Callable[[dict[str, Any]], Awaitable[tuple[str, str]]]  # document -> (SUCCEEDED|FAILED, reason)
Health = Callable[[], dict[str, Any]]


class FleetJobs:
    def __init__(
        self, session: IotCoreSession, thing: str, apply: Apply, health: Health, logger: logging.Logger
    ) -> None:
        self.session, self.thing, self.apply, self.health, self._log = session, thing, apply, health, logger
        self.prefix = f"$aws/things/{thing}/jobs"
        self._running: str | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._watch: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.session.subscribe(f"{self.prefix}/notify-next", 1, self._notified)
        self.session.subscribe(f"{self.prefix}/start-next/accepted", 1, self._next)
        self.session.subscribe(f"{self.prefix}/+/update/accepted", 1, lambda m: self._spawn(self.ask()))
        self.session.subscribe(f"{self.prefix}/+/update/rejected", 1, self._rejected)
        self._watch = asyncio.create_task(self._on_each_connection(), name="fleet-jobs")

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, *([self._watch] if self._watch else []), return_exceptions=True)

    async def _on_each_connection(self) -> None:
        was = False
        while True:
            now = self.session.connected
            if now and not was:
                await self.report_health("NUCLEUS_LAUNCH" if self.session.connects <= 1 else "RECONNECT")
                await self.ask()
            was = now
            await asyncio.sleep(0.2)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def ask(self) -> None:
        if self._running is None:
            await self.session.publish(f"{self.prefix}/start-next", b'{"statusDetails":{}}', 1, False)

    def _notified(self, message: InboundMessage) -> None:
        if _execution(message.payload) is not None:
            self._spawn(self.ask())

    def _rejected(self, message: InboundMessage) -> None:
        log(
            self._log,
            logging.WARNING,
            "fleet-job-update-rejected",
            topic=message.topic,
            answer=message.payload[:300].decode(errors="replace"),
        )
        self._spawn(self.ask())

    def _next(self, message: InboundMessage) -> None:
        execution = _execution(message.payload)
        if execution is None or self._running is not None:
            return
        document = execution.get("jobDocument") or {}
        if not isinstance(document, dict) or "deploymentId" not in document or "components" not in document:
            self._spawn(
                self._update(str(execution["jobId"]), "REJECTED", "not a Greengrass deployment document")
            )
            return
        self._running = str(execution["jobId"])
        self._spawn(self._carry_out(self._running, document))

    async def _carry_out(self, job_id: str, document: dict[str, Any]) -> None:
        log(
            self._log, logging.INFO, "fleet-deployment-start", job=job_id, deployment=document["deploymentId"]
        )
        try:
            status, reason = await self.apply(document)
        except Exception as exc:  # a bug in applying fails this deployment, not the core
            self._log.exception("fleet-deployment-crashed")
            status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
        log(self._log, logging.INFO, "fleet-deployment-done", job=job_id, status=status, reason=reason)
        self._running = None
        await self._update(job_id, status, reason)
        await self.report_health("THING_GROUP_DEPLOYMENT")

    async def _update(self, job_id: str, status: str, reason: str) -> None:
        details = {"detailedStatus": status, **({"reason": reason[:1000]} if reason else {})}
        body = json.dumps({"status": status, "statusDetails": details}).encode()
        await self.session.publish(f"{self.prefix}/{job_id}/update", body, 1, False)

    async def report_health(self, trigger: str) -> None:
        document = {**self.health(), "thing": self.thing, "trigger": trigger, "messageType": "COMPLETE"}
        topic = f"$aws/things/{self.thing}/greengrassv2/health/json"
        await self.session.publish(topic, json.dumps(document).encode(), 1, False)


def _execution(payload: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    execution = document.get("execution") if isinstance(document, dict) else None
    return execution if isinstance(execution, dict) and "jobId" in execution else None
