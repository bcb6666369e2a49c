"""The operator's workflow against AWS (or the stand-in, through the same boto3 clients): build,
publish, deploy, watch and roll back components. Each step plans first (frozen data, no calls) and
executes second, so every plan can be printed with `--dry-run`.

What the GDK and the console leave to the operator is done here: artifacts are uploaded only when
their SHA-256 changed (kept as the object's `sha256` metadata); a recipe over 16,000 bytes is refused;
an identical recipe creates no new version; a new version is waited for until DEPLOYABLE (or the
reason it FAILED is shown); a deployment starts from the target's current one, prints the difference,
and removes only what the operator named and allowed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from greengrass_components.runtime.errors import CoreError

MAX_RECIPE_BYTES = 16_000


class PublishError(CoreError):
    """A publish, deploy or rollback step that cannot go on; the message says which and why."""


@dataclass(frozen=True)
class BuiltArtifact:
    path: Path
    key: str  # where it goes in the bucket: <component>/<version>/<file>
    sha256: str  # hex

    @property
    def digest(self) -> str:
        return base64.b64encode(bytes.fromhex(self.sha256)).decode()


@dataclass(frozen=True)
class BuiltComponent:
    name: str
    version: str
    recipe: dict[str, Any]  # with each artifact's real URI and digest
    artifacts: tuple[BuiltArtifact, ...]

    def recipe_bytes(self) -> bytes:
        return json.dumps(self.recipe, indent=2, sort_keys=False).encode()


def build_component(recipe: dict[str, Any], artifacts: Mapping[str, Path], bucket: str) -> BuiltComponent:
    """The recipe with `s3://<bucket>/<name>/<version>/<file>` URIs and SHA-256 digests, for the files in
    `artifacts` (file name -> the built file)."""
    name, version = str(recipe["ComponentName"]), str(recipe["ComponentVersion"])
    built: list[BuiltArtifact] = []
    rewritten = json.loads(json.dumps(recipe))
    for manifest in rewritten.get("Manifests") or []:
        for artifact in manifest.get("Artifacts") or []:
            file_name = str(artifact.get("URI", "")).rsplit("/", 1)[-1]
            if file_name not in artifacts:
                raise PublishError(f"{name} {version}: no built artifact named {file_name}")
            path = artifacts[file_name]
            sha = hashlib.sha256(path.read_bytes()).hexdigest()
            item = BuiltArtifact(path, f"{name}/{version}/{file_name}", sha)
            artifact["URI"] = f"s3://{bucket}/{item.key}"
            artifact["Digest"], artifact["Algorithm"] = item.digest, "SHA-256"
            if item not in built:
                built.append(item)
    return BuiltComponent(name, version, rewritten, tuple(built))


# -- publish --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishPlan:
    component: BuiltComponent
    uploads: tuple[BuiltArtifact, ...]  # changed or missing
    unchanged: tuple[BuiltArtifact, ...]
    create_version: bool  # False: the same recipe is already that version
    bucket: str

    def describe(self) -> list[str]:
        c = self.component
        lines = [f"component {c.name} {c.version}"]
        lines += [f"  upload s3://{self.bucket}/{a.key} (sha256 {a.sha256[:12]})" for a in self.uploads]
        lines += [f"  unchanged s3://{self.bucket}/{a.key}" for a in self.unchanged]
        lines.append(
            f"  create the version ({len(c.recipe_bytes())} bytes of recipe), wait until DEPLOYABLE"
            if self.create_version
            else "  the same recipe is already this version: nothing to create"
        )
        return lines


def plan_publish(
    component: BuiltComponent, bucket: str, s3: Any, greengrass: Any, account: str, region: str
) -> PublishPlan:
    size = len(component.recipe_bytes())
    if size > MAX_RECIPE_BYTES:
        raise PublishError(
            f"{component.name} {component.version}: the recipe is {size} bytes;"
            f" Greengrass allows {MAX_RECIPE_BYTES}"
        )
    uploads: list[BuiltArtifact] = []
    unchanged: list[BuiltArtifact] = []
    for artifact in component.artifacts:
        try:
            head = s3.head_object(Bucket=bucket, Key=artifact.key)
            same = head.get("Metadata", {}).get("sha256") == artifact.sha256
        except s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise PublishError(f"s3://{bucket}/{artifact.key}: {exc}") from exc
            same = False
        (unchanged if same else uploads).append(artifact)
    arn = version_arn(component.name, component.version, account, region)
    try:
        existing = greengrass.get_component(arn=arn, recipeOutputFormat="JSON")
    except greengrass.exceptions.ResourceNotFoundException:
        existing = None
    if existing is not None:
        current = json.loads(_blob(existing["recipe"]))
        if current != component.recipe:
            raise PublishError(
                f"{component.name} {component.version} already exists with a different recipe;"
                " give it a new version"
            )
    return PublishPlan(component, tuple(uploads), tuple(unchanged), existing is None, bucket)


def execute_publish(
    plan: PublishPlan,
    s3: Any,
    greengrass: Any,
    account: str,
    region: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    wait_seconds: float = 120.0,
) -> str:
    """Uploads, creates, waits; returns the component version's state (DEPLOYABLE)."""
    for artifact in plan.uploads:
        s3.put_object(
            Bucket=plan.bucket,
            Key=artifact.key,
            Body=artifact.path.read_bytes(),
            Metadata={"sha256": artifact.sha256},
        )
    if not plan.create_version:
        return "DEPLOYABLE"
    created = greengrass.create_component_version(inlineRecipe=plan.component.recipe_bytes())
    waited = 0.0
    while True:
        status = greengrass.describe_component(arn=created["arn"])["status"]
        if status["componentState"] == "DEPLOYABLE":
            return "DEPLOYABLE"
        if status["componentState"] == "FAILED":
            errors = "; ".join(f"{k}: {v}" for k, v in (status.get("errors") or {}).items())
            raise PublishError(
                f"{plan.component.name} {plan.component.version} FAILED:"
                f" {status.get('message', '')} {errors}".strip()
            )
        if waited >= wait_seconds:
            raise PublishError(
                f"{plan.component.name} {plan.component.version} is still {status['componentState']}"
                f" after {wait_seconds:g} s"
            )
        sleep(1.0)
        waited += 1.0


