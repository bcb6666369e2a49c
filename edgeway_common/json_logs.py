"""Structured logs for every part: one JSON object per line, and the same lines rendered for people.

`log(logger, level, event, key=value...)` puts the fields on the record; `JsonFormatter` writes the
record as `{"ts", "level", "logger", "event", ...fields}`; `ReadableFormatter` writes the same record as
`12:00:01 INFO    event key=value ...`, and `render` turns a JSON line (a log file's) into that shape.
`stderr_handler` picks between them: JSON lines when stderr is not a terminal, lines for people when it
is (or as `--log-format` says).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import IO, Any

FORMATS = ("auto", "json", "text")  # what `--log-format` takes
_BARE = re.compile(r'[^\s"=]+')  # a field's text shown without quotes

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
        return _ENCODER.encode(self.entry(record))

    def entry(self, record: logging.LogRecord) -> dict[str, Any]:
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
        return entry


class ReadableFormatter(JsonFormatter):
    """`12:00:01 INFO    event key=value ...` (local time): the fields of the JSON line, for people, one
    line per record whatever the terminal's width (the terminal wraps it, nothing here does)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = self.entry(record)
        del entry["ts"]
        when = time.strftime("%H:%M:%S", time.localtime(record.created))
        return _readable(when, entry)


def stderr_handler(log_format: str = "auto", stream: IO[str] | None = None) -> logging.Handler:
    """A handler writing to `stream` (stderr): `text` lines for people, `json` lines, or `auto`: text
    when the stream is a terminal, JSON otherwise (a pipe, a file, a log collector)."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r}: use one of {', '.join(FORMATS)}")
    target = stream if stream is not None else sys.stderr
    text = log_format == "text" or (log_format == "auto" and target.isatty())
    handler = logging.StreamHandler(target)
    handler.setFormatter(ReadableFormatter() if text else JsonFormatter())
    return handler


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
    return _readable(str(entry.pop("ts", "")), entry)


def _readable(when: str, entry: dict[str, Any]) -> str:
    """`when LEVEL event message key=value ...` from a log entry (its ts already taken out); a field
    without a value (null) is left out."""
    level, event, message = entry.pop("level", ""), entry.pop("event", ""), entry.pop("message", None)
    entry.pop("logger", None)
    fields = " ".join(f"{key}={_shown(value)}" for key, value in entry.items() if value is not None)
    body = " ".join(str(part) for part in (event, message, fields) if part not in (None, ""))
    return f"{when} {level:<7} {body}"


def _shown(value: object) -> str:
    """A field's value: text as it is (quoted, as in logfmt, when it holds a space, a quote or an `=`, or
    is empty, so that one field cannot read as several), JSON's own values and anything nested as
    compact JSON, anything else (a path, an id) as its text, as the JSON line would carry it."""
    if isinstance(value, str):
        return value if _BARE.fullmatch(value) else json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, (bool, int, float, dict, list, tuple)):
        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)
