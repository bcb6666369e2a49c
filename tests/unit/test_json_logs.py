"""The JSON log lines: their timestamps (the date formatted once a second) and fields; the same records
as lines for people, and which of the two stderr gets."""

from __future__ import annotations

import io
import json
import logging
import pathlib
import time

import pytest

from edgeway_common.json_logs import JsonFormatter, ReadableFormatter, render, stderr_handler


def record(created: float, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("edgeway.test", logging.INFO, __file__, 1, "edge-request", None, None)
    entry.created, entry.msecs = created, int((created - int(created)) * 1000)
    entry.__dict__.update(extra)
    return entry


def test_each_line_has_its_own_time_to_the_millisecond_across_seconds():
    formatter = JsonFormatter()
    times = [1_800_000_000.125, 1_800_000_000.9375, 1_800_000_001.0, 1_800_000_001.5, 1_799_999_999.25]
    stamps = [json.loads(formatter.format(record(t)))["ts"] for t in times]
    assert stamps == [
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int((t - int(t)) * 1000):03d}Z"
        for t in times
    ]
    assert stamps[:2] == ["2027-01-15T08:00:00.125Z", "2027-01-15T08:00:00.937Z"]


def test_fields_given_as_extra_are_in_the_line_and_values_json_lacks_are_text():
    line = JsonFormatter().format(record(1_800_000_000.0, status=200, path=pathlib.Path("/a")))
    entry = json.loads(line)
    assert (entry["event"], entry["status"], entry["path"], entry["level"]) == (
        "edge-request",
        200,
        "/a",
        "INFO",
    )
    assert render(line) == "2027-01-15T08:00:00.000Z INFO    edge-request status=200 path=/a"


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in a shell."""

    def isatty(self) -> bool:
        return True


def test_a_record_for_people_is_time_level_event_and_its_fields_on_one_line():
    entry = record(
        1_800_000_000.0,
        status=200,
        path=pathlib.Path("/a"),
        headers={"x": [1, 2]},
        ok=True,
        detail="The path holds %00.",
        tag='a"b',
        empty="",
        missing=None,
    )
    line = ReadableFormatter().format(entry)
    when = time.strftime("%H:%M:%S", time.localtime(1_800_000_000.0))
    assert line == (
        f'{when} INFO    edge-request status=200 path=/a headers={{"x":[1,2]}} ok=true '
        'detail="The path holds %00." tag="a\\"b" empty=""'
    )
    assert "\n" not in line


def test_stderr_gets_json_lines_unless_it_is_a_terminal_and_the_format_can_be_chosen():
    for stream, log_format, readable in (
        (io.StringIO(), "auto", False),
        (_Terminal(), "auto", True),
        (_Terminal(), "json", False),
        (io.StringIO(), "text", True),
    ):
        handler = stderr_handler(log_format, stream)
        handler.handle(record(1_800_000_000.0, status=200))
        written = stream.getvalue()
        assert written.endswith("\n") and written.count("\n") == 1
        if readable:
            assert written.rstrip("\n").endswith(" INFO    edge-request status=200"), written
        else:
            assert json.loads(written)["status"] == 200


def test_an_unknown_log_format_is_refused_naming_the_formats():
    with pytest.raises(ValueError, match="log format 'xml': use one of auto, json, text"):
        stderr_handler("xml", io.StringIO())
