"""`edgeway fleet simulate` against a real stand-in: devices that go offline and come back lose nothing,
and the one JSON line says so (with the progress on stderr, not mixed into it)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_a_small_fleet_with_outages_loses_nothing_and_reports_one_json_line(cloud):
    done = subprocess.run(
        [sys.executable, "-m", "edgeway", "fleet", "simulate", "--devices", "20", "--rate", "40",
         "--duration", "4", "--offline-share", "0.5", "--offline-seconds", "1.5", "--workers", "2",
         "--target", f"127.0.0.1:{cloud.mqtt_port}", "--data-dir", str(cloud.data_dir)],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    result = json.loads(line)
    assert result["connected"] == 20 and result["offline_devices"] == 10 and result["workers_failed"] == 0
    assert result["sent"] >= 150  # 40/s for 4 s, less what the scheduler's last tick left
    assert result["lost"] == 0 and result["received_unique"] == result["sent"] and result["undrained"] == 0
    assert result["latency_ms"]["count"] > 0 and result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]


def test_a_bad_target_is_refused_naming_the_flag():
    done = subprocess.run(
        [sys.executable, "-m", "edgeway", "fleet", "simulate", "--target", "nowhere"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1 and "--target 'nowhere': use host:port" in " ".join(done.stderr.split())
