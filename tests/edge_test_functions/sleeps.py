"""A mistake: takes longer than its trigger allows."""

import time


def handler(event, context):
    time.sleep(1.5)
    return event["Records"][0]["cf"]["request"]
