"""The project's own import graph, read from the source with `ast` (nothing is imported).

Two users: the unit test that holds the packages to the import directions in DESIGN.md, and the
Lambda packaging that ships exactly the project modules its handlers reach. Written by hand because
the standard library's `modulefinder` executes no code either but follows every third-party import
(boto3's whole tree) and reports no edges, only a set of modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Module:
    name: str  # dotted: "cloud_backend.store.sqlite"
    path: Path

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"


def modules(root: Path, packages: Iterable[str]) -> dict[str, Module]:
    """Every module under the given top-level packages of `root`, by dotted name."""
    found: dict[str, Module] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = Module(".".join(parts), path)
    return found


def _imported_names(module: Module) -> set[str]:
    """Absolute dotted names the module imports, including `from package import submodule` forms."""
    tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
    package = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def import_graph(found: dict[str, Module]) -> dict[str, set[str]]:
    """module -> the project modules it imports (only names that are modules of `found`)."""
    graph: dict[str, set[str]] = {}
    for name, module in found.items():
        graph[name] = {target for target in _imported_names(module) if target in found and target != name}
    return graph


def closure(graph: dict[str, set[str]], start: Iterable[str]) -> set[str]:
    """The modules reachable from `start`, with every package above each of them (Python imports those
    first)."""
    seen: set[str] = set()
    pending = list(start)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(graph.get(name, ()))
        parts = name.split(".")
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in graph)
    return seen
