"""One worker process of the Lambda host: imports `module:function` once and runs invocations.

    python3 -m greengrass_components.components.lambda_worker MODULE:FUNCTION

Protocol: one JSON object per line. In on stdin: `{"id", "event", "context"}`; out: `{"id", "ok": true,
"result"}` or `{"id", "ok": false, "error", "errorType", "trace"}`, on the file descriptor that was
stdout; the handler's own prints go to stderr (the component's log), so they cannot corrupt the
protocol. A worker is a process so that a timeout can stop a handler for real.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
from typing import Any

from edgeway_common.lambda_context import ClientContext, LambdaContext


def context_from(raw: dict[str, Any]) -> LambdaContext:
    """The context as Greengrass gives it to Lambda components; the deadline is wall-clock time, so it
    means the same in the host that set it and in this worker."""
    name = str(raw["functionName"])
    return LambdaContext(
        name,
        str(raw["requestId"]),
        float(raw["deadline"]),
        clock=time.time,
        function_version=str(raw.get("functionVersion", "$LATEST")),
        invoked_function_arn=str(raw.get("invokedFunctionArn", "")),
        memory_limit_in_mb=str(raw.get("memoryLimitInMb", 128)),
        log_group_name=f"/aws/greengrass/Lambda/{name}",
        log_stream_name=str(raw.get("thing", "")),
        client_context=ClientContext(custom={"subject": raw.get("topic", "")}),
    )


def main() -> int:
    target = sys.argv[1]
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # print() in a handler goes to stderr
    sys.stdout = sys.stderr
    module_name, _, function_name = target.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), function_name)
    except (ImportError, AttributeError) as exc:
        protocol.write(
            json.dumps(
                {"id": None, "ok": False, "error": f"cannot load {target}: {exc}", "errorType": "ImportError"}
            )
            + "\n"
        )
        return 2
    protocol.write(json.dumps({"id": None, "ok": True, "ready": target}) + "\n")
    for line in sys.stdin:
        request = json.loads(line)
        try:
            result = function(request["event"], context_from(request["context"]))
            answer = {"id": request["id"], "ok": True, "result": result}
            text = json.dumps(answer, default=str)
        except Exception as exc:  # the handler's failure is reported, never fatal to the worker
            text = json.dumps(
                {
                    "id": request["id"],
                    "ok": False,
                    "error": str(exc),
                    "errorType": type(exc).__name__,
                    "trace": traceback.format_exc(limit=5),
                }
            )
        protocol.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
