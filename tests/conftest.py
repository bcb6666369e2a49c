from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.core_process import CoreProcess


@pytest.fixture
def start_core(tmp_path: Path) -> Iterator:
    started: list[CoreProcess] = []

    def start(*args: str, root: Path | None = None) -> CoreProcess:
        core = CoreProcess(root or tmp_path / "core", *args).start()
        started.append(core)
        return core

    yield start
    for core in started:
        if core.process is not None and core.process.poll() is None:
            core.stop()


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator:
    from tests.cloud_process import CloudProcess

    running = CloudProcess(tmp_path / "cloud").start()
    yield running
    running.stop()
