from __future__ import annotations

import pytest

from greengrass_components.ipc.authorization import PUBSUB, SHADOW_MANAGER, Authorizer, resource_matches
from greengrass_components.ipc.errors import UnauthorizedError


@pytest.mark.parametrize(
    ("pattern", "resource", "mqtt", "matches"),
    [
        ("sensors/temp", "sensors/temp", True, True),
        ("sensors/*", "sensors/a/b", False, True),
        ("sensors/+/temp", "sensors/a/temp", True, True),
        ("sensors/+/temp", "sensors/a/b/temp", True, False),
        ("sensors/+/temp", "sensors/+/temp", True, True),
        ("sensors/+/temp", "sensors/a/temp", False, False),
        ("sensors/#", "sensors", True, True),
        ("sensors/#", "sensors/a/b", True, True),
        ("sensors/#", "sensorsX", True, False),
        ("#", "anything/at/all", True, True),
        ("a+b/c", "a+b/c", True, True),
        ("a+b/c", "axb/c", True, False),
        ("literal/${*}", "literal/*", False, True),
        ("literal/${*}", "literal/x", False, False),
        ("$aws/things/${iot:thingName}/shadow", "$aws/things/pi-1/shadow", False, True),
        ("$aws/things/${iot:thingName}/shadow", "$aws/things/pi-2/shadow", False, False),
        ("*", "", False, True),
    ],
)
def test_resource_matching(pattern, resource, mqtt, matches):
    assert resource_matches(pattern, resource, mqtt_style=mqtt, thing_name="pi-1") is matches


CONFIG = {
    "com.Sensor": {
        "accessControl": {
            PUBSUB: {
                "com.Sensor:pubsub:1": {
                    "operations": ["aws.greengrass#PublishToTopic"],
                    "resources": ["sensors/+/temperature"],
                },
                "com.Sensor:pubsub:2": {"operations": ["*"], "resources": ["commands/${iot:thingName}"]},
            }
        }
    },
    "com.Nothing": {},
}


def test_policies_allow_and_deny_with_the_nucleus_text():
    auth = Authorizer(CONFIG.get, "pi-1")
    auth.check("com.Sensor", PUBSUB, "aws.greengrass#PublishToTopic", "sensors/room1/temperature")
    auth.check("com.Sensor", PUBSUB, "aws.greengrass#SubscribeToTopic", "commands/pi-1")
    with pytest.raises(UnauthorizedError) as denied:
        auth.check("com.Sensor", PUBSUB, "aws.greengrass#SubscribeToTopic", "sensors/room1/temperature")
    assert denied.value.message == (
        "Principal com.Sensor is not authorized to perform aws.greengrass.ipc.pubsub:"
        "aws.greengrass#SubscribeToTopic on resource sensors/room1/temperature"
    )
    assert not auth.allowed("com.Nothing", PUBSUB, "aws.greengrass#PublishToTopic", "sensors/a/temperature")
    assert not auth.allowed("com.Unknown", SHADOW_MANAGER, "aws.greengrass#GetThingShadow", "x")


def test_a_token_with_characters_beyond_ascii_is_refused_not_a_crash(tmp_path):
    import logging

    from greengrass_components.runtime.core_paths import CorePaths
    from greengrass_components.runtime.process_registry import ProcessRegistry
    from greengrass_components.runtime.state_board import StateBoard
    from greengrass_components.runtime.supervisor import Supervisor

    supervisor = Supervisor(
        CorePaths(tmp_path),
        StateBoard(),
        lambda plan, token: {},
        logging.getLogger("test"),
        registry=ProcessRegistry(tmp_path / "groups.json"),
    )
    supervisor.tokens["test.Known"] = "s3cret-token"
    assert supervisor.component_for_token("s3cret-token") == "test.Known"
    assert supervisor.component_for_token("jeton-\u00fc\u00df") is None
    assert supervisor.component_for_token("\ud800") is None  # a lone surrogate, as JSON may carry
