"""Records each invocation (event type and uri) in the file its counter.json names; changes nothing."""

import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(_HERE, "counter.json"), encoding="utf-8") as _file:
    _LOG = json.load(_file)["log"]


def handler(event, context):
    cf = event["Records"][0]["cf"]
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps([cf["config"]["eventType"], cf["request"]["uri"]]) + "\n")
    return cf["response"] if "response" in cf else cf["request"]