def version_arn(name: str, version: str, account: str, region: str) -> str:
    return f"arn:aws:greengrass:{region}:{account}:components:{name}:versions:{version}"


def _blob(value: Any) -> bytes:
    return (
        value
        if isinstance(value, bytes)
        else bytes(value.read())
        if hasattr(value, "read")
        else str(value).encode()
    )


# -- deploy ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployPlan:
    target: str
    current: Mapping[str, Any]  # the target's latest deployment's components ({} when none)
    components: Mapping[str, Any]  # what the new deployment holds
    policies: Mapping[str, Any] = field(default_factory=dict)
    job_config: Mapping[str, Any] = field(default_factory=dict)

    def differences(self) -> list[str]:
        lines = []
        for name in sorted(set(self.current) | set(self.components)):
            before, after = self.current.get(name), self.components.get(name)
            if after is None:
                assert before is not None
                lines.append(f"  - {name} {before['componentVersion']}")
            elif before is None:
                lines.append(f"  + {name} {after['componentVersion']}")
            elif before != after:
                configured = before.get("configurationUpdate") != after.get("configurationUpdate")
                change = f"{before['componentVersion']} -> {after['componentVersion']}"
                lines.append(f"  ~ {name} {change}" + (" (configuration)" if configured else ""))
            else:
                lines.append(f"    {name} {after['componentVersion']}")
        return lines

    def describe(self) -> list[str]:
        lines = [f"deploy to {self.target}", *self.differences()]
        if self.policies:
            lines.append(f"  policies {json.dumps(self.policies, sort_keys=True)}")
        if self.job_config:
            lines.append(f"  rollout {json.dumps(self.job_config, sort_keys=True)}")
        return lines


def current_components(greengrass: Any, target: str) -> Mapping[str, Any]:
    latest = greengrass.list_deployments(targetArn=target, historyFilter="LATEST_ONLY").get("deployments", [])
    if not latest:
        return {}
    return dict(greengrass.get_deployment(deploymentId=latest[0]["deploymentId"]).get("components", {}))


