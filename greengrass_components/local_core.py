"""The local core: composes the runtime and runs until SIGINT or SIGTERM.

On start it restores the deployed set from its state store, then deploys the
recipes it was given (unchanged components keep running), and serves the
control socket. On SIGINT or SIGTERM every component is stopped dependents-first
(Shutdown, then its process groups), and the core exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeway_common.json_logs import log
from edgeway_common.shadow_store import ShadowStore
from greengrass_components.cloud.component_fetch import fetch_components
from greengrass_components.cloud.fleet_jobs import FleetJobs
from greengrass_components.cloud.iot_endpoint import IotEndpoint
from greengrass_components.cloud.mqtt_session import IotCoreSession
from greengrass_components.cloud.shadow_sync import ShadowSync
from greengrass_components.cloud.spool import DEFAULT_MAX_BYTES, Spool
from greengrass_components.ipc.authorization import Authorizer
from greengrass_components.ipc.deployment_hooks import IpcDeploymentHooks
from greengrass_components.ipc.operations import operation_table
from greengrass_components.ipc.server import IpcServer
from greengrass_components.ipc.services import cli as cli_service
from greengrass_components.ipc.services import configuration as configuration_service
from greengrass_components.ipc.services import lifecycle as lifecycle_service
from greengrass_components.ipc.services import mqttproxy as mqttproxy_service
from greengrass_components.ipc.services import pubsub as pubsub_service
from greengrass_components.ipc.services import shadow as shadow_service
from greengrass_components.ipc.services.configuration import ConfigurationValidator
from greengrass_components.ipc.services.lifecycle import ComponentUpdateNotifier
from greengrass_components.ipc.services.pubsub import LocalPubSub
from greengrass_components.runtime.config_store import ConfigStore
from greengrass_components.runtime.config_update import ConfigurationUpdate
from greengrass_components.runtime.control_server import Operation, start_control_server
from greengrass_components.runtime.core_paths import CorePaths
from greengrass_components.runtime.deployments import DeploymentManager, DeploymentRequest
from greengrass_components.runtime.errors import CoreError, DeploymentError
from greengrass_components.runtime.lifecycle import DEFAULT_ERROR_RESET_SECONDS
from greengrass_components.runtime.logs import setup_core_logging
from greengrass_components.runtime.planner import ComponentPlan
from greengrass_components.runtime.platform import detect_platform
from greengrass_components.runtime.process_registry import ProcessRegistry, stop_recorded_groups
from greengrass_components.runtime.reaper import start_reaper, stop_reaper
from greengrass_components.runtime.recipe_loader import load_recipe_dir
from greengrass_components.runtime.state_board import State, StateBoard, StateChange
from greengrass_components.runtime.state_store import StateStore
from greengrass_components.runtime.supervisor import Supervisor
from greengrass_components.runtime.versions import newest


@dataclass(frozen=True)
class CoreSettings:
    root: Path
    recipe_dir: Path | None = None
    artifact_dir: Path | None = None
    thing_name: str = "gateway-1"
    region: str = "us-east-1"
    root_ca_path: str = ""
    platform_overrides: Mapping[str, str] = field(default_factory=dict)
    log_to_stderr: bool = True
    log_format: str = "auto"  # on stderr: text on a terminal, JSON lines otherwise (the files: JSON)
    deployment_timeout: float = 300.0
    error_reset_seconds: float = DEFAULT_ERROR_RESET_SECONDS
    component_update_timeout: float = 60.0
    configuration_validation_timeout: float = 30.0
    iot_endpoint: IotEndpoint | None = None
    spool_max_bytes: int = DEFAULT_MAX_BYTES
    keep_qos0_when_offline: bool = False
    reconnect_min_seconds: float = 1.0
    reconnect_max_seconds: float = 120.0
    # Configuration merged into components by the first deployment (as a deployment's MERGE would).
    initial_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Cloud deployments: where Greengrass's API (GetComponent) and S3 are; None: take no jobs. With
    # an endpoint URL (the stand-in), S3 is under <url>/s3 and the account is the stand-in's.
    cloud_deployments: bool = False
    greengrass_endpoint_url: str | None = None


class Core:
    def __init__(self, settings: CoreSettings) -> None:
        self.settings = settings
        self.paths = CorePaths(settings.root.resolve())
        self.paths.make_dirs()
        self.log = setup_core_logging(
            self.paths.logs, to_stderr=settings.log_to_stderr, log_format=settings.log_format
        )
        self.board = StateBoard()
        self.store = StateStore(self.paths.state_db)
        self.board.subscribe(self._remember_broken)
        self.supervisor = Supervisor(
            self.paths,
            self.board,
            self.component_env,
            self.log,
            registry=ProcessRegistry(self.paths.process_groups),
            error_reset_seconds=settings.error_reset_seconds,
        )
        self.device = detect_platform(settings.platform_overrides)
        self.configs = ConfigStore(self.store)
        self.authorizer = Authorizer(self.configs.get, settings.thing_name)
        self.pubsub = LocalPubSub()
        self.shadows = ShadowStore(self.paths.config / "shadows.sqlite")
        self.spool = Spool(self.paths.config / "spool.sqlite", settings.spool_max_bytes)
        self.iot = (
            IotCoreSession(
                settings.iot_endpoint,
                settings.thing_name,
                self.spool,
                self.log,
                keep_qos0_when_offline=settings.keep_qos0_when_offline,
                backoff_min=settings.reconnect_min_seconds,
                backoff_max=settings.reconnect_max_seconds,
            )
            if settings.iot_endpoint is not None
            else None
        )
        self.shadow_sync = (
            ShadowSync(self.shadows, self.iot, settings.thing_name, self.log)
            if self.iot is not None
            else None
        )
        self.fleet = (
            FleetJobs(self.iot, settings.thing_name, self._apply_cloud, self._health, self.log)
            if self.iot is not None and settings.cloud_deployments
            else None
        )
        self.validator = ConfigurationValidator(settings.configuration_validation_timeout)
        self.notifier = ComponentUpdateNotifier(self.log, settings.component_update_timeout)
        self.deployments = DeploymentManager(
            self.paths,
            self.store,
            self.supervisor,
            self.board,
            self.device,
            settings.thing_name,
            self.log,
            ready_timeout=settings.deployment_timeout,
            configs=self.configs,
            hooks=IpcDeploymentHooks(self.validator, self.notifier),
        )
        control = CoreComponentControl(self)
        self.ipc = IpcServer(
            self.paths.ipc_socket,
            operation_table(
                pubsub_service.operations(self.pubsub, self.authorizer),
                configuration_service.operations(self.configs, self.validator),
                lifecycle_service.operations(control, self.notifier),
                cli_service.operations(control, self.authorizer),
                shadow_service.operations(self.shadows, self.authorizer, sync=self.shadow_sync),
                mqttproxy_service.operations(self.iot, self.authorizer),
            ),
            self.supervisor.component_for_token,
            self.log,
        )
        self._stopping = asyncio.Event()
        self.ready = asyncio.Event()  # set once the initial deployment has finished, well or not
        self.ready_failure = ""  # why the initial deployment failed, if it did
        self._background: set[asyncio.Task[Any]] = set()

    def _remember_broken(self, change: StateChange) -> None:
        runner = self.supervisor.runners.get(change.name)
        if change.new == State.BROKEN and runner is not None:
            self.store.mark_broken(change.name, runner.plan.version, change.reason)

    # -- what a component's processes see -------------------------------------

    def component_env(self, plan: ComponentPlan, token: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "SVCUID"}
        python_bin = str(Path(sys.executable).parent)
        env["PATH"] = os.pathsep.join([python_bin, env.get("PATH", os.defpath)])
        socket_path = str(self.paths.ipc_socket)
        env.update(
            {
                "SVCUID": token,
                "AWS_CONTAINER_AUTHORIZATION_TOKEN": token,
                "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH_FOR_COMPONENT": socket_path,
                "AWS_GG_NUCLEUS_DOMAIN_SOCKET_FILEPATH": socket_path,
                "AWS_IOT_THING_NAME": self.settings.thing_name,
                "AWS_REGION": self.settings.region,
                "AWS_DEFAULT_REGION": self.settings.region,
                "GG_ROOT_CA_PATH": self.settings.root_ca_path,
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    # -- control operations ---------------------------------------------------

    def operations(self) -> dict[str, Operation]:
        return {
            "deploy": self._op_deploy,
            "list": self._op_list,
            "deployments": self._op_deployments,
            "restart": self._op_restart,
            "ipc": self._op_ipc,
        }

    async def _op_deploy(self, body: Mapping[str, Any]) -> dict[str, Any]:
        request = DeploymentRequest.from_json(body)
        deployment_id = str(body.get("id") or uuid.uuid4())
        task = asyncio.create_task(self.deployments.deploy(request, deployment_id))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        if not body.get("wait", True):
            return {"id": deployment_id, "status": "IN_PROGRESS"}
        result = await task
        return {"id": result.id, "status": result.status, "reason": result.reason}

    async def _op_list(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"components": self.supervisor.snapshot()}

    async def _op_deployments(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return {"deployments": [d.to_json() for d in self.store.deployments()]}

    async def _op_ipc(self, body: Mapping[str, Any]) -> dict[str, Any]:
        connections = self.ipc.connections
        return {
            "connections": sorted(c.component or "" for c in connections),
            "streams": sum(len(c.streams) for c in connections),
            "subscriptions": self.pubsub.subscription_count,
            "iot": None
            if self.iot is None
            else {
                "connected": self.iot.connected,
                "connects": self.iot.connects,
                "subscriptions": self.iot.subscription_count,
                "spooled": self.spool.count(),
                "dropped_qos0": self.spool.dropped_qos0,
                "refused": self.spool.refused,
            },
        }

    async def _op_restart(self, body: Mapping[str, Any]) -> dict[str, Any]:
        name = str(body.get("name", ""))
        if not self.supervisor.restart(name):
            raise DeploymentError(f"no component named {name!r} is deployed")
        return {"name": name}

    # -- run ------------------------------------------------------------------

    def initial_request(self) -> DeploymentRequest | None:
        """Deploy the newest version of every recipe in --recipes, if given."""
        recipe_dir = self.settings.recipe_dir
        if recipe_dir is None:
            return None
        recipes, problems = load_recipe_dir(recipe_dir)
        if problems:
            raise CoreError("; ".join(str(p) for p in problems))
        versions: dict[str, list[str]] = {}
        for recipe in recipes:
            versions.setdefault(recipe.name, []).append(recipe.version)
        merge = {name: newest(found) for name, found in versions.items()}
        updates = {
            name: ConfigurationUpdate(merge=dict(value))
            for name, value in self.settings.initial_config.items()
            if name in merge
        }
        return DeploymentRequest(
            merge=merge, update_config=updates, recipe_dir=recipe_dir, artifact_dir=self.settings.artifact_dir
        )

    def request_stop(self) -> None:
        self._stopping.set()

    async def _apply_cloud(self, document: dict[str, Any]) -> tuple[str, str]:
        return await CloudDeployments(self).apply(document)

    def _health(self) -> dict[str, Any]:
        """The fleet status message's body: every component, and the core UNHEALTHY if one is broken."""
        snapshot = self.supervisor.snapshot()
        bad = any(c["state"] in ("BROKEN", "ERRORED") for c in snapshot)
        return {
            "ggcVersion": "2.14.3", "platform": self.device.get("os", "linux"),
            "architecture": self.device.get("architecture", "amd64"),
            "overallDeviceStatus": "UNHEALTHY" if bad else "HEALTHY",
            "components": [
                {"componentName": c["name"], "version": c["version"], "status": c["state"], "isRoot": True}
                for c in snapshot
            ],
        }  # fmt: skip

    def _broken_to_fleet(self, change: StateChange) -> None:
        if change.new == State.BROKEN and self.fleet is not None:
            asyncio.get_running_loop().create_task(self.fleet.report_health("BROKEN_COMPONENT"))

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.request_stop)
        log(
            self.log,
            logging.INFO,
            "core-start",
            root=str(self.paths.root),
            thing=self.settings.thing_name,
            platform=self.device,
            pid=os.getpid(),
        )
        left = await stop_recorded_groups(self.paths.process_groups)
        if left:
            log(self.log, logging.WARNING, "leftover-processes-stopped", groups=left)
        reaper = start_reaper(self.paths.process_groups)
        server = await start_control_server(self.paths.control_socket, self.operations(), self.log)
        await self.ipc.start()
        if self.iot is not None:
            await self.iot.start()
        if self.shadow_sync is not None:
            self.shadow_sync.start()
        if self.fleet is not None:
            self.fleet.start()
            self.board.subscribe(self._broken_to_fleet)
        exit_code = 0
        try:
            self.deployments.restore()
            request = self.initial_request()
            if request is not None:
                result = await self.deployments.deploy(request)
                if result.status != "SUCCEEDED":
                    self.ready_failure = result.reason
                    log(self.log, logging.ERROR, "initial-deployment-failed", reason=result.reason)
            log(self.log, logging.INFO, "core-ready", components=self.supervisor.snapshot())
            self.ready.set()
            await self._stopping.wait()
        except CoreError as exc:
            log(self.log, logging.ERROR, "core-failed", error=str(exc))
            self.ready_failure = str(exc)
            self.ready.set()
            exit_code = 1
        finally:
            log(self.log, logging.INFO, "core-stopping")
            server.close()
            await self.supervisor.stop_all()
            await self.ipc.close()
            if self.fleet is not None:
                await self.fleet.close()
            if self.iot is not None:
                await self.iot.close()
            self.spool.close()
            self.paths.control_socket.unlink(missing_ok=True)
            self.store.close()
            self.shadows.close()
            stop_reaper(reaper)
            log(self.log, logging.INFO, "core-stopped")
        return exit_code


