"""A producer component for tests: hands (topic, document) messages to the uplink as the project's own
components do (`CoreLink.publish_records` with the hand-off from EDGEWAY_HANDOFF), in order, then
says so on stdout and exits."""

import json
import sys

from greengrass_components.components.handoff import HandOff
from greengrass_components.components.ipc_client import CoreLink

link = CoreLink(handoff=HandOff.from_env())
with open(sys.argv[1]) as messages:
    for topic, document in json.load(messages):
        records = document.get("records", [document])
        link.publish_records(topic, "gateway-1", document.get("source", "alerts"), records)
print("feeder-done", flush=True)
