"""Sends its own process the SIGALRM that a timer left by an earlier, shorter call would send: a call
with time left must not be stopped by it."""

import os
import signal


def handler(event, context):
    os.kill(os.getpid(), signal.SIGALRM)
    total = sum(range(1000))  # the interpreter runs a pending signal handler between instructions
    request = event["Records"][0]["cf"]["request"]
    request["total"] = total
    return request
