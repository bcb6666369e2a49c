"""Where the local stack's logs go: JSON lines when stderr is not a terminal (or `--log-format json`),
readable lines when it is (or `--log-format text`). The libraries' own chatter (amqtt's listener
counts, the state machine's callbacks) is kept for debugging, below the level shown."""

from __future__ import annotations

import json
import logging
import sys
import time

from edgeway_common.json_logs import JsonFormatter

QUIET = ("amqtt", "transitions", "websockets", "aiohttp.access")
FORMATS = ("auto", "json", "text")


def _shown(value: object) -> str:
    """A field's value on one line: text as it is, anything nested as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)


class _Readable(logging.Formatter):
    """`12:00:01 INFO    event key=value ...`: the JSON line, rendered for people, one line per record
    whatever the terminal's width (the terminal wraps it, nothing here does)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = json.loads(JsonFormatter().format(record))
        for key in ("ts", "level", "logger"):
            entry.pop(key, None)
        event, message = entry.pop("event", ""), entry.pop("message", None)
        rest = " ".join(f"{k}={_shown(v)}" for k, v in entry.items())
        when = time.strftime("%H:%M:%S", time.localtime(record.created))
        body = " ".join(str(part) for part in (event, message, rest) if part not in (None, ""))
        return f"{when} {record.levelname:<7} {body}"


def console_handler(log_format: str) -> logging.Handler:
    text = log_format == "text" or (log_format == "auto" and sys.stderr.isatty())
    if text:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_Readable())
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    return handler


def attach(handler: logging.Handler, level: int = logging.INFO) -> None:
    """`handler` for everything under the `edgeway` logger; the quiet libraries at WARNING."""
    logger = logging.getLogger("edgeway")
    logger.setLevel(level)
    logger.propagate = False
    if handler not in logger.handlers:
        logger.addHandler(handler)
    # Anything else that logs (asyncio, a library's warning) goes the same way, not as bare text.
    logging.captureWarnings(True)
    root = logging.getLogger()
    if handler not in root.handlers:
        root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in QUIET:
        quiet = logging.getLogger(name)
        quiet.setLevel(logging.WARNING)
        quiet.propagate = False
        if handler not in quiet.handlers:
            quiet.addHandler(handler)
