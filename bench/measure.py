"""What several benchmarks measure the same way: CPU seconds of a process from /proc, percentiles, and
the spread (min, median, max) of repeated runs."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Sequence
from pathlib import Path


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds the process has used so far (/proc/PID/stat, fields 14 and 15)."""
    return _used(_stat(Path(f"/proc/{pid}")))


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU seconds so far of each thread of a process, by thread id (the main thread's is the pid)."""
    used: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            used[int(task.name)] = _used(_stat(task))
        except OSError:  # ended since the listing
            continue
    return used


def _stat(process: Path) -> list[str]:
    """The fields of /proc/PID/stat after the command name (which may hold spaces and parentheses)."""
    return (process / "stat").read_text().rsplit(")", 1)[1].split()


def _used(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (NaN for no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float]:
    """Repeated runs of one figure as min, median and max."""
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
    }


def tree_cpu_seconds(root: int) -> dict[int, float]:
    """CPU seconds so far of a process and of every process under it, by pid (a core and the
    components it started). Compare two of these with `cpu_delta`."""
    children: dict[int, list[int]] = {}
    used: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = _stat(entry)
        except OSError:  # gone since the listing
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        used[pid] = _used(fields)
    tree, frontier = {root}, [root]
    while frontier:
        for child in children.get(frontier.pop(), []):
            if child not in tree:
                tree.add(child)
                frontier.append(child)
    return {pid: used[pid] for pid in tree if pid in used}


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two `tree_cpu_seconds` readings by the processes in both (one started
    in between, such as a load generator deployed for the run, is not counted)."""
    return sum(after[pid] - seconds for pid, seconds in before.items() if pid in after)
