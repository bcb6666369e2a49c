"""The import directions DESIGN.md draws, held by walking every module's imports (no code is run).

The table says, for each unit (a top-level package, or a sub-package of the three big ones), which other
units it may import. A new edge fails here with the module that makes it; a cycle between units fails
even where each edge is allowed. Change the table only together with the design.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from edgeway_common.imports import import_graph, modules

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "edgeway",
    "edgeway_common",
    "edge_functions",
    "device_client",
    "greengrass_components",
    "cloudfront_edge",
    "cloud_backend",
)
LEAF = "edgeway_common"

# unit -> the units it may import (besides itself). `edgeway` is the composition root: it may import all.
ALLOWED: dict[str, frozenset[str]] = {
    "edgeway_common": frozenset(),
    "edge_functions": frozenset(),
    "device_client": frozenset(),
    "cloudfront_edge.functions": frozenset(),  # each file ships to Lambda@Edge alone
    "cloudfront_edge.errors": frozenset(),
    "cloudfront_edge.model": frozenset({"cloudfront_edge.errors", LEAF}),
    "cloudfront_edge.deploy": frozenset({"cloudfront_edge.model", "cloudfront_edge.errors", LEAF}),
    "cloudfront_edge.emulator": frozenset(
        {"cloudfront_edge.model", "cloudfront_edge.deploy", "cloudfront_edge.errors", LEAF}
    ),
    "cloud_backend.errors": frozenset(),
    "cloud_backend.chat_contract": frozenset(),
    "cloud_backend.store": frozenset({"cloud_backend.errors", LEAF}),
    "cloud_backend.handlers": frozenset(
        {"cloud_backend.store", "cloud_backend.chat_contract", "cloud_backend.errors"}
    ),
    "cloud_backend.rules": frozenset({"cloud_backend.errors", LEAF}),
    "cloud_backend.streams": frozenset({"cloud_backend.errors", LEAF}),
    "cloud_backend.broker": frozenset({"cloud_backend.chat_contract", "cloud_backend.errors", LEAF}),
    "cloud_backend.deploy": frozenset({"cloud_backend.errors", LEAF}),
    "cloud_backend.local": frozenset(
        {
            "cloud_backend.broker",
            "cloud_backend.handlers",
            "cloud_backend.rules",
            "cloud_backend.store",
            "cloud_backend.streams",
            "cloud_backend.chat_contract",
            "cloud_backend.errors",
            LEAF,
        }
    ),
    "greengrass_components.runtime": frozenset({LEAF}),
    "greengrass_components.cloud": frozenset({LEAF}),
    "greengrass_components.ipc": frozenset({"greengrass_components.cloud", LEAF}),
    "greengrass_components.local_core": frozenset(
        {"greengrass_components.runtime", "greengrass_components.ipc", "greengrass_components.cloud", LEAF}
    ),
    "greengrass_components.components": frozenset({"edge_functions", LEAF}),
    "greengrass_components.publish": frozenset({"greengrass_components.runtime", LEAF}),
}
SPLIT = {"greengrass_components", "cloudfront_edge", "cloud_backend"}  # judged by their sub-packages


def unit(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] in SPLIT and len(parts) > 1 else parts[0]


def unit_edges(root: Path) -> dict[tuple[str, str], list[str]]:
    """(from unit, to unit) -> the module imports that make that edge."""
    edges: dict[tuple[str, str], list[str]] = {}
    for module, targets in import_graph(modules(root, [p for p in PACKAGES if (root / p).is_dir()])).items():
        for target in sorted(targets):
            if unit(module) != unit(target):
                edges.setdefault((unit(module), unit(target)), []).append(f"{module} imports {target}")
    return edges


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one unit (Tarjan's algorithm, recursive: the graph is small)."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def violations(root: Path) -> list[str]:
    edges = unit_edges(root)
    problems = []
    for (source, target), where in sorted(edges.items()):
        if source == "edgeway":
            continue
        if target == "edgeway":
            problems.append(f"{source} -> edgeway: nothing imports the CLI ({where[0]})")
            continue
        allowed = ALLOWED.get(source)
        if allowed is None:
            problems.append(f"{source}: a unit the table does not know; add it to ALLOWED ({where[0]})")
        elif target not in allowed:
            problems.append(f"{source} -> {target} is not an allowed direction ({where[0]})")
    problems += [f"import cycle between {' and '.join(group)}" for group in cycles(edges)]
    return problems


def test_the_project_imports_only_in_the_allowed_directions_and_without_cycles():
    assert violations(ROOT) == []


def test_every_unit_in_the_table_exists():
    present = {unit(name) for name in modules(ROOT, PACKAGES)}
    assert set(ALLOWED) - present == set()


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def test_a_planted_bad_import_and_a_planted_cycle_are_named(tmp_path):
    _plant(
        tmp_path,
        {
            "edgeway_common/__init__.py": "",
            "edgeway_common/topics.py": "from greengrass_components.runtime import logs\n",
            "greengrass_components/__init__.py": "",
            "greengrass_components/runtime/__init__.py": "",
            "greengrass_components/runtime/logs.py": "from greengrass_components.ipc import server\n",
            "greengrass_components/ipc/__init__.py": "",
            "greengrass_components/ipc/server.py": "from ..runtime import logs\n",
        },
    )
    problems = violations(tmp_path)
    assert (
        "edgeway_common -> greengrass_components.runtime is not an allowed direction"
        " (edgeway_common.topics imports greengrass_components.runtime)"
    ) in problems
    assert "import cycle between greengrass_components.ipc and greengrass_components.runtime" in problems
