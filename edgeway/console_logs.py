"""Where a command's logs go: stderr, as readable lines on a terminal and JSON lines otherwise
(`--log-format` to choose; `edgeway_common.json_logs.stderr_handler`). The libraries' own chatter
(amqtt's listener counts, the state machine's callbacks) is kept for debugging, below the level shown."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

from edgeway_common.json_logs import FORMATS, stderr_handler

QUIET = ("amqtt", "transitions", "websockets", "aiohttp.access")
F = TypeVar("F", bound=Callable[..., Any])


def log_format_option(function: F) -> F:
    """`--log-format auto|json|text` (env EDGEWAY_LOG_FORMAT), for every command that runs a service."""
    option = click.option(
        "--log-format",
        type=click.Choice(FORMATS),
        default="auto",
        show_default=True,
        envvar="EDGEWAY_LOG_FORMAT",
        help="text: lines for people; json: JSON lines; auto: text on a terminal [env EDGEWAY_LOG_FORMAT].",
    )
    return option(function)


# The name of the handler `attach` adds: attaching again (a second command in one process, as tests run
# them) replaces it, instead of writing every line twice, or to a stream since closed.
HANDLER_NAME = "edgeway.console"


def attach(
    log_format: str = "auto", level: int = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """stderr (or `stream`) in `log_format` for everything under the `edgeway` logger, anything else
    that logs (a warning of asyncio's, a library's) at WARNING the same way, and the quiet libraries at
    WARNING."""
    handler = stderr_handler(log_format, stream)
    handler.set_name(HANDLER_NAME)
    logging.captureWarnings(True)
    levels = {"edgeway": level, "": logging.WARNING, **dict.fromkeys(QUIET, logging.WARNING)}
    for name, threshold in levels.items():
        logger = logging.getLogger(name)
        for old in [h for h in logger.handlers if h.get_name() == HANDLER_NAME]:
            logger.removeHandler(old)
        logger.addHandler(handler)
        logger.setLevel(threshold)
        if name:
            logger.propagate = False
    return handler