class CloudDeployments:
    """How the core carries out a deployment from the cloud (FleetJobs hands it the job document): fetch
    the recipes and artifacts, then deploy them as a local deployment would (rolling back on failure),
    removing what this core's previous cloud deployment held and the new one leaves out."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.roots = core.paths.root / "cloud-deployments" / "roots.json"

    def _clients(self) -> tuple[Any, Any, str, str]:
        import boto3
        from botocore.config import Config

        settings = self.core.settings
        url = settings.greengrass_endpoint_url
        local = {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if url else {}
        greengrass = boto3.client("greengrassv2", region_name=settings.region, endpoint_url=url, **local)
        s3 = boto3.client(
            "s3", region_name=settings.region, endpoint_url=f"{url}/s3" if url else None,
            config=Config(s3={"addressing_style": "path"}), **local,
        )  # fmt: skip
        account = "000000000000" if url else str(boto3.client("sts").get_caller_identity()["Account"])
        return greengrass, s3, account, settings.region

    def previous(self) -> set[str]:
        try:
            return set(json.loads(self.roots.read_text()))
        except (OSError, ValueError):
            return set()

    async def apply(self, document: dict[str, Any]) -> tuple[str, str]:
        folder = self.core.paths.root / "cloud-deployments" / str(document["deploymentId"])
        try:
            greengrass, s3, account, region = await asyncio.to_thread(self._clients)
            await asyncio.to_thread(
                fetch_components,
                document,
                greengrass,
                s3,
                folder / "recipes",
                folder / "artifacts",
                account,
                region,
            )
        except Exception as exc:  # boto3's errors, a missing object: the deployment fails saying so
            return "FAILED", f"fetching the components failed: {type(exc).__name__}: {exc}"
        wanted = document["components"]
        updates = {
            name: ConfigurationUpdate(
                merge=dict(spec.get("configurationUpdate", {}).get("merge") or {}),
                reset=tuple(spec.get("configurationUpdate", {}).get("reset") or ()),
            )
            for name, spec in wanted.items()
            if spec.get("configurationUpdate")
        }
        request = DeploymentRequest(
            merge={name: str(spec["version"]) for name, spec in wanted.items()},
            remove=tuple(sorted(self.previous() - set(wanted))),
            update_config=updates,
            recipe_dir=folder / "recipes",
            artifact_dir=folder / "artifacts",
        )
        result = await self.core.deployments.deploy(request, deployment_id=str(document["deploymentId"]))
        if result.status == "SUCCEEDED":
            self.roots.parent.mkdir(parents=True, exist_ok=True)
            self.roots.write_text(json.dumps(sorted(wanted)))
        return result.status, result.reason


class CoreComponentControl:
    """What IPC may see and do of the components: details, restart, stop, reported state."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def details(self, name: str) -> dict[str, Any] | None:
        runner = self._core.supervisor.runners.get(name)
        if runner is None:
            return None
        return {
            "componentName": name,
            "version": runner.plan.version,
            "state": str(self._core.board.state(name)),
            "configuration": self._core.configs.get(name) or {},
        }

    def names(self) -> list[str]:
        return sorted(self._core.supervisor.runners)

    def restart(self, name: str) -> bool:
        return self._core.supervisor.restart(name)

    def stop(self, name: str) -> bool:
        return self._core.supervisor.halt(name)

    def report_state(self, name: str, state: str) -> None:
        self._core.supervisor.report_state(name, state)


def run_core(settings: CoreSettings) -> int:
    return asyncio.run(Core(settings).run())
