"""`attach`: a command's logs on stderr, once, however many commands run in one process."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from edgeway.console_logs import HANDLER_NAME, QUIET, attach

NAMES = ("edgeway", "", *QUIET)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    """The loggers `attach` changes, put back as they were."""
    saved = {name: (list(logging.getLogger(name).handlers), logging.getLogger(name).level) for name in NAMES}
    propagate = {name: logging.getLogger(name).propagate for name in NAMES}
    yield
    logging.captureWarnings(False)
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate[name]


def ours(name: str) -> list[logging.Handler]:
    return [h for h in logging.getLogger(name).handlers if h.get_name() == HANDLER_NAME]


def test_attaching_again_replaces_the_handler_and_writes_to_the_new_stream(restored_logging):
    first, second = io.StringIO(), io.StringIO()
    attach("json", stream=first)
    attach("json", stream=second)  # a second command in the same process (as CliRunner runs them)
    assert all(len(ours(name)) == 1 for name in NAMES)
    logging.getLogger("edgeway.test").info("edge-request", extra={"status": 200})
    logging.getLogger("amqtt.broker").info("listener counts")  # below the level shown
    logging.getLogger("amqtt.broker").warning("client gone")
    assert first.getvalue() == ""
    lines = [json.loads(line) for line in second.getvalue().splitlines()]
    assert [(line["event"], line["level"]) for line in lines] == [
        ("edge-request", "INFO"),
        ("client gone", "WARNING"),
    ]
