"""Client device auth's deviceGroups: selection rules, policies, variables, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from greengrass_components.components.device_groups import DeviceGroupsError, parse

RECIPES = Path(__file__).resolve().parents[2] / "recipes"
RECIPE = yaml.safe_load((RECIPES / "com.edgeway.LocalBroker.yaml").read_text())
DEFAULT = RECIPE["ComponentConfiguration"]["DefaultConfiguration"]["ClientDeviceAuth"]["deviceGroups"]


def test_the_recipe_default_lets_each_sensor_publish_only_its_own_telemetry():
    groups = parse(DEFAULT)
    assert groups.groups_of("sensor-7") == ["Sensors"] and groups.groups_of("camera-1") == []
    assert groups.allows("sensor-7", "mqtt:connect", "mqtt:clientId:sensor-7")
    assert not groups.allows("sensor-7", "mqtt:connect", "mqtt:clientId:sensor-8")
    assert groups.allows("sensor-7", "mqtt:publish", "mqtt:topic:devices/sensor-7/telemetry")
    assert not groups.allows("sensor-7", "mqtt:publish", "mqtt:topic:devices/sensor-8/telemetry")
    assert groups.allows("sensor-7", "mqtt:subscribe", "mqtt:topicfilter:core/#")
    assert not groups.allows("sensor-7", "mqtt:subscribe", "mqtt:topicfilter:core/+")  # exact filters only
    assert not groups.allows("camera-1", "mqtt:connect", "mqtt:clientId:camera-1")


def test_or_clauses_escaped_colons_and_a_catch_all_group():
    groups = parse(
        {
            "formatVersion": "2021-03-05",
            "definitions": {
                "Pair": {"selectionRule": "thingName: a-1 OR thingName: team\\:b*", "policyName": "P"},
                "All": {"selectionRule": "thingName: *", "policyName": "Q"},
            },
            "policies": {
                "P": {"S": {"operations": ["*"], "resources": ["*"]}},
                "Q": {"S": {"operations": ["mqtt:connect"], "resources": ["*"]}},
            },
        }
    )
    assert groups.groups_of("a-1") == ["Pair", "All"] and groups.groups_of("team:b7") == ["Pair", "All"]
    assert groups.allows("team:b7", "mqtt:publish", "mqtt:topic:x") and not groups.allows(
        "z", "mqtt:publish", "mqtt:topic:x"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"formatVersion": "2020-01-01"}, "formatVersion must be '2021-03-05'"),
        (
            {
                "formatVersion": "2021-03-05",
                "definitions": {"G": {"selectionRule": "thingName: a", "policyName": "Nope"}},
            },
            "deviceGroups.definitions.G.policyName 'Nope' names no policy",
        ),
        (
            {
                "formatVersion": "2021-03-05",
                "definitions": {"G": {"selectionRule": "name: a", "policyName": "P"}},
                "policies": {"P": {"S": {"operations": ["*"], "resources": ["*"]}}},
            },
            "deviceGroups.definitions.G.selectionRule: 'name: a' is not 'thingName: <name>'",
        ),
        (
            {
                "formatVersion": "2021-03-05",
                "policies": {"P": {"S": {"operations": ["iot:Publish"], "resources": ["*"]}}},
            },
            "deviceGroups.policies.P.S.operations must list some of",
        ),
        (
            {
                "formatVersion": "2021-03-05",
                "definitions": {"G": {"selectionRule": "thingName: a*b", "policyName": "P"}},
                "policies": {"P": {"S": {"operations": ["*"], "resources": ["*"]}}},
            },
            "'*' may only end a name",
        ),
    ],
)
def test_a_bad_configuration_names_the_key(config, message):
    with pytest.raises(DeviceGroupsError, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse(config)
