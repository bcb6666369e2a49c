"""The sensor handler on reading sequences: calibration, units, hysteresis, duration, rate, windows."""

from __future__ import annotations

import json
import math
import statistics

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_functions.sensors import ConfigError, SensorConfig, SensorProcessor
from edge_functions.sensors import processor as sensor_module


def run(config: dict, readings: list[tuple[float, float]], sensor: str = "temperature", unit: str = "degC"):
    processor = SensorProcessor(SensorConfig.from_dict(config), clock_ms=lambda: 0)
    outputs = [
        processor.process({"sensor": sensor, "value": value, "unit": unit, "ts": int(t * 1000)})
        for t, value in readings
    ]
    return outputs, [a for out in outputs for a in out["alerts"]]


def test_a_value_bouncing_around_the_limit_alerts_once_and_clears_once_below_the_band():
    config = {"sensors": {"temperature": {"above": 30, "clearAt": 28}}}
    values = [29, 31, 29.5, 30.5, 29.9, 31.2, 28.5, 30.5, 27.9, 29, 31]
    _, alerts = run(config, list(enumerate(values)))
    assert [(a["state"], a["value"]) for a in alerts] == [
        ("raised", 31.0),
        ("cleared", 27.9),
        ("raised", 31.0),
    ]


def test_an_excursion_shorter_than_the_minimum_duration_does_not_alert():
    config = {"sensors": {"temperature": {"above": 30, "clearAt": 28, "minDurationSeconds": 5}}}
    short = [(0, 25), (1, 35), (2, 36), (3, 37), (4, 25), (5, 25)]
    assert run(config, short)[1] == []
    held = [(0, 25), (1, 35), (3, 36), (5, 35.5), (6, 36), (7, 20)]
    _, alerts = run(config, held)
    assert [(a["state"], a["ts"]) for a in alerts] == [("raised", 6000), ("cleared", 7000)]
    assert "for 5 s" in alerts[0]["text"]


def test_below_rules_mirror_above_rules():
    config = {"sensors": {"battery": {"below": 20, "clearAt": 25}}}
    _, alerts = run(config, [(0, 30), (1, 19), (2, 21), (3, 18), (4, 26)], sensor="battery", unit="%")
    assert [a["state"] for a in alerts] == ["raised", "cleared"]


def test_rate_of_change_raises_on_a_jump_and_clears_when_steady():
    config = {"sensors": {"pressure": {"maxRatePerSecond": 2}}}
    _, alerts = run(config, [(0, 1000), (1, 1001), (2, 1010), (3, 1011), (4, 1011)], "pressure", "hPa")
    assert [(a["state"], a["ts"]) for a in alerts] == [("raised", 2000), ("cleared", 3000)]


def test_calibration_applies_in_the_raw_unit_before_normalising():
    config = {"sensors": {"cpu": {"gain": 1.0, "offset": -2000}}}
    outputs, _ = run(config, [(0, 52000)], sensor="cpu", unit="mdegC")
    record = outputs[0]["telemetry"][0]
    assert (record["value"], record["unit"]) == (50.0, "degC")
    outputs, _ = run({}, [(0, 212)], sensor="t", unit="degF")
    assert outputs[0]["telemetry"][0]["value"] == pytest.approx(100.0)


def test_patterns_configure_families_of_sensors_and_exact_names_win():
    config = SensorConfig.from_dict(
        {"sensors": {"thermal_zone*": {"gain": 2.0}, "thermal_zone0": {"gain": 3.0}}}
    )
    assert config.for_sensor("thermal_zone7").gain == 2.0
    assert config.for_sensor("thermal_zone0").gain == 3.0
    assert config.for_sensor("fan").gain == 1.0


def test_bad_readings_are_error_records_naming_them_and_the_batch_goes_on():
    processor = SensorProcessor(SensorConfig(), clock_ms=lambda: 5)
    out = processor.process(
        {
            "readings": [
                {"sensor": "a", "value": "hot"},
                {"sensor": "b", "value": 1.5},
                {"value": 2},
                {"sensor": "c", "value": float("nan")},
                "text",
            ]
        }
    )
    assert [t["sensor"] for t in out["telemetry"]] == ["b"]
    assert out["telemetry"][0]["ts"] == 5
    assert [e["where"] for e in out["errors"]] == [
        "readings[0] (a)",
        "readings[2]",
        "readings[3] (c)",
        "readings[4]",
    ]
    assert "'hot'" in out["errors"][0]["error"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"windowSeconds": 0}, "configuration.windowSeconds must be positive"),
        ({"sensors": {"t": {"above": "x"}}}, "configuration.sensors.t.above must be a number"),
        ({"sensors": {"t": {"above": 30, "clearAt": 31}}}, "clearAt 31 must be on the safe side"),
        ({"sensors": {"t": {"abve": 30}}}, "unknown key 'abve'"),
        ({"sensors": []}, "configuration.sensors must be an object"),
    ],
)
def test_a_configuration_that_does_not_validate_names_the_key(raw, message):
    with pytest.raises(ConfigError, match=message):
        SensorConfig.from_dict(raw)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=60), st.integers(1, 20))
def test_the_rolling_window_agrees_with_recomputing_the_last_seconds(values, seconds):
    processor = SensorProcessor(SensorConfig(window_seconds=seconds), clock_ms=lambda: 0)
    for i, value in enumerate(values):
        window = processor.process({"sensor": "s", "value": value, "ts": i * 1000})["telemetry"][0]["window"]
        expected = values[max(0, i - seconds + 1) : i + 1]
        assert window["count"] == len(expected)
        assert (window["min"], window["max"]) == (min(expected), max(expected))
        assert window["mean"] == pytest.approx(statistics.fmean(expected), abs=1e-6)
        assert window["stddev"] == pytest.approx(statistics.pstdev(expected), abs=1e-3)


def test_the_lambda_entry_reads_its_configuration_from_the_environment(monkeypatch):
    monkeypatch.setenv("SENSOR_CONFIG", json.dumps({"sensors": {"t": {"offset": 1}}}))
    monkeypatch.setattr(sensor_module, "_processor", None)
    out = sensor_module.handler({"sensor": "t", "value": 1, "ts": 1}, None)
    assert out["telemetry"][0]["value"] == 2.0
    assert not math.isnan(out["telemetry"][0]["window"]["stddev"])
