"""The IoT calls the stand-in serves, in botocore's rest-json shapes, so boto3's `iot` and `iot-data`
clients (with `endpoint_url`) and `edgeway cloud job create` work on it as on AWS: CreateJob,
DescribeJob, GetJobDocument, ListJobExecutionsForJob, DescribeJobExecution and CancelJob; and the
device shadow's UpdateThingShadow, GetThingShadow and DeleteThingShadow (whose answers are also
published on the shadow's MQTT topics, as IoT does).

Errors are rest-json errors: the code in `x-amzn-ErrorType`, the message in the body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cloud_backend.broker.jobs_service import JobsService
from cloud_backend.broker.jobs_store import Execution, Job, JobError
from cloud_backend.broker.shadow_service import ShadowRequest, ShadowService
from cloud_backend.local.json_body import json_object

REGION, ACCOUNT = "us-east-1", "000000000000"
JOB_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
MAX_DOCUMENT = 32 * 1024  # IoT's limit for a job document
STATUS = {
    "ConflictException": 409,
    "ResourceNotFoundException": 404,
    "ResourceAlreadyExistsException": 409,
    "InvalidRequestException": 400,
    "InvalidStateTransitionException": 409,
}
Handler = Callable[[web.Request], Awaitable[web.Response]]


def error(code: str, message: str) -> web.Response:
    return web.json_response(
        {"message": message}, status=STATUS.get(code, 400), headers={"x-amzn-ErrorType": code}
    )


def thing_arn(thing: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{thing}"


def job_arn(job_id: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:job/{job_id}"


def _job(job: Job, executions: list[Execution]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for e in executions:
        counts[e.status] = counts.get(e.status, 0) + 1
    shown: dict[str, Any] = {
        "jobArn": job_arn(job.job_id),
        "jobId": job.job_id,
        "targetSelection": "SNAPSHOT",
        "status": job.status,
        "targets": job.targets,
        "description": job.description,
        "createdAt": job.created_at,
        "lastUpdatedAt": job.last_updated_at,
        "jobProcessDetails": {
            "numberOfCanceledThings": counts.get("CANCELED", 0),
            "numberOfSucceededThings": counts.get("SUCCEEDED", 0),
            "numberOfFailedThings": counts.get("FAILED", 0),
            "numberOfRejectedThings": counts.get("REJECTED", 0),
            "numberOfQueuedThings": counts.get("QUEUED", 0),
            "numberOfInProgressThings": counts.get("IN_PROGRESS", 0),
            "numberOfRemovedThings": counts.get("REMOVED", 0),
            "numberOfTimedOutThings": counts.get("TIMED_OUT", 0),
        },
    }
    if job.completed_at is not None:
        shown["completedAt"] = job.completed_at
    if job.timeout_minutes is not None:
        shown["timeoutConfig"] = {"inProgressTimeoutInMinutes": job.timeout_minutes}
    return shown


def _execution(e: Execution) -> dict[str, Any]:
    shown: dict[str, Any] = {
        "jobId": e.job_id,
        "status": e.status,
        "statusDetails": {"detailsMap": e.status_details},
        "thingArn": thing_arn(e.thing),
        "queuedAt": e.queued_at,
        "lastUpdatedAt": e.last_updated_at,
        "executionNumber": e.execution_number,
        "versionNumber": e.version,
    }
    if e.started_at is not None:
        shown["startedAt"] = e.started_at
    return shown


def _guarded(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except JobError as exc:
            return error(exc.code, str(exc))

    return guarded


async def _body(request: web.Request) -> dict[str, Any]:
    return await json_object(request, lambda why: JobError("InvalidRequestException", why))


def jobs_routes(service: JobsService) -> Callable[[web.Application], None]:
    store = service.store

    async def create_job(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if not JOB_ID.fullmatch(job_id):
            raise JobError("InvalidRequestException", "jobId must be 1 to 64 letters, digits, _ or -")
        body = await _body(request)
        targets = body.get("targets")
        if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
            raise JobError("InvalidRequestException", "targets must be a non-empty list of thing ARNs")
        text = body.get("document")
        if not isinstance(text, str) or len(text.encode()) > MAX_DOCUMENT:
            raise JobError(
                "InvalidRequestException", f"document must be a JSON string of at most {MAX_DOCUMENT} bytes"
            )
        try:
            document = json.loads(text)
        except ValueError as exc:
            raise JobError("InvalidRequestException", f"document is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise JobError("InvalidRequestException", "document must be a JSON object")
        timeout = (body.get("timeoutConfig") or {}).get("inProgressTimeoutInMinutes")
        if timeout is not None and (not isinstance(timeout, int) or not 1 <= timeout <= 10080):
            raise JobError("InvalidRequestException", "inProgressTimeoutInMinutes must be 1 to 10080")
        description = str(body.get("description") or "")
        job, things = store.create(job_id, targets, document, description, timeout)
        for thing in things:
            service.notify_next(thing)
        return web.json_response(
            {"jobArn": job_arn(job.job_id), "jobId": job.job_id, "description": description}
        )

    async def describe_job(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        return web.json_response({"job": _job(store.job(job_id), store.executions_of_job(job_id))})

    async def job_document(request: web.Request) -> web.Response:
        return web.json_response({"document": json.dumps(store.job(request.match_info["job_id"]).document)})

    async def executions_for_job(request: web.Request) -> web.Response:
        wanted = request.query.get("status")
        summaries = [
            {
                "thingArn": thing_arn(e.thing),
                "jobExecutionSummary": {
                    k: v
                    for k, v in _execution(e).items()
                    if k in ("status", "queuedAt", "startedAt", "lastUpdatedAt", "executionNumber")
                },
            }
            for e in store.executions_of_job(request.match_info["job_id"])
            if wanted is None or e.status == wanted
        ]
        return web.json_response({"executionSummaries": summaries})

    async def describe_execution(request: web.Request) -> web.Response:
        execution = store.execution(request.match_info["job_id"], request.match_info["thing"])
        return web.json_response({"execution": _execution(execution)})

    async def cancel_job(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        body = await _body(request)
        for thing in store.cancel(job_id, str(body.get("comment") or "")):
            service.notify_next(thing)
        job = store.job(job_id)
        return web.json_response({"jobArn": job_arn(job_id), "jobId": job_id, "description": job.description})

    def add(app: web.Application) -> None:
        app.router.add_put("/jobs/{job_id}", _guarded(create_job))
        app.router.add_get("/jobs/{job_id}", _guarded(describe_job))
        app.router.add_get("/jobs/{job_id}/job-document", _guarded(job_document))
        app.router.add_get("/jobs/{job_id}/things", _guarded(executions_for_job))
        app.router.add_put("/jobs/{job_id}/cancel", _guarded(cancel_job))
        app.router.add_get("/things/{thing}/jobs/{job_id}", _guarded(describe_execution))

    return add


SHADOW_ERRORS = {400: "InvalidRequestException", 404: "ResourceNotFoundException", 409: "ConflictException"}
THING = re.compile(r"[a-zA-Z0-9:_-]{1,128}")


def shadow_routes(service: ShadowService) -> Callable[[web.Application], None]:
    async def shadow(request: web.Request) -> web.Response:
        thing, name = request.match_info["thing"], request.query.get("name", "")
        if not THING.fullmatch(thing) or (name and not THING.fullmatch(name)):
            return error(
                "InvalidRequestException", "thingName and name must be 1 to 128 letters, digits, :, _ or -"
            )
        op = {"POST": "update", "GET": "get", "DELETE": "delete"}[request.method]
        payload = await request.read() if op == "update" else b""
        accepted, document = service.handle(ShadowRequest(thing, name, op), payload)
        if accepted:
            return web.json_response(document)
        code = int(document.get("code", 400))
        return error(SHADOW_ERRORS.get(code, "InvalidRequestException"), str(document.get("message", "")))

    def add(app: web.Application) -> None:
        for method in ("POST", "GET", "DELETE"):
            app.router.add_route(method, "/things/{thing}/shadow", shadow)

    return add
