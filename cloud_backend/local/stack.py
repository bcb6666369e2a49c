"""`edgeway cloud run`: the whole cloud backend on one machine, composed from the template.

The template's policies go to the authorizer, its rules to the rules engine, its functions to the
Lambda host, its Kinesis event source mapping to the stream poller, its table and stream names to the
local SQLite stores. Everything persistent lives under the data directory.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from aiohttp import web

from cloud_backend.broker.gate import Gate
from cloud_backend.broker.jobs_service import JobsService
from cloud_backend.broker.jobs_store import JobsStore
from cloud_backend.broker.monitor import Monitor
from cloud_backend.broker.server import IotBroker, LoopBus, broker_config
from cloud_backend.broker.shadow_service import ShadowService
from cloud_backend.chat_contract import encode
from cloud_backend.handlers import authorizer, backend
from cloud_backend.handlers.publisher import Publisher
from cloud_backend.handlers.tokens import JwksKeys
from cloud_backend.local.action_runner import LocalActionRunner
from cloud_backend.local.greengrass_api import discovery_app, greengrass_routes, server_context
from cloud_backend.local.greengrass_control import JobsLauncher, control_routes, thing_group_routes
from cloud_backend.local.greengrass_registry import GreengrassRegistry
from cloud_backend.local.greengrass_service import GreengrassError, GreengrassService, RecipeCheck
from cloud_backend.local.http_api import Health, Routes, make_app
from cloud_backend.local.identity import Identity, load_or_create_key
from cloud_backend.local.iot_api import jobs_routes, shadow_routes
from cloud_backend.local.lambda_host import LambdaHost, function_specs
from cloud_backend.local.policies import role_policies
from cloud_backend.local.s3_api import ObjectStore, s3_routes
from cloud_backend.local.thing_groups import ThingGroups
from cloud_backend.rules.engine import RulesEngine
from cloud_backend.rules.loader import load_rules
from cloud_backend.store.sqlite import (
    SqliteDatabase,
    SqliteMessageStore,
    SqlitePresenceStore,
    SqliteTelemetryStore,
)
from cloud_backend.streams.log import StreamLog
from cloud_backend.streams.poller import PollerSettings, StreamPoller
from edgeway_common import cfn
from edgeway_common.certificates import CertificateAuthority
from edgeway_common.shadow_store import ShadowStore

log = logging.getLogger("edgeway.cloud")
DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "template.yaml"


@dataclass(frozen=True)
class CloudSettings:
    data_dir: Path
    mqtt_port: int = 1883
    ws_port: int = 8083
    http_port: int = 8081
    template: Path = DEFAULT_TEMPLATE
    host: str = "127.0.0.1"
    parameters: dict[str, str] = field(default_factory=dict)
    token_seconds: int = 3600
    discovery_port: int = 8443  # Greengrass discovery over mutual TLS; 0: not served


class BusPublisher(Publisher):
    def __init__(self, bus: LoopBus) -> None:
        self._bus = bus

    def publish(self, topic: str, document: dict[str, Any]) -> None:
        self._bus.publish(topic, encode(document))


def _authorizer_function(template: dict[str, Any], resolver: cfn.LocalResolver) -> str:
    found = cfn.resources_of_type(template, "AWS::IoT::Authorizer")
    if len(found) != 1:
        raise cfn.TemplateError(f"{resolver.source}: expected one AWS::IoT::Authorizer, found {len(found)}")
    name, resource = found[0]
    arn = resolver.resolve(resource["Properties"]["AuthorizerFunctionArn"], name)
    return cfn.logical_id(arn)


def _stream_consumers(
    template: dict[str, Any], resolver: cfn.LocalResolver
) -> list[tuple[str, str, PollerSettings]]:
    """(function, stream, settings) for each Kinesis event source in the template."""
    found = []
    for name, resource in cfn.resources_of_type(template, "AWS::Serverless::Function"):
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event.get("Type") != "Kinesis":
                continue
            properties = resolver.resolve(event["Properties"], f"{name}.Events")
            stream = cfn.logical_id(properties["Stream"])
            settings = PollerSettings(
                batch_size=int(properties.get("BatchSize", 100)),
                window_seconds=float(properties.get("MaximumBatchingWindowInSeconds", 0)) or 0.05,
                max_retries=max(0, int(properties.get("MaximumRetryAttempts", 2))),
            )
            found.append((name, stream, settings))
    return found


class LocalCloud:
    def __init__(
        self,
        settings: CloudSettings,
        health: Health | None = None,
        monitor: Monitor | None = None,
        routes: Routes | None = None,
        recipe_check: RecipeCheck | None = None,
    ) -> None:
        self.settings = settings
        self._recipe_check = recipe_check
        self._health, self._monitor, self._routes = health, monitor, routes
        self._closers: list[Any] = []
        self._pollers: list[StreamPoller] = []
        self.broker: IotBroker | None = None
        self.jobs: JobsService | None = None
        self.registry: GreengrassRegistry | None = None
        self.greengrass: GreengrassService | None = None
        self._bus: LoopBus | None = None
        self.groups: ThingGroups | None = None
        self.authority: CertificateAuthority | None = None
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._discovery: web.AppRunner | None = None

    @property
    def mqtt_url(self) -> str:
        return f"ws://{self.settings.host}:{self.settings.ws_port}/mqtt"

    async def start(self) -> None:
        settings, loop = self.settings, asyncio.get_running_loop()
        data = settings.data_dir
        data.mkdir(parents=True, exist_ok=True)
        template = cfn.load_template(settings.template)
        resolver = cfn.LocalResolver(template, settings.parameters, str(settings.template))
        environment = resolver.resolve(
            template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {}),
            "Globals",
        )
        identity = Identity(load_or_create_key(data), token_seconds=settings.token_seconds)
        db = SqliteDatabase(data / "backend.sqlite3")
        stream_log = StreamLog(data / "stream.sqlite3", "TelemetryStream")
        shadow_store = ShadowStore(data / "shadows.sqlite3")
        jobs_store = JobsStore(data / "jobs.sqlite3", time.time)
        self.registry = registry = GreengrassRegistry(data / "greengrass.sqlite3")
        self.groups = groups = ThingGroups(data / "thing-groups.sqlite3")
        self.authority = CertificateAuthority(data / "ca", "edgeway stand-in CA")
        self._closers += [
            db.close,
            stream_log.close,
            shadow_store.close,
            jobs_store.close,
            registry.close,
            groups.close,
        ]
        lambdas = LambdaHost(function_specs(template, resolver))
        self._closers.insert(0, lambdas.close)

        bus = self._bus = LoopBus(loop)
        messages, presence = SqliteMessageStore(db), SqlitePresenceStore(db)
        backend.install(
            backend.configured(environment, messages, presence, SqliteTelemetryStore(db), BusPublisher(bus))
        )
        authorizer.install(
            authorizer.AuthorizerConfig(
                JwksKeys(identity.jwks()), identity.issuer, role_policies(template, resolver)
            )
        )
        runner = LocalActionRunner(
            bus,
            lambdas,
            tables={"MessagesTable": messages},
            streams={stream_log.name: stream_log},
            error_log=data / "rule-errors.log",
            transaction=db.transaction,
        )
        self._closers.insert(0, runner.close)
        engine = RulesEngine(load_rules(template, resolver), runner)
        bus.rules = engine.process
        for person in presence.online():  # a restart dropped every connection
            presence.put(replace(person, online=False, room=""))

        auth_function = _authorizer_function(template, resolver)

        async def authorize(event: dict[str, Any]) -> dict[str, Any]:
            result: dict[str, Any] = await loop.run_in_executor(None, lambdas.invoke, auth_function, event)
            return result

        gate = Gate(authorize, bus, engine.process, monitor=self._monitor)
        shadows = ShadowService(shadow_store, lambda topic, doc: bus.publish(topic, encode(doc)), gate.now_ms)
        self.jobs = JobsService(jobs_store, lambda topic, doc: bus.publish(topic, encode(doc)), time.time)
        launcher = JobsLauncher(self.jobs, groups)
        groups.joined = launcher.joined
        self.objects = ObjectStore(data / "s3")
        self.greengrass = GreengrassService(
            data / "greengrass-control.sqlite3", launcher, self._recipe_check, self.objects.exists
        )
        self._closers.append(self.greengrass.close)
        self.broker = IotBroker(
            broker_config(settings.mqtt_port, settings.ws_port, settings.host),
            gate,
            shadows,
            self.jobs,
            self._fleet_status,
        )
        bus.broker = self.broker
        await self.broker.start()
        for function, stream, poller_settings in _stream_consumers(template, resolver):
            if stream != stream_log.name:
                raise cfn.TemplateError(
                    f"{settings.template}: {function} reads stream {stream}, which is not local"
                )
            poller = StreamPoller(stream_log, function, partial(lambdas.invoke, function), poller_settings)
            self._pollers.append(poller.start())
        self._tasks.append(asyncio.create_task(self._sweep_jobs(), name="jobs-timeouts"))
        app = make_app(identity, self.mqtt_url, self._health)
        jobs_routes(self.jobs)(app)
        shadow_routes(shadows)(app)
        greengrass_routes(registry)(app)
        control_routes(self.greengrass, self.jobs)(app)
        thing_group_routes(groups)(app)
        s3_routes(self.objects)(app)
        if self._routes is not None:
            self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, settings.host, settings.http_port).start()
        if settings.discovery_port:
            await self._serve_discovery(registry, self.authority)
        log.info(
            "cloud stand-in up",
            extra={
                "mqtt": f"{settings.host}:{settings.mqtt_port}",
                "websocket": self.mqtt_url,
                "http": f"http://{settings.host}:{settings.http_port}",
                "discovery": f"https://{settings.host}:{settings.discovery_port}"
                if settings.discovery_port
                else "off",
                "rules": [r.name for r in engine.rules],
            },
        )

    async def _serve_discovery(self, registry: GreengrassRegistry, authority: CertificateAuthority) -> None:
        hosts = sorted({"localhost", "127.0.0.1", self.settings.host})
        server = authority.issue("discovery", server=True, hosts=hosts, folder=self.settings.data_dir / "ca")
        context = server_context(str(authority.ca), str(server.cert), str(server.key))
        self._discovery = web.AppRunner(discovery_app(registry), access_log=None)
        await self._discovery.setup()
        await web.TCPSite(
            self._discovery, self.settings.host, self.settings.discovery_port, ssl_context=context
        ).start()

    def _fleet_status(self, thing: str, payload: bytes) -> None:
        """A core's fleet status message: its health and components, for GetCoreDevice and the rest."""
        if self.greengrass is None:
            return
        try:
            document = json.loads(payload)
            self.greengrass.report(thing, document if isinstance(document, dict) else {})
        except (ValueError, GreengrassError) as exc:
            log.info("fleet status refused", extra={"thing": thing, "reason": str(exc)[:300]})
            return
        core = self.greengrass.core(thing)
        summary = {  # the dashboard's core list: each core's health from the fleet status feed
            "thing": thing,
            "status": core["status"],
            "components": len(core["components"]),
            "broken": [
                str(c.get("componentName")) for c in core["components"] if c.get("status") == "BROKEN"
            ],
            "ts": int(core["updated"] * 1000),
        }
        if self._bus is not None:
            self._bus.publish(f"dash/cores/{thing}", encode(summary))

    async def _sweep_jobs(self) -> None:
        """Job executions in progress past their timeout end TIMED_OUT within a second."""
        while self.jobs is not None:
            await asyncio.sleep(1.0)
            try:
                await asyncio.to_thread(self.jobs.sweep)
            except Exception:  # a sweep that failed is tried again next second
                log.exception("jobs timeout sweep failed")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._discovery is not None:
            await self._discovery.cleanup()
        if self._runner is not None:
            await self._runner.cleanup()
        for poller in self._pollers:
            await asyncio.to_thread(poller.stop)
        if self.broker is not None:
            await self.broker.shutdown()
        for close in self._closers:
            await asyncio.to_thread(close)
        backend.install(None)
        authorizer.install(None)

    async def run_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
