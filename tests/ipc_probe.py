"""A component for the tests: runs SDK calls with the real GreengrassCoreIPCClientV2 and records the outcomes.

    python3 ipc_probe.py RESULTS.jsonl ACTIONS.json

Each action is `{"op": <clientv2 method>, "args": {...}}`; arguments that are
shapes are written `{"__shape__": "PublishMessage", "payload": <wire JSON>}`.
Outcomes are JSON lines: `{"step": i, "ok": true, "result": ...}`, `{"step": i,
"ok": false, "error": <class>, "message": ...}` and `{"step": i, "event": ...}`
for stream events. Special ops: `close_stream` (args: step), `sleep` (seconds),
`wait_file` (path: proceed once it exists), `exit` (code), and two that answer
events: `validate_and_reply` (status, message: answer every configuration
validation) and `defer_updates` (times, recheck_ms: defer each update that many
times, then agree). Answers go from a thread of their own, never from the SDK's
callback.
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import threading
import time


def main() -> int:
    results_path, actions_path = sys.argv[1], sys.argv[2]
    lock = threading.Lock()
    out = open(results_path, "a", buffering=1)  # noqa: SIM115

    def emit(record: dict) -> None:
        with lock:
            out.write(json.dumps(record, default=str) + "\n")

    from awsiot.greengrasscoreipc import model
    from awsiot.greengrasscoreipc.clientv2 import GreengrassCoreIPCClientV2

    def build(value, key=""):
        if key == "payload" and isinstance(value, str):
            return value.encode()
        if key == "timestamp" and isinstance(value, int | float):
            return datetime.datetime.fromtimestamp(value, datetime.UTC)
        if isinstance(value, dict) and "__shape__" in value:
            return getattr(model, value["__shape__"])._from_payload(value["payload"])
        return value

    def payload(shape):
        return shape._to_payload() if shape is not None and hasattr(shape, "_to_payload") else shape

    try:
        client = GreengrassCoreIPCClientV2()
    except Exception as exc:  # the test reads what went wrong
        emit({"step": "connect", "ok": False, "error": type(exc).__name__, "message": str(exc)})
        return 3
    emit({"step": "connect", "ok": True})
    operations = {}
    with open(actions_path) as handle:
        actions = json.load(handle)
    for index, action in enumerate(actions):
        name, args = action["op"], {k: build(v, k) for k, v in action.get("args", {}).items()}
        try:
            if name == "sleep":
                time.sleep(args["seconds"])
                continue
            if name == "wait_file":
                deadline = time.monotonic() + 60
                while not os.path.exists(args["path"]) and time.monotonic() < deadline:
                    time.sleep(0.02)
                continue
            if name == "exit":
                emit({"step": index, "exit": args.get("code", 0)})
                out.flush()
                os._exit(args.get("code", 0))
            if name == "validate_and_reply":

                def reply(event, i=index, a=args):
                    deployment = event.validate_configuration_update_event.deployment_id
                    report = model.ConfigurationValidityReport(
                        status=a["status"], deployment_id=deployment, message=a.get("message", "")
                    )
                    emit({"step": i, "event": payload(event)})
                    threading.Thread(
                        target=lambda: emit(
                            {
                                "step": i,
                                "replied": payload(
                                    client.send_configuration_validity_report(
                                        configuration_validity_report=report
                                    )
                                ),
                            }
                        )
                    ).start()

                client.subscribe_to_validate_configuration_updates(on_stream_event=reply)
                emit({"step": index, "ok": True})
                continue
            if name == "defer_updates":
                deferrals = {"left": args["times"]}

                def answer(event, i=index, a=args, deferrals=deferrals):
                    emit({"step": i, "event": payload(event)})
                    if event.pre_update_event is None:
                        return
                    recheck = a["recheck_ms"] if deferrals["left"] > 0 else 0
                    deferrals["left"] -= 1
                    threading.Thread(
                        target=lambda: emit(
                            {
                                "step": i,
                                "replied": payload(
                                    client.defer_component_update(
                                        deployment_id=event.pre_update_event.deployment_id,
                                        message="busy",
                                        recheck_after_ms=recheck,
                                    )
                                ),
                            }
                        )
                    ).start()

                client.subscribe_to_component_updates(on_stream_event=answer)
                emit({"step": index, "ok": True})
                continue
            if name == "close_stream":
                operations[args["step"]].close().result(10)
                emit({"step": index, "ok": True})
                continue
            method = getattr(client, name)
            if name.startswith("subscribe_to"):
                result, operation = method(
                    **args,
                    on_stream_event=lambda event, i=index: emit({"step": i, "event": payload(event)}),
                    on_stream_error=lambda error, i=index: (
                        emit({"step": i, "stream_error": type(error).__name__}) or True
                    ),
                    on_stream_closed=lambda i=index: emit({"step": i, "closed": True}),
                )
                operations[index] = operation
            else:
                result = method(**args)
            emit({"step": index, "ok": True, "result": payload(result)})
        except Exception as exc:
            emit(
                {
                    "step": index,
                    "ok": False,
                    "error": type(exc).__name__,
                    "message": getattr(exc, "message", None) or str(exc),
                }
            )
    emit({"step": "done"})
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
