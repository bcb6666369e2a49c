"""The Greengrass control plane the stand-in serves (in `greengrass_api`): component versions with
their recipes, deployments to things and thing groups (each carried out as an IoT job, as AWS does),
and what cores report of themselves (the fleet status feed). Kept in SQLite.

Rules as AWS states them: a component version is immutable (creating it again is a conflict); a
recipe that does not parse is refused; one whose artifacts cannot be found is FAILED, naming each;
a new deployment to a target makes the previous one for that target INACTIVE (its revision is the
next number); a deployment is COMPLETED when its job is, CANCELED when it is canceled.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

from cloud_backend.errors import BadInputError
from edgeway_common.sqlite_files import open_wal

REGION, ACCOUNT = "us-east-1", "000000000000"
SCHEMA = """
CREATE TABLE IF NOT EXISTS components (
    name TEXT NOT NULL, version TEXT NOT NULL, recipe TEXT NOT NULL, created REAL NOT NULL,
    state TEXT NOT NULL, message TEXT NOT NULL, errors TEXT NOT NULL, publisher TEXT NOT NULL,
    description TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS deployments (
    id TEXT PRIMARY KEY, target TEXT NOT NULL, revision INTEGER NOT NULL, name TEXT NOT NULL,
    components TEXT NOT NULL, policies TEXT NOT NULL, job_config TEXT NOT NULL, job_id TEXT NOT NULL,
    status TEXT NOT NULL, latest INTEGER NOT NULL, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cores (
    thing TEXT PRIMARY KEY, status TEXT NOT NULL, updated REAL NOT NULL, platform TEXT NOT NULL,
    architecture TEXT NOT NULL, version TEXT NOT NULL, components TEXT NOT NULL
);
"""


class GreengrassError(BadInputError):
    """A Greengrass request that cannot be carried out; `code` is the API's error code for it."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


class RecipeCheck(Protocol):
    """What the composition root lends the service: problems with a recipe (the core's own rules)."""

    def __call__(self, recipe: dict[str, Any]) -> list[str]: ...


class JobLauncher(Protocol):
    def create(
        self, job_id: str, targets: list[str], document: dict[str, Any], config: dict[str, Any]
    ) -> None: ...

    def status(self, job_id: str) -> str: ...

    def cancel(self, job_id: str) -> None: ...


def component_arn(name: str, version: str | None = None) -> str:
    arn = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:{name}"
    return arn if version is None else f"{arn}:versions:{version}"


def parse_component_arn(arn: str) -> tuple[str, str | None]:
    prefix = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:"
    if not arn.startswith(prefix):
        raise GreengrassError("ValidationException", f"{arn!r} is not a component ARN of this account")
    name, _, version = arn[len(prefix) :].partition(":versions:")
    return name, version or None


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    recipe: str
    created: float
    state: str
    message: str
    errors: dict[str, str]
    publisher: str
    description: str


@dataclass(frozen=True)
class Deployment:
    id: str
    target: str
    revision: int
    name: str
    components: dict[str, Any]
    policies: dict[str, Any]
    job_config: dict[str, Any]
    job_id: str
    status: str
    latest: bool
    created: float


class GreengrassService:
    def __init__(
        self,
        path: Path,
        jobs: JobLauncher,
        check_recipe: RecipeCheck | None = None,
        artifact_exists: Callable[[str], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = open_wal(path, SCHEMA, synchronous="NORMAL")
        self._lock = threading.Lock()
        self._jobs, self._check, self._exists, self._clock = jobs, check_recipe, artifact_exists, clock

    def close(self) -> None:
        self._db.close()

    # -- components ---------------------------------------------------------------------------

    def create_component(self, recipe_text: bytes) -> Component:
        try:
            recipe = yaml.safe_load(recipe_text.decode("utf-8"))
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            raise GreengrassError(
                "ValidationException", f"the recipe is neither JSON nor YAML: {exc}"
            ) from exc
        if (
            not isinstance(recipe, dict)
            or not recipe.get("ComponentName")
            or not recipe.get("ComponentVersion")
        ):
            raise GreengrassError(
                "ValidationException", "the recipe needs ComponentName and ComponentVersion"
            )
        name, version = str(recipe["ComponentName"]), str(recipe["ComponentVersion"])
        problems = self._check(recipe) if self._check is not None else []
        if problems:
            raise GreengrassError("ValidationException", f"{name} {version}: " + "; ".join(problems))
        errors = {
            uri: "the artifact could not be found"
            for uri in _artifact_uris(recipe)
            if uri.startswith("s3://") and self._exists is not None and not self._exists(uri)
        }
        state = "FAILED" if errors else "DEPLOYABLE"
        message = "NOT_FOUND: artifacts missing" if errors else "Component version is deployable"
        with self._lock:
            if self._db.execute(
                "SELECT 1 FROM components WHERE name = ? AND version = ?", (name, version)
            ).fetchone():
                raise GreengrassError(
                    "ConflictException", f"component {name} version {version} already exists", 409
                )
            self._db.execute(
                "INSERT INTO components VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    version,
                    json.dumps(recipe),
                    self._clock(),
                    state,
                    message,
                    json.dumps(errors),
                    str(recipe.get("ComponentPublisher", "")),
                    str(recipe.get("ComponentDescription", "")),
                ),
            )
        return self.component(name, version)

    def component(self, name: str, version: str) -> Component:
        row = self._db.execute(
            "SELECT * FROM components WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
        if row is None:
            raise GreengrassError("ResourceNotFoundException", f"no component {name} version {version}", 404)
        return Component(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]), row[7], row[8])

    def versions(self, name: str) -> list[Component]:
        rows = self._db.execute(
            "SELECT name, version FROM components WHERE name = ? ORDER BY created DESC", (name,)
        )
        return [self.component(n, v) for n, v in rows.fetchall()]

    def names(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT DISTINCT name FROM components ORDER BY name")]

    # -- deployments --------------------------------------------------------------------------

    def create_deployment(self, request: dict[str, Any]) -> Deployment:
        target = request.get("targetArn")
        if not isinstance(target, str) or (":thing/" not in target and ":thinggroup/" not in target):
            raise GreengrassError("ValidationException", "targetArn must be a thing or thing group ARN")
        components = request.get("components") or {}
        if not isinstance(components, dict):
            raise GreengrassError("ValidationException", "components must map names to specifications")
        for name, spec in components.items():
            version = spec.get("componentVersion") if isinstance(spec, dict) else None
            if not isinstance(version, str):
                raise GreengrassError(
                    "ValidationException", f"components.{name}.componentVersion is required"
                )
            component = self.component(name, version)
            if component.state != "DEPLOYABLE":
                raise GreengrassError(
                    "ValidationException", f"{name} {version} is {component.state}: {component.message}"
                )
            merge = (spec.get("configurationUpdate") or {}).get("merge")
            if merge is not None:
                try:
                    json.loads(merge)
                except (TypeError, ValueError) as exc:
                    raise GreengrassError(
                        "ValidationException",
                        f"components.{name}.configurationUpdate.merge is not JSON: {exc}",
                    ) from exc
        deployment_id, job_id = str(uuid.uuid4()), str(uuid.uuid4())
        policies = request.get("deploymentPolicies") or {}
        job_config = request.get("iotJobConfiguration") or {}
        now = self._clock()
        with self._lock:
            previous = self._db.execute(
                "SELECT id, job_id, revision FROM deployments WHERE target = ? AND latest = 1", (target,)
            ).fetchone()
            revision = (previous[2] if previous else 0) + 1
            self._db.execute("UPDATE deployments SET latest = 0 WHERE target = ?", (target,))
            if previous is not None:
                self._db.execute(
                    "UPDATE deployments SET status = 'INACTIVE' WHERE id = ? AND status = 'ACTIVE'",
                    (previous[0],),
                )
            self._db.execute(
                "INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'ACTIVE', 1, ?)",
                (
                    deployment_id,
                    target,
                    revision,
                    str(request.get("deploymentName") or f"to {target}"),
                    json.dumps(components),
                    json.dumps(policies),
                    json.dumps(job_config),
                    job_id,
                    now,
                ),
            )
        if previous is not None:
            self._jobs.cancel(previous[1])
        document = self.job_document(self.deployment(deployment_id))
        self._jobs.create(job_id, [target], document, job_config)
        return self.deployment(deployment_id)

    def job_document(self, deployment: Deployment) -> dict[str, Any]:
        """What the core reads from its job: the whole configuration for the target, as the nucleus's
        deployment document carries it (components with their versions and configuration updates)."""
        return {
            "deploymentId": deployment.id,
            "configurationArn": f"arn:aws:greengrass:{REGION}:{ACCOUNT}:configuration:"
            f"{deployment.target.split(':', 5)[-1]}:{deployment.revision}",
            "creationTimestamp": int(deployment.created * 1000),
            "components": {
                name: {
                    "version": spec["componentVersion"],
                    "configurationUpdate": {
                        "merge": json.loads(spec.get("configurationUpdate", {}).get("merge") or "{}"),
                        "reset": list(spec.get("configurationUpdate", {}).get("reset") or []),
                    },
                }
                for name, spec in deployment.components.items()
            },
            "failureHandlingPolicy": deployment.policies.get("failureHandlingPolicy", "ROLLBACK"),
            "componentUpdatePolicy": deployment.policies.get(
                "componentUpdatePolicy", {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"}
            ),
            "configurationValidationPolicy": deployment.policies.get(
                "configurationValidationPolicy", {"timeoutInSeconds": 30}
            ),
        }

    def deployment(self, deployment_id: str) -> Deployment:
        row = self._db.execute("SELECT * FROM deployments WHERE id = ?", (deployment_id,)).fetchone()
        if row is None:
            raise GreengrassError("ResourceNotFoundException", f"no deployment {deployment_id}", 404)
        found = Deployment(
            row[0],
            row[1],
            row[2],
            row[3],
            json.loads(row[4]),
            json.loads(row[5]),
            json.loads(row[6]),
            row[7],
            row[8],
            bool(row[9]),
            row[10],
        )
        if found.status == "ACTIVE":
            try:
                job = self._jobs.status(found.job_id)
            except BadInputError:  # its job is being created
                return found
            status = {"COMPLETED": "COMPLETED", "CANCELED": "CANCELED"}.get(job)
            if status is not None:
                with self._lock:
                    self._db.execute("UPDATE deployments SET status = ? WHERE id = ?", (status, found.id))
                return self.deployment(deployment_id)
        return found

    def deployments(self, target: str | None, latest_only: bool) -> list[Deployment]:
        query, args = "SELECT id FROM deployments", []
        clauses = []
        if target:
            clauses.append("target = ?")
            args.append(target)
        if latest_only:
            clauses.append("latest = 1")
        if clauses:
            query += " WHERE " + " AND ".join(clauses)
        return [
            self.deployment(r[0]) for r in self._db.execute(query + " ORDER BY created DESC", args).fetchall()
        ]

    def cancel(self, deployment_id: str) -> None:
        deployment = self.deployment(deployment_id)
        if deployment.status != "ACTIVE":
            raise GreengrassError(
                "ConflictException", f"deployment {deployment_id} is {deployment.status}", 409
            )
        self._jobs.cancel(deployment.job_id)
        with self._lock:
            self._db.execute("UPDATE deployments SET status = 'CANCELED' WHERE id = ?", (deployment_id,))

    # -- cores ----------------------------------------------------------------------------------

    def report(self, thing: str, status: dict[str, Any]) -> None:
        """A fleet status message from a core (`$aws/things/<thing>/greengrassv2/health/json`)."""
        components = status.get("components")
        if not isinstance(components, list):
            raise GreengrassError("ValidationException", "a fleet status message needs components")
        with self._lock:
            self._db.execute(
                "INSERT INTO cores VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (thing) DO UPDATE SET"
                " status = excluded.status, updated = excluded.updated, platform = excluded.platform,"
                " architecture = excluded.architecture, version = excluded.version,"
                " components = excluded.components",
                (
                    thing,
                    "UNHEALTHY" if status.get("overallDeviceStatus") == "UNHEALTHY" else "HEALTHY",
                    self._clock(),
                    str(status.get("platform", "linux")),
                    str(status.get("architecture", "amd64")),
                    str(status.get("ggcVersion", "")),
                    json.dumps(components),
                ),
            )

    def core(self, thing: str) -> dict[str, Any]:
        row = self._db.execute("SELECT * FROM cores WHERE thing = ?", (thing,)).fetchone()
        if row is None:
            raise GreengrassError("ResourceNotFoundException", f"no core device {thing}", 404)
        return {
            "thing": row[0],
            "status": row[1],
            "updated": row[2],
            "platform": row[3],
            "architecture": row[4],
            "version": row[5],
            "components": json.loads(row[6]),
        }

    def cores(self) -> list[dict[str, Any]]:
        return [
            self.core(r[0]) for r in self._db.execute("SELECT thing FROM cores ORDER BY thing").fetchall()
        ]


def _artifact_uris(recipe: dict[str, Any]) -> list[str]:
    return [
        str(artifact.get("URI", ""))
        for manifest in recipe.get("Manifests") or []
        if isinstance(manifest, dict)
        for artifact in manifest.get("Artifacts") or []
        if isinstance(artifact, dict)
    ]
