"""The reaper: stops the core's process groups when the core is gone.

    python -m greengrass_components.runtime.reaper <process-groups.json>

The core starts it with a pipe on its stdin and never writes to it. When the core exits, in whatever
way (SIGKILL included), the pipe closes; the reaper then stops every group the registry file still
names (`process_registry.stop_recorded_groups`) and exits. After a clean stop the file is empty and the
reaper exits at once. It runs in a session of its own, so a Ctrl-C meant for the core does not end it
first.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from .process_registry import stop_recorded_groups


def main(argv: list[str]) -> int:
    registry = Path(argv[1])
    while sys.stdin.buffer.read(4096):
        pass  # nothing is ever written; read() returns b"" once the core has closed its end
    asyncio.run(stop_recorded_groups(registry))
    return 0


def start_reaper(registry: Path) -> subprocess.Popen[bytes]:
    """Starts the reaper for this registry; the returned process's stdin is the core's end of the pipe."""
    package_root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(package_root), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "greengrass_components.runtime.reaper", str(registry)],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )


def stop_reaper(reaper: subprocess.Popen[bytes]) -> None:
    """A clean stop: every group is already stopped, so closing the pipe ends the reaper at once."""
    if reaper.stdin is not None:
        reaper.stdin.close()
    try:
        reaper.wait(10)
    except subprocess.TimeoutExpired:
        reaper.kill()
        reaper.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
