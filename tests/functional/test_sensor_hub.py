"""The sensor hub under a real core, from its recipe and artifact: readings in, telemetry and alerts out."""

from __future__ import annotations

import json
import os

from tests.edge_components import Listener, deploy, deploy_invalid

HUB = "com.edgeway.SensorHub"


def test_readings_from_a_named_pipe_become_telemetry_alerts_and_named_errors(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, ["edgeway/telemetry", "edgeway/alerts", "edgeway/errors"])
    pipe = tmp_path / "readings.pipe"
    os.mkfifo(pipe)
    deploy(
        core,
        tmp_path,
        {
            HUB: {
                "Sources": [{"name": "bench", "type": "file", "path": str(pipe)}],
                "Handler": {"sensors": {"temp": {"above": 30, "clearAt": 28, "offset": 0.5}}},
            }
        },
    )
    core.wait_state(HUB, "RUNNING")
    lines = [
        {"sensor": "temp", "value": 25, "ts": 1000},
        {"sensor": "temp", "value": 31, "ts": 2000},
        {"sensor": "temp", "value": 29, "ts": 3000},  # within the band: still alerting
        {"sensor": "temp", "value": "warm", "ts": 3500},
        {"sensor": "temp", "value": 27, "ts": 4000},
    ]
    with open(pipe, "w") as writer:
        for line in lines[:4]:
            writer.write(json.dumps(line) + "\n")
        writer.write("{not json\n")
        writer.write(json.dumps(lines[4]) + "\n")
    telemetry = listener.wait("edgeway/telemetry", lambda r: len(r) >= 4, what="4 telemetry records")
    assert [r["value"] for r in telemetry] == [25.5, 31.5, 29.5, 27.5]
    assert telemetry[-1]["window"]["count"] == 4
    alerts = listener.wait("edgeway/alerts", lambda r: len(r) >= 2, what="raised and cleared")
    assert [(a["state"], a["ts"]) for a in alerts] == [("raised", 2000), ("cleared", 4000)]
    assert listener.messages("edgeway/alerts")[0]["thing"] == "gateway-1"
    errors = listener.wait("edgeway/errors", lambda r: len(r) >= 2, what="two refused lines")
    assert "value must be a finite number, got 'warm'" in errors[0]["error"]
    assert f"{pipe}:5: not JSON" in errors[1]["error"]
    assert core.state(HUB) == "RUNNING"


def test_the_simulated_source_samples_on_its_interval_with_anomalies(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, ["edgeway/telemetry", "edgeway/alerts"])
    deploy(
        core,
        tmp_path,
        {
            HUB: {
                "Sources": [
                    {
                        "type": "simulated",
                        "intervalSeconds": 0.05,
                        "seed": 3,
                        "sensors": {"temperature": {"start": 22, "step": 0.1}},
                        "anomaly": {"probability": 0.2, "offset": 20, "durationSeconds": 0.3},
                    },
                    {"type": "linux", "intervalSeconds": 0.5, "diskPath": str(tmp_path)},
                ],
                "Handler": {"sensors": {"temperature": {"above": 30, "clearAt": 27}}},
            }
        },
    )
    alerts = listener.wait("edgeway/alerts", lambda r: {"raised", "cleared"} <= {a["state"] for a in r})
    assert all(a["sensor"] == "temperature" for a in alerts)
    telemetry = listener.wait(
        "edgeway/telemetry", lambda r: {"disk_used", "load1", "memory_used"} <= {t["sensor"] for t in r}
    )
    disk = next(t for t in telemetry if t["sensor"] == "disk_used")
    assert disk["unit"] == "%" and 0 < disk["value"] < 100


def test_a_configuration_that_does_not_validate_reports_errored_with_the_reason(start_core, tmp_path):
    core = start_core()
    log = deploy_invalid(core, tmp_path, HUB, {"Sources": [{"type": "camera"}]})
    assert "Sources[0].type must be linux, simulated or file, got 'camera'" in log