def plan_deploy(
    current: Mapping[str, Any],
    target: str,
    versions: Mapping[str, str],
    configs: Mapping[str, str],
    remove: tuple[str, ...],
    allow_remove: bool,
    policies: Mapping[str, Any],
    job_config: Mapping[str, Any],
) -> DeployPlan:
    if remove and not allow_remove:
        raise PublishError(
            f"removing {', '.join(remove)} takes --allow-remove:"
            " a removed component is uninstalled from every core"
        )
    unknown = [n for n in remove if n not in current]
    if unknown:
        raise PublishError(f"--remove {', '.join(unknown)}: not in the target's current deployment")
    components = {name: dict(spec) for name, spec in current.items() if name not in remove}
    for name, version in versions.items():
        components[name] = {"componentVersion": version}
    for name, merge in configs.items():
        if name not in components:
            raise PublishError(f"--update-config {name}: name the component with --component {name}=VERSION")
        try:
            json.loads(merge)
        except ValueError as exc:
            raise PublishError(f"--update-config {name}: not JSON: {exc}") from exc
        components[name] = {**components[name], "configurationUpdate": {"merge": merge}}
    if not components:
        raise PublishError("the deployment would hold no component")
    return DeployPlan(target, current, components, policies, job_config)


def execute_deploy(plan: DeployPlan, greengrass: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"targetArn": plan.target, "components": dict(plan.components)}
    if plan.policies:
        request["deploymentPolicies"] = dict(plan.policies)
    if plan.job_config:
        request["iotJobConfiguration"] = dict(plan.job_config)
    answer: dict[str, Any] = greengrass.create_deployment(**request)
    return answer


def previous_components(greengrass: Any, target: str) -> tuple[str, Mapping[str, Any]]:
    """The revision before the latest one for the target, and its components: what a rollback deploys."""
    history = greengrass.list_deployments(targetArn=target, historyFilter="ALL").get("deployments", [])
    ordered = sorted(history, key=lambda d: int(d.get("revisionId", "0")), reverse=True)
    if len(ordered) < 2:
        raise PublishError(f"{target} has no earlier deployment to roll back to")
    earlier = ordered[1]
    return str(earlier["revisionId"]), dict(
        greengrass.get_deployment(deploymentId=earlier["deploymentId"])["components"]
    )


# -- status ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CoreStatus:
    core: str
    status: str  # the core's execution of this deployment
    reason: str
    components: tuple[tuple[str, str, str], ...]  # (name, version, state)


def deployment_cores(iot: Any, target: str) -> list[str]:
    kind, _, name = target.split(":", 5)[-1].partition("/")
    if kind == "thing":
        return [name]
    return list(iot.list_things_in_thing_group(thingGroupName=name).get("things", []))


def core_statuses(greengrass: Any, deployment_id: str, cores: list[str]) -> list[CoreStatus]:
    found = []
    for core in cores:
        effective = greengrass.list_effective_deployments(coreDeviceThingName=core).get(
            "effectiveDeployments", []
        )
        mine = next((e for e in effective if e.get("deploymentId") == deployment_id), None)
        try:
            installed = greengrass.list_installed_components(coreDeviceThingName=core).get(
                "installedComponents", []
            )
        except greengrass.exceptions.ResourceNotFoundException:
            installed = []
        found.append(
            CoreStatus(
                core,
                mine["coreDeviceExecutionStatus"] if mine else "QUEUED",
                (mine.get("reason") or "") if mine else "not started",
                tuple(
                    (c["componentName"], c.get("componentVersion", ""), c.get("lifecycleState", ""))
                    for c in installed
                ),
            )
        )
    return found


def overall(statuses: list[CoreStatus]) -> str:
    """SUCCEEDED when every core did, FAILED when one failed, else IN_PROGRESS."""
    if any(s.status in ("FAILED", "TIMED_OUT", "REJECTED", "CANCELED") for s in statuses):
        return "FAILED"
    if statuses and all(s.status in ("SUCCEEDED", "COMPLETED") for s in statuses):
        return "SUCCEEDED"
    return "IN_PROGRESS"


def load_recipe(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PublishError(f"{path}: cannot read the recipe: {exc}") from exc
    if not isinstance(loaded, dict):
        raise PublishError(f"{path}: not a recipe")
    return loaded
