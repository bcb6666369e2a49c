"""How a component process starts, reports and stops; the same for every component.

1. structured JSON logs on stderr (the core writes them to `<Component>.log`);
2. connect to the core over IPC and read the component's configuration;
3. build the component from it: a configuration that does not validate is logged with the reason,
   reported with UpdateState(ERRORED), and the process exits 1 (the core then shows ERRORED);
4. run until SIGTERM or SIGINT, then close in order.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any, Protocol

from edgeway_common.json_logs import stderr_handler

from .handoff import HandOff
from .ipc_client import CoreLink


class ComponentConfigError(ValueError):
    """The component's configuration does not validate; the message names the key."""


class Running(Protocol):
    def run(self, stop: threading.Event) -> None: ...

    def close(self) -> None: ...


def component_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(f"edgeway.{name}")
    if not logger.handlers:
        logger.addHandler(stderr_handler())  # JSON lines into the core's log file; text on a terminal
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger


def run_component(
    name: str,
    build: Callable[[CoreLink, dict[str, Any], logging.Logger], Running],
    link: CoreLink | None = None,
) -> int:
    log = component_logger(name)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    link = link or CoreLink(handoff=HandOff.from_env())
    try:
        try:
            component = build(link, link.configuration(), log)
        except ComponentConfigError as exc:
            log.error("configuration-invalid", extra={"reason": str(exc)})
            link.report("ERRORED")
            return 1
        log.info("component-started")
        try:
            component.run(stop)
        except Exception as exc:  # e.g. a topic its accessControl does not allow: say so, then exit
            log.error("component-failed", extra={"reason": f"{type(exc).__name__}: {exc}"})
            link.report("ERRORED")
            return 1
        finally:
            component.close()
        log.info("component-stopped")
        return 0
    finally:
        link.close()
