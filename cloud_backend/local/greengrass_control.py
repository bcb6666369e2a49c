"""The greengrassv2 control-plane calls, in botocore's rest-json shapes (so boto3's `greengrassv2`
client works on the stand-in with `endpoint_url`, and the operator CLI is the same code against AWS),
and the jobs launcher that carries each deployment out as an IoT job to its thing or thing group."""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cloud_backend.broker.jobs_service import JobsService
from cloud_backend.broker.jobs_store import JobError
from cloud_backend.local.greengrass_service import (
    ACCOUNT,
    REGION,
    Component,
    Deployment,
    GreengrassError,
    GreengrassService,
    component_arn,
    parse_component_arn,
)
from cloud_backend.local.json_body import json_object
from cloud_backend.local.thing_groups import ThingGroups

Handler = Callable[[web.Request], Awaitable[web.Response]]
EXECUTION_TO_DEPLOYMENT = {
    "SUCCEEDED": "SUCCEEDED",
    "FAILED": "FAILED",
    "QUEUED": "QUEUED",
    "IN_PROGRESS": "IN_PROGRESS",
    "TIMED_OUT": "TIMED_OUT",
    "CANCELED": "CANCELED",
    "REJECTED": "REJECTED",
    "REMOVED": "CANCELED",
}


class JobsLauncher:
    """GreengrassService's jobs: created with the group's members, rollout and abort configuration."""

    def __init__(self, jobs: JobsService, groups: ThingGroups) -> None:
        self.jobs, self.groups = jobs, groups

    def create(
        self, job_id: str, targets: list[str], document: dict[str, Any], config: dict[str, Any]
    ) -> None:
        rollout = config.get("jobExecutionsRolloutConfig") or {}
        abort = (config.get("abortConfig") or {}).get("criteriaList") or []
        timeout = (config.get("timeoutConfig") or {}).get("inProgressTimeoutInMinutes")
        _, things = self.jobs.store.create(
            job_id,
            targets,
            document,
            f"Greengrass deployment {document['deploymentId']}",
            timeout,
            members=self.groups.members,
            per_minute=rollout.get("maximumPerMinute"),
            abort=abort,
        )
        for thing in things:
            if self.jobs.store.next_for(thing) is not None:
                self.jobs.notify_next(thing)

    def status(self, job_id: str) -> str:
        return self.jobs.store.job(job_id).status

    def cancel(self, job_id: str) -> None:
        for thing in self.jobs.store.cancel(job_id, "superseded or canceled"):
            self.jobs.notify_next(thing)

    def joined(self, group: str, thing: str) -> None:
        """A thing that joins a group gets the group's current deployment, as a continuous job."""
        target = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/{group}"
        for job in self.jobs.store.jobs_targeting(target):
            if self.jobs.store.add_target(job, thing):
                self.jobs.notify_next(thing)


def _error(exc: GreengrassError | JobError) -> web.Response:
    status = (
        exc.status
        if isinstance(exc, GreengrassError)
        else {"ResourceNotFoundException": 404}.get(exc.code, 400)
    )
    return web.json_response({"message": str(exc)}, status=status, headers={"x-amzn-ErrorType": exc.code})


