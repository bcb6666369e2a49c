"""Where the local stack's logs go: JSON lines when stderr is not a terminal (or `--log-format json`),
readable lines when it is (or `--log-format text`). The libraries' own chatter (amqtt's listener
counts, the state machine's callbacks) is kept for debugging, below the level shown."""

from __future__ import annotations

import json
import logging
import sys

from rich.console import Console
from rich.logging import RichHandler

from edgeway_common.json_logs import JsonFormatter

QUIET = ("amqtt", "transitions", "websockets", "aiohttp.access")
FORMATS = ("auto", "json", "text")


class _Readable(logging.Formatter):
    """`event key=value ...`: the JSON line, rendered for people, without its time and level (rich
    shows those)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = json.loads(JsonFormatter().format(record))
        for key in ("ts", "level", "logger"):
            entry.pop(key, None)
        event, message = entry.pop("event", ""), entry.pop("message", None)
        rest = " ".join(f"{k}={v}" for k, v in entry.items())
        return " ".join(str(part) for part in (event, message, rest) if part not in (None, ""))


def console_handler(log_format: str) -> logging.Handler:
    text = log_format == "text" or (log_format == "auto" and sys.stderr.isatty())
    if text:
        handler: logging.Handler = RichHandler(
            console=Console(stderr=True), show_path=False, markup=False, rich_tracebacks=False
        )
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
