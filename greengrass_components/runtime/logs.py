"""Structured logs: one JSON object per line, rotated by size.

The core writes `greengrass.log` (and stderr, when asked); each component gets
`<Component>.log` holding its scripts' stdout and stderr and its state changes.
`edgeway core logs` renders these lines for people.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
import time
from pathlib import Path
from typing import Any

MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 5


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        for key, value in record.__dict__.items():  # `extra={...}` given directly, as cloud handlers log
            if key not in _STANDARD and key != "fields":
                entry[key] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def log(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})


def _rotating_handler(path: Path) -> logging.Handler:
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS)
    handler.setFormatter(JsonFormatter())
    return handler


def setup_core_logging(log_dir: Path, *, to_stderr: bool = True, level: int = logging.INFO) -> logging.Logger:
    logger = logging.getLogger("edgeway")
    logger.setLevel(level)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.addHandler(_rotating_handler(log_dir / "greengrass.log"))
    if to_stderr:
        stream = logging.StreamHandler(sys.stderr)
        stream.setFormatter(JsonFormatter())
        logger.addHandler(stream)
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


def render(line: str) -> str:
    """A log line for people: `time LEVEL event key=value ...`; non-JSON lines pass through."""
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return line.rstrip("\n")
    if not isinstance(entry, dict):
        return line.rstrip("\n")
    head = f"{entry.pop('ts', '')} {entry.pop('level', ''):<7} {entry.pop('event', '')}"
    entry.pop("logger", None)
    message = entry.pop("message", None)
    rest = " ".join(f"{k}={v}" for k, v in entry.items())
    return " ".join(part for part in (head, str(message) if message is not None else "", rest) if part)
