"""Run lifecycle scripts as processes, each in a process group of its own.

A script runs as `/bin/sh -c SCRIPT` in a new session, so that its pid is its
process-group id and everything it starts (a daemon from a Startup script,
say) can be signalled as one. Lines it writes to stdout and stderr go to the
component's log. Stopping a group is SIGTERM, a grace period, then SIGKILL.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgeway_common.json_logs import log

SHELL = "/bin/sh"


def group_alive(pgid: int) -> bool:
    """Whether any process of the group is alive (zombies do not count)."""
    proc = Path("/proc")
    if proc.is_dir():
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[-1].split()
            if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
                return True
        return False
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def stop_group(pgid: int, grace: float) -> None:
    """SIGTERM the group, wait up to `grace` seconds for it to go, then SIGKILL what is left."""
    if not group_alive(pgid):
        return
    signal_group(pgid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    delay = 0.01
    while loop.time() < deadline:
        if not group_alive(pgid):
            return
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.2)
    signal_group(pgid, signal.SIGKILL)
    for _ in range(100):
        if not group_alive(pgid):
            return
        await asyncio.sleep(0.02)


_LEVELS = {name: logging.getLevelName(name) for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}


def _structured(text: str) -> tuple[int, str, dict[str, Any]] | None:
    """(level, event, fields) of a JSON log line with a known `level` and an `event`, else None."""
    if not text.startswith("{"):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    level, event = _LEVELS.get(str(document.get("level", "")).upper()), document.get("event")
    if level is None or not isinstance(event, str):
        return None
    fields = {k: v for k, v in document.items() if k not in ("ts", "level", "event", "logger")}
    return level, event, fields


class ScriptProcess:
    """One running lifecycle script."""

    def __init__(self, process: asyncio.subprocess.Process, step: str, logger: logging.Logger) -> None:
        self.process = process
        self.step = step
        self.pgid = process.pid
        self._logger = logger
        self._readers = [
            asyncio.create_task(self._pump(process.stdout, "stdout")),
            asyncio.create_task(self._pump(process.stderr, "stderr")),
        ]

    @classmethod
    async def start(
        cls, script: str, step: str, env: Mapping[str, str], cwd: Path, logger: logging.Logger
    ) -> ScriptProcess:
        cwd.mkdir(parents=True, exist_ok=True)
        process = await asyncio.create_subprocess_exec(
            SHELL,
            "-c",
            script,
            cwd=str(cwd),
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        log(logger, logging.INFO, "script-start", script=step, pid=process.pid)
        return cls(process, step, logger)

    async def _pump(self, stream: asyncio.StreamReader | None, name: str) -> None:
        if stream is None:
            return
        level = logging.INFO if name == "stdout" else logging.WARNING
        while True:
            try:
                line = await stream.readline()
            except ValueError:  # a line longer than the stream limit: take what is there
                line = await stream.read(65536)
            if not line:
                return
            text = line.decode(errors="replace").rstrip("\n")
            structured = _structured(text)
            if structured is not None:  # a JSON log line of the component's own: its level and fields
                own_level, event, fields = structured
                log(self._logger, own_level, event, script=self.step, **fields)
            else:
                log(self._logger, level, name, script=self.step, message=text)

    async def wait(self, timeout: float | None = None) -> int | None:
        """The exit code, or None if the script is still running after `timeout` seconds."""
        try:
            code = await asyncio.wait_for(asyncio.shield(self.process.wait()), timeout)
        except TimeoutError:
            return None
        await asyncio.gather(*self._readers, return_exceptions=True)
        log(self._logger, logging.INFO, "script-exit", script=self.step, exit_code=code)
        return code

    @property
    def exited(self) -> bool:
        return self.process.returncode is not None

    async def stop(self, grace: float) -> None:
        await stop_group(self.pgid, grace)
        with contextlib.suppress(ProcessLookupError):
            if self.process.returncode is None:
                self.process.kill()
        await self.process.wait()
        await asyncio.gather(*self._readers, return_exceptions=True)
