"""Running configuration per component: set by deployments, merged by IPC, persisted, observed.

Listeners hear `(component, key_path)` for every leaf that changed, which is
what SubscribeToConfigurationUpdate delivers.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .config_update import merge_over
from .state_store import StateStore

Listener = Callable[[str, tuple[str, ...]], None]


def changed_paths(old: Any, new: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        paths: list[tuple[str, ...]] = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in old or key not in new:
                paths.append((*prefix, str(key)))
            else:
                paths.extend(changed_paths(old[key], new[key], (*prefix, str(key))))
        return paths
    return [] if old == new else [prefix]


class ConfigStore:
    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._configs: dict[str, dict[str, Any]] = {}
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def get(self, component: str) -> dict[str, Any] | None:
        return self._configs.get(component)

    def set(self, component: str, configuration: Mapping[str, Any]) -> None:
        """A deployment's configuration; persisted with the deployed set by the deployment itself."""
        old = self._configs.get(component, {})
        self._configs[component] = copy.deepcopy(dict(configuration))
        self._notify(component, changed_paths(old, self._configs[component]))

    def forget(self, component: str) -> None:
        self._configs.pop(component, None)

    def merge(self, component: str, key_path: Sequence[str], value: Mapping[str, Any]) -> None:
        """UpdateConfiguration: merge `value` at `key_path` of the component's own configuration."""
        config = copy.deepcopy(self._configs.get(component, {}))
        node = config
        for key in key_path:
            child = node.get(key)
            if not isinstance(child, dict):
                child = {}
                node[key] = child
            node = child
        merge_over(node, value)
        old = self._configs.get(component, {})
        self._configs[component] = config
        self._store.update_configuration(component, config)
        self._notify(component, changed_paths(old, config))

    def _notify(self, component: str, paths: list[tuple[str, ...]]) -> None:
        for path in paths:
            for listener in list(self._listeners):
                listener(component, path)
