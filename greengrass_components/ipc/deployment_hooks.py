"""Deployments ask components over IPC: validate configuration, agree to (or defer) updates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .services.configuration import ConfigurationValidator
from .services.lifecycle import ComponentUpdateNotifier


class IpcDeploymentHooks:
    def __init__(self, validator: ConfigurationValidator, notifier: ComponentUpdateNotifier) -> None:
        self._validator = validator
        self._notifier = notifier

    async def validate_configuration(
        self, component: str, configuration: Mapping[str, Any], deployment_id: str
    ) -> str | None:
        return await self._validator.validate(component, configuration, deployment_id)

    async def before_components_update(self, deployment_id: str) -> None:
        await self._notifier.before_update(deployment_id)

    def after_components_update(self, deployment_id: str) -> None:
        self._notifier.after_update(deployment_id)
