"""The JSON log lines: their timestamps (the date formatted once a second) and fields."""

from __future__ import annotations

import json
import logging
import time

from edgeway_common.json_logs import JsonFormatter, render


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
    line = JsonFormatter().format(record(1_800_000_000.0, status=200, path=__import__("pathlib").Path("/a")))
    entry = json.loads(line)
    assert (entry["event"], entry["status"], entry["path"], entry["level"]) == (
        "edge-request",
        200,
        "/a",
        "INFO",
    )
    assert render(line) == "2027-01-15T08:00:00.000Z INFO    edge-request status=200 path=/a"
