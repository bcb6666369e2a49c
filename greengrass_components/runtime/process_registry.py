"""The process groups the core has started, kept in a file so that none outlives the core.

Every lifecycle script runs in a process group of its own (`process_runner`). Each group is written to
`config/process-groups.json` (replaced atomically) when it starts and removed when it is stopped, so at
any moment the file names every group the core owns. Two things read it:

- the reaper (`reaper.py`), a small process the core starts beside itself: when the core dies, however
  it dies (SIGKILL included), the reaper sees its pipe close and stops every group in the file;
- the next core on the same root, before it starts anything: groups left behind (the reaper was killed
  too, say) are stopped, so a restart never runs a component twice.

A group id cannot be taken by another process group while any member of the old one lives (Linux does
not reuse a pid that is still some process's group id), so signalling a recorded group that still has
members reaches only what the core started.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator, MutableSet
from pathlib import Path

from .process_runner import group_alive, stop_group


class ProcessRegistry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._groups: dict[int, str] = {}

    def groups_of(self, component: str) -> ComponentGroups:
        return ComponentGroups(self, component)

    def add(self, pgid: int, component: str) -> None:
        self._groups[pgid] = component
        self._save()

    def discard(self, pgid: int) -> None:
        if self._groups.pop(pgid, None) is not None:
            self._save()

    def owned_by(self, component: str) -> list[int]:
        return sorted(pgid for pgid, owner in self._groups.items() if owner == component)

    def _save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({str(pgid): owner for pgid, owner in self._groups.items()}))
        os.replace(temporary, self.path)


class ComponentGroups(MutableSet[int]):
    """One component's groups: a set whose every change is written to the registry."""

    def __init__(self, registry: ProcessRegistry, component: str) -> None:
        self._registry, self._component = registry, component

    def __contains__(self, pgid: object) -> bool:
        return pgid in self._registry.owned_by(self._component)

    def __iter__(self) -> Iterator[int]:
        return iter(self._registry.owned_by(self._component))

    def __len__(self) -> int:
        return len(self._registry.owned_by(self._component))

    def add(self, pgid: int) -> None:
        self._registry.add(pgid, self._component)

    def discard(self, pgid: int) -> None:
        self._registry.discard(pgid)


def recorded_groups(path: Path) -> dict[int, str]:
    """What a registry file names; an unreadable file names nothing."""
    try:
        return {int(pgid): str(owner) for pgid, owner in json.loads(path.read_text()).items()}
    except (OSError, ValueError, AttributeError):
        return {}


async def stop_recorded_groups(path: Path, grace: float = 5.0) -> dict[int, str]:
    """Stops every recorded group that still has members as the runner stops a group (`stop_group`:
    SIGTERM, `grace` seconds, SIGKILL), and empties the file; returns the groups that were alive."""
    alive = {pgid: owner for pgid, owner in recorded_groups(path).items() if group_alive(pgid)}
    await asyncio.gather(*(stop_group(pgid, grace) for pgid in alive))
    path.unlink(missing_ok=True)
    return alive
