"""IoT policy evaluation: the template's own policies, wildcards, variables, and Deny winning."""

from __future__ import annotations

import json

import pytest

from cloud_backend.broker.policy import (
    CONNECT,
    PUBLISH,
    RECEIVE,
    SUBSCRIBE,
    ClientAuthority,
    PolicyError,
    parse_policies,
)
from cloud_backend.local.policies import role_policies
from edgeway_common import cfn
from tests.backend_support import TEMPLATE

TEMPLATE_DATA = cfn.load_template(TEMPLATE)
POLICIES = role_policies(TEMPLATE_DATA, cfn.LocalResolver(TEMPLATE_DATA, source=str(TEMPLATE)))


def authority(role: str, client_id: str = "user-1") -> ClientAuthority:
    document = POLICIES[role].replace("${iot:ClientId}", client_id)
    return ClientAuthority(parse_policies([document], "us-east-1", "000000000000"), client_id)


USER_MATRIX = [
    (CONNECT, "user-1", True),
    (CONNECT, "user-2", False),
    (PUBLISH, "chat/out", True),
    (PUBLISH, "chat/stream", False),
    (PUBLISH, "chat/pub/lobby", False),
    (PUBLISH, "chat/in/user-1", False),
    (PUBLISH, "dash/telemetry/gw-1", False),
    (PUBLISH, "$aws/things/user-1/shadow/update", False),
    (SUBSCRIBE, "chat/in/user-1", True),
    (SUBSCRIBE, "chat/in/user-2", False),
    (SUBSCRIBE, "chat/in/+", False),
    (SUBSCRIBE, "chat/in/#", False),
    (SUBSCRIBE, "chat/pub/lobby", True),
    (SUBSCRIBE, "chat/pub/#", True),
    (SUBSCRIBE, "dash/#", True),
    (SUBSCRIBE, "#", False),
    (SUBSCRIBE, "chat/out", False),
    (RECEIVE, "chat/in/user-1", True),
    (RECEIVE, "chat/in/user-2", False),
    (RECEIVE, "chat/pub/field", True),
    (RECEIVE, "dash/vision/cam-1", True),
    (RECEIVE, "chat/out", False),
]

DEVICE_MATRIX = [
    (CONNECT, "gw-1", True),
    (PUBLISH, "chat/stream", True),
    (PUBLISH, "chat/out", True),
    (PUBLISH, "$aws/things/gw-1/shadow/update", True),
    (PUBLISH, "$aws/things/gw-1/shadow/name/config/get", True),
    (PUBLISH, "$aws/things/gw-2/shadow/update", False),
    (PUBLISH, "chat/pub/alerts", False),
    (SUBSCRIBE, "$aws/things/gw-1/shadow/#", True),
    (SUBSCRIBE, "$aws/things/+/shadow/#", False),
    (SUBSCRIBE, "dash/#", False),
    (RECEIVE, "$aws/things/gw-1/shadow/update/delta", True),
    (RECEIVE, "$aws/things/gw-2/shadow/update/delta", False),
]


@pytest.mark.parametrize(("action", "name", "allowed"), USER_MATRIX)
def test_the_templates_user_policy(action, name, allowed):
    assert authority("user").may(action, name) is allowed


@pytest.mark.parametrize(("action", "name", "allowed"), DEVICE_MATRIX)
def test_the_templates_device_policy(action, name, allowed):
    assert authority("device", "gw-1").may(action, name) is allowed


def statement(effect: str, action, resource) -> dict:
    return {"Effect": effect, "Action": action, "Resource": resource}


def policy(*statements) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ARN = "arn:aws:iot:us-east-1:000000000000"


def test_explicit_deny_wins_across_documents():
    allow_all = policy(statement("Allow", "iot:*", "*"))
    deny_one = policy(statement("Deny", "iot:Publish", f"{ARN}:topic/secret/*"))
    who = ClientAuthority(parse_policies([allow_all, deny_one], "us-east-1", "000000000000"), "c")
    assert who.may(PUBLISH, "open/x")
    assert not who.may(PUBLISH, "secret/x")
    assert who.may(SUBSCRIBE, "secret/x")


def test_question_mark_matches_one_character_and_actions_ignore_case():
    document = policy(statement("Allow", "IOT:publish", f"{ARN}:topic/room-?"))
    who = ClientAuthority(parse_policies([document], "us-east-1", "000000000000"), "c")
    assert who.may(PUBLISH, "room-1")
    assert not who.may(PUBLISH, "room-12")


def test_a_variable_without_a_value_matches_nothing():
    document = policy(statement("Allow", "iot:Publish", f"{ARN}:topic/t/${{iot:Connection.Thing.ThingName}}"))
    who = ClientAuthority(parse_policies([document], "us-east-1", "000000000000"), "c")
    assert not who.may(PUBLISH, "t/")
    assert ClientAuthority(who.policy, "c", thing="gw-1").may(PUBLISH, "t/gw-1")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "policy document 1 is not JSON"),
        (policy({"Effect": "Maybe", "Action": "iot:*", "Resource": "*"}), "Effect must be Allow or Deny"),
        (policy({"Effect": "Allow", "Action": 5, "Resource": "*"}), "Statement[0].Action must be a string"),
    ],
)
def test_unreadable_policies_name_the_problem(document, message):
    with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_policies([document], "us-east-1", "000000000000")