def _guarded(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except (GreengrassError, JobError) as exc:
            return _error(exc)

    return guarded


async def _body(request: web.Request) -> dict[str, Any]:
    return await json_object(request, lambda why: GreengrassError("ValidationException", why))


def _status(component: Component) -> dict[str, Any]:
    return {"componentState": component.state, "message": component.message, "errors": component.errors}


def _deployment(d: Deployment) -> dict[str, Any]:
    return {
        "targetArn": d.target,
        "revisionId": str(d.revision),
        "deploymentId": d.id,
        "deploymentName": d.name,
        "creationTimestamp": d.created,
        "deploymentStatus": d.status,
        "isLatestForTarget": d.latest,
    }


def control_routes(service: GreengrassService, jobs: JobsService) -> Callable[[web.Application], None]:
    async def create_component(request: web.Request) -> web.Response:
        body = await _body(request)
        raw = body.get("inlineRecipe")
        if not isinstance(raw, str):
            raise GreengrassError(
                "ValidationException", "inlineRecipe is required (Lambda components are not served)"
            )
        try:
            recipe = base64.b64decode(raw, validate=True)
        except ValueError as exc:
            raise GreengrassError("ValidationException", f"inlineRecipe is not base64: {exc}") from exc
        component = service.create_component(recipe)
        return web.json_response(
            {
                "arn": component_arn(component.name, component.version),
                "componentName": component.name,
                "componentVersion": component.version,
                "creationTimestamp": component.created,
                "status": {"componentState": "REQUESTED", "message": "NONE", "errors": {}},
            }
        )

    async def describe_component(request: web.Request) -> web.Response:
        name, version = parse_component_arn(request.match_info["arn"])
        if version is None:
            raise GreengrassError("ValidationException", "DescribeComponent needs a component version ARN")
        c = service.component(name, version)
        return web.json_response(
            {
                "arn": component_arn(c.name, c.version),
                "componentName": c.name,
                "componentVersion": c.version,
                "creationTimestamp": c.created,
                "publisher": c.publisher,
                "description": c.description,
                "status": _status(c),
                "platforms": [{"attributes": {"os": "linux"}}],
            }
        )

    async def get_component(request: web.Request) -> web.Response:
        name, version = parse_component_arn(request.match_info["arn"])
        if version is None:
            raise GreengrassError("ValidationException", "GetComponent needs a component version ARN")
        recipe = json.loads(service.component(name, version).recipe)
        text = json.dumps(recipe).encode()
        if request.query.get("recipeOutputFormat", "JSON") == "YAML":
            import yaml

            text = yaml.safe_dump(recipe, sort_keys=False).encode()
        return web.json_response(
            {
                "recipeOutputFormat": request.query.get("recipeOutputFormat", "JSON"),
                "recipe": base64.b64encode(text).decode(),
            }
        )

    async def list_versions(request: web.Request) -> web.Response:
        name, _ = parse_component_arn(request.match_info["arn"])
        return web.json_response(
            {
                "componentVersions": [
                    {
                        "componentName": c.name,
                        "componentVersion": c.version,
                        "arn": component_arn(c.name, c.version),
                    }
                    for c in service.versions(name)
                ]
            }
        )

    async def create_deployment(request: web.Request) -> web.Response:
        d = service.create_deployment(await _body(request))
        job_arn = f"arn:aws:iot:{REGION}:{ACCOUNT}:job/{d.job_id}"
        return web.json_response({"deploymentId": d.id, "iotJobId": d.job_id, "iotJobArn": job_arn})

    async def get_deployment(request: web.Request) -> web.Response:
        d = service.deployment(request.match_info["id"])
        return web.json_response(
            {
                **_deployment(d),
                "iotJobId": d.job_id,
                "iotJobArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:job/{d.job_id}",
                "components": d.components,
                "deploymentPolicies": d.policies,
                "iotJobConfiguration": d.job_config,
            }
        )

    async def list_deployments(request: web.Request) -> web.Response:
        found = service.deployments(
            request.query.get("targetArn"), request.query.get("historyFilter", "LATEST_ONLY") == "LATEST_ONLY"
        )
        return web.json_response({"deployments": [_deployment(d) for d in found]})

    async def cancel_deployment(request: web.Request) -> web.Response:
        service.cancel(request.match_info["id"])
        return web.json_response({"message": "canceled"})

    async def effective(request: web.Request) -> web.Response:
        thing = request.match_info["core"]
        found = []
        for execution in jobs.store.executions_of_thing(thing):
            document = execution.document
            if "deploymentId" not in document:
                continue
            d = service.deployment(document["deploymentId"])
            found.append(
                {
                    "deploymentId": d.id,
                    "deploymentName": d.name,
                    "iotJobId": d.job_id,
                    "iotJobArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:job/{d.job_id}",
                    "targetArn": d.target,
                    "coreDeviceExecutionStatus": EXECUTION_TO_DEPLOYMENT[execution.status],
                    "reason": execution.status_details.get("reason", execution.status),
                    "creationTimestamp": execution.queued_at,
                    "modifiedTimestamp": execution.last_updated_at,
                    "statusDetails": {
                        "detailedDeploymentStatus": execution.status_details.get(
                            "detailedStatus", execution.status
                        )
                    },
                }
            )
        return web.json_response({"effectiveDeployments": found})

    async def installed(request: web.Request) -> web.Response:
        core = service.core(request.match_info["core"])
        return web.json_response(
            {
                "installedComponents": [
                    {
                        "componentName": c.get("componentName"),
                        "componentVersion": c.get("version"),
                        "lifecycleState": c.get("status"),
                        "isRoot": bool(c.get("isRoot", True)),
                        "lastReportedTimestamp": core["updated"],
                    }
                    for c in core["components"]
                ]
            }
        )

    async def get_core(request: web.Request) -> web.Response:
        core = service.core(request.match_info["core"])
        return web.json_response(
            {
                "coreDeviceThingName": core["thing"],
                "coreVersion": core["version"],
                "platform": core["platform"],
                "architecture": core["architecture"],
                "status": core["status"],
                "lastStatusUpdateTimestamp": core["updated"],
            }
        )

    async def list_cores(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "coreDevices": [
                    {
                        "coreDeviceThingName": c["thing"],
                        "status": c["status"],
                        "lastStatusUpdateTimestamp": c["updated"],
                        "platform": c["platform"],
                        "architecture": c["architecture"],
                    }
                    for c in service.cores()
                ]
            }
        )

    def add(app: web.Application) -> None:
        router = app.router
        router.add_post("/greengrass/v2/createComponentVersion", _guarded(create_component))
        router.add_get("/greengrass/v2/components/{arn}/metadata", _guarded(describe_component))
        router.add_get("/greengrass/v2/components/{arn}/versions", _guarded(list_versions))
        router.add_get("/greengrass/v2/components/{arn}", _guarded(get_component))
        router.add_post("/greengrass/v2/deployments", _guarded(create_deployment))
        router.add_get("/greengrass/v2/deployments", _guarded(list_deployments))
        router.add_get("/greengrass/v2/deployments/{id}", _guarded(get_deployment))
        router.add_post("/greengrass/v2/deployments/{id}/cancel", _guarded(cancel_deployment))
        router.add_get("/greengrass/v2/coreDevices", _guarded(list_cores))
        router.add_get("/greengrass/v2/coreDevices/{core}", _guarded(get_core))
        router.add_get("/greengrass/v2/coreDevices/{core}/effectiveDeployments", _guarded(effective))
        router.add_get("/greengrass/v2/coreDevices/{core}/installedComponents", _guarded(installed))

    return add


