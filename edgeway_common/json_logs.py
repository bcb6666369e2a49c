"""Structured logs for every part: one JSON object per line, and the same lines rendered for people.

`log(logger, level, event, key=value...)` puts the fields on the record; `JsonFormatter` writes the
record as `{"ts", "level", "logger", "event", ...fields}`; `render` turns such a line back into
`time LEVEL event key=value ...` for a terminal.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime", "taskName"}
_ENCODER = json.JSONEncoder(default=str)  # one for every line (`json.dumps(default=...)` makes one a call)


class JsonFormatter(logging.Formatter):
    _second: tuple[int, str] = (-1, "")  # one tuple, replaced whole: threads share a formatter

    def _timestamp(self, record: logging.LogRecord) -> str:
        second, text = self._second
        if int(record.created) != second:  # a busy server logs many lines a second: one strftime
            second = int(record.created)
            text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, text)
        return f"{text}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self._timestamp(record),
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
        return _ENCODER.encode(entry)


def log(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": fields})


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
