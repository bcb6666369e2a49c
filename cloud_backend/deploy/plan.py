"""What `edgeway cloud deploy` will do, decided before anything is called. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass

from cloud_backend.deploy.packaging import Artifact

CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")


@dataclass(frozen=True)
class CloudPlan:
    stack_name: str
    region: str
    bucket: str
    artifact_key: str
    artifact_sha256: str
    artifact_bytes: int
    template_body: str
    parameters: tuple[tuple[str, str], ...] = ()
    dependencies: tuple[str, ...] = ()

    @property
    def code_uri(self) -> str:
        return f"s3://{self.bucket}/{self.artifact_key}"

    def describe(self) -> list[str]:
        lines = [
            f"stack {self.stack_name} in {self.region}",
            f"  upload {self.artifact_bytes} bytes (sha256 {self.artifact_sha256[:12]}) to {self.code_uri}"
            " unless it is already there",
            "  with "
            + (
                ", ".join(self.dependencies)
                if self.dependencies
                else "no third-party dependencies (--no-vendor): the handlers cannot run on Lambda"
            ),
            "  create a change set from cloud_backend/template.yaml with every function's CodeUri set to it",
            f"  capabilities {', '.join(CAPABILITIES)}",
        ]
        lines += [f"  parameter {k}={v}" for k, v in self.parameters]
        lines.append("  execute the change set and wait for the stack")
        return lines


def make_plan(
    stack_name: str,
    region: str,
    bucket: str,
    artifact: Artifact,
    template_text: str,
    parameters: dict[str, str] | None = None,
) -> CloudPlan:
    marker = "    CodeUri: build/lambda\n"
    if marker not in template_text:
        raise ValueError(
            "the template's Globals.Function.CodeUri is not `build/lambda`; cannot point it at S3"
        )
    body = template_text.replace(marker, f"    CodeUri: s3://{bucket}/{artifact.key}\n")
    return CloudPlan(
        stack_name,
        region,
        bucket,
        artifact.key,
        artifact.sha256,
        len(artifact.data),
        body,
        tuple(sorted((parameters or {}).items())),
        artifact.dependencies,
    )