def thing_group_routes(groups: ThingGroups) -> Callable[[web.Application], None]:
    async def create(request: web.Request) -> web.Response:
        arn, group_id = groups.create(request.match_info["name"])
        return web.json_response(
            {"thingGroupName": request.match_info["name"], "thingGroupArn": arn, "thingGroupId": group_id}
        )

    async def describe(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        arn, group_id, created = groups.describe(name)
        return web.json_response(
            {
                "thingGroupName": name,
                "thingGroupId": group_id,
                "thingGroupArn": arn,
                "version": 1,
                "thingGroupProperties": {},
                "thingGroupMetadata": {"creationDate": created},
            }
        )

    async def add_thing(request: web.Request) -> web.Response:
        body = await _body(request)
        name = body.get("thingGroupName") or str(body.get("thingGroupArn", "")).rsplit("/", 1)[-1]
        thing = body.get("thingName") or str(body.get("thingArn", "")).rsplit("/", 1)[-1]
        if not name or not thing:
            raise JobError(
                "InvalidRequestException", "thingGroupName (or Arn) and thingName (or Arn) are required"
            )
        groups.add(str(name), str(thing))
        return web.json_response({})

    async def members(request: web.Request) -> web.Response:
        return web.json_response({"things": groups.members(request.match_info["name"])})

    def add(app: web.Application) -> None:
        app.router.add_put("/thing-groups/addThingToThingGroup", _guarded(add_thing))
        app.router.add_post("/thing-groups/{name}", _guarded(create))
        app.router.add_get("/thing-groups/{name}", _guarded(describe))
        app.router.add_get("/thing-groups/{name}/things", _guarded(members))

    return add
