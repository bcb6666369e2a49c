"""Structured logs: one JSON object per line, rotated by size.

The core writes `greengrass.log` (and stderr, when asked: lines for people on a terminal, JSON lines
otherwise); each component gets
`<Component>.log` holding its scripts' stdout and stderr and its state changes.
`edgeway core logs` renders these lines for people.
"""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from edgeway_common.json_logs import JsonFormatter, stderr_handler

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5


def _rotating_handler(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS)
    handler.setFormatter(JsonFormatter())
    return handler


def setup_core_logging(
    log_dir: Path, *, to_stderr: bool = True, level: int = logging.INFO, log_format: str = "auto"
) -> logging.Logger:
    logger = logging.getLogger("edgeway")
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.addHandler(_rotating_handler(log_dir / "greengrass.log"))
    if to_stderr:
        logger.addHandler(stderr_handler(log_format))
    return logger


def component_logger(log_dir: Path, name: str) -> logging.Logger:
    """A logger of its own per component, writing only to `<name>.log`."""
    logger = logging.getLogger(f"edgeway.components.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(_rotating_handler(log_dir / f"{name}.log"))
    return logger


def close_component_logger(name: str) -> None:
    logger = logging.getLogger(f"edgeway.components.{name}")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
