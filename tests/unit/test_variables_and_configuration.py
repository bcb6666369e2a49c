from __future__ import annotations

import pytest

from greengrass_components.runtime.config_update import (
    ConfigurationUpdate,
    parse_configuration_update,
    resolve_configuration,
)
from greengrass_components.runtime.errors import ConfigurationError, VariableError
from greengrass_components.runtime.variables import (
    ComponentPaths,
    VariableContext,
    VariableScope,
    interpolate,
)

APP = VariableScope(
    "com.App",
    {
        "Port": 8080,
        "Name": "x",
        "List": [1, "a"],
        "Flag": True,
        "Nothing": None,
        "Obj": {"k": "v"},
        "a/b": 1,
        "m~n": 2,
    },
    ComponentPaths("/r/artifacts/app", "/r/unarchived/app", "/r/work/app"),
)
LIB = VariableScope(
    "com.Lib", {"Port": 9}, ComponentPaths("/r/artifacts/lib", "/r/unarchived/lib", "/r/work/lib")
)
CONTEXT = VariableContext(APP, "/r", "thing-1", {"com.Lib": LIB})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{configuration:/Port}", "8080"),
        ("{configuration:/List}", '[1,"a"]'),
        ("{configuration:/List/1}", "a"),
        ("{configuration:/Flag} {configuration:/Nothing}", "true null"),
        ("{configuration:/Obj}", '{"k":"v"}'),
        ("{configuration:/a~1b} {configuration:/m~0n}", "1 2"),
        ("{com.App:configuration:/Name}", "x"),
        (
            "{artifacts:path}/run.py {artifacts:decompressedPath}/z {work:path}",
            "/r/artifacts/app/run.py /r/unarchived/app/z /r/work/app",
        ),
        ("{kernel:rootPath} {iot:thingName}", "/r thing-1"),
        (
            "{com.Lib:configuration:/Port} {com.Lib:artifacts:path} {com.Lib:work:path}",
            "9 /r/artifacts/lib /r/work/lib",
        ),
        (
            "echo ${HOME} {} {print $1} '{\"a\":1}' {foo:bar}",
            "echo ${HOME} {} {print $1} '{\"a\":1}' {foo:bar}",
        ),
    ],
)
def test_interpolation(text, expected):
    assert interpolate(text, CONTEXT, "where") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{configuration:/Missing}",
            "where: recipe variable {configuration:/Missing} does not resolve: "
            "com.App has no configuration at /Missing",
        ),
        (
            "{configuration:Port}",
            "where: recipe variable {configuration:Port}: a JSON pointer must start with '/'",
        ),
        (
            "{com.Other:configuration:/Port}",
            "where: recipe variable {com.Other:configuration:/Port} names com.Other, "
            "which is not a direct dependency of com.App (dependencies: com.Lib)",
        ),
        ("{artifacts:paths}", "where: unknown recipe variable {artifacts:paths}"),
        ("{kernel:home}", "where: unknown recipe variable {kernel:home}"),
    ],
)
def test_unresolvable_variables_name_themselves(text, message):
    with pytest.raises(VariableError) as caught:
        interpolate(text, CONTEXT, "where")
    assert str(caught.value) == message


DEFAULTS = {"Port": 80, "Limits": {"cpu": 1, "mem": 64}, "Tags": ["a"]}


def test_defaults_fill_gaps_without_overwriting():
    assert resolve_configuration(None, DEFAULTS, None) == DEFAULTS
    running = {"Port": 90, "Limits": {"cpu": 2}, "Extra": True}
    assert resolve_configuration(running, DEFAULTS, None) == {
        "Port": 90,
        "Limits": {"cpu": 2, "mem": 64},
        "Tags": ["a"],
        "Extra": True,
    }


def test_merge_merges_objects_and_replaces_lists():
    update = ConfigurationUpdate(merge={"Limits": {"mem": 128}, "Tags": ["b"], "New": {"x": 1}})
    assert resolve_configuration(DEFAULTS, DEFAULTS, update) == {
        "Port": 80,
        "Limits": {"cpu": 1, "mem": 128},
        "Tags": ["b"],
        "New": {"x": 1},
    }


def test_reset_returns_paths_to_defaults_before_merging():
    running = {"Port": 90, "Limits": {"cpu": 2, "mem": 1}, "Tags": ["z"], "Extra": 1}
    update = ConfigurationUpdate(merge={"Port": 91}, reset=("/Limits/mem", "/Extra", "/Nope/deeper"))
    assert resolve_configuration(running, DEFAULTS, update) == {
        "Port": 91,
        "Limits": {"cpu": 2, "mem": 64},
        "Tags": ["z"],
    }
    assert resolve_configuration(running, DEFAULTS, ConfigurationUpdate(reset=("",))) == DEFAULTS


def test_reset_inside_a_list_is_refused():
    with pytest.raises(ConfigurationError, match="cannot reset an element of a list"):
        resolve_configuration({"Tags": ["a", "b"]}, {}, ConfigurationUpdate(reset=("/Tags/0",)))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "u: must be an object with MERGE and/or RESET"),
        ({"merge": {}}, "u: unknown key(s) 'merge'; use MERGE and RESET"),
        ({"MERGE": 3}, "u.MERGE: must be an object"),
        ({"RESET": "/a"}, "u.RESET: must be a list of JSON pointers"),
        ({"RESET": ["a"]}, "u.RESET: 'a' is not a JSON pointer (must start with '/')"),
    ],
)
def test_malformed_updates(value, message):
    with pytest.raises(ConfigurationError) as caught:
        parse_configuration_update(value, "u")
    assert str(caught.value) == message


def test_deployment_records_and_logs_do_not_keep_secret_looking_values():
    from greengrass_components.runtime.deployments import redacted

    config = {
        "brokerUri": "mqtts://x",
        "password": "hunter2",
        "Auth": {"apiToken": "t", "keep": [{"secretKey": 1}]},
    }
    assert redacted(config) == {
        "brokerUri": "mqtts://x",
        "password": "(redacted)",
        "Auth": {"apiToken": "(redacted)", "keep": [{"secretKey": "(redacted)"}]},
    }
