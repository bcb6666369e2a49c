"""The Lambda host under a real core: context, pinned state, errors, timeouts, queue overflow, idle stop."""

from __future__ import annotations

from tests.core_process import REPO
from tests.edge_components import Listener, deploy, publish_from_component

HOST = "com.edgeway.LambdaHost"
TOPICS = ["edgeway/lambda/results", "edgeway/errors"]
CODE = str(REPO / "tests" / "lambda_handlers")


def host_config(handler: str, **more) -> dict:
    return {
        HOST: {
            "FunctionName": "probe",
            "Handler": f"probe_handlers:{handler}",
            "CodePath": CODE,
            "EventSources": [{"topic": "test/events/+", "type": "PUB_SUB"}],
            "ResultTopic": "edgeway/lambda/results",
            "EnvironmentVariables": {"GREETING": "hello"},
            "accessControl": {
                "aws.greengrass.ipc.pubsub": {
                    "test:events": {
                        "operations": ["aws.greengrass#SubscribeToTopic"],
                        "resources": ["test/events/+"],
                    }
                }
            },
            **more,
        }
    }


def results(listener: Listener, count: int) -> list[dict]:
    return listener.wait("edgeway/lambda/results", lambda r: len(r) >= count, what=f"{count} results")


def test_a_pinned_handler_gets_a_lambda_context_and_keeps_its_state(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, TOPICS)
    deploy(core, tmp_path, host_config("echo"))
    publish_from_component(
        core, tmp_path, "test.Send", [("test/events/a", {"n": 1}), ("test/events/b", {"n": 2})]
    )
    first, second = (r["result"] for r in results(listener, 2))
    assert first["event"] == {"n": 1} and first["subject"] == "test/events/a"
    assert (first["function"], first["greeting"]) == ("probe", "hello")
    assert 0 < first["remainingMs"] <= 3000
    assert first["arn"].endswith(":function:probe")
    assert (first["calls"], second["calls"]) == (1, 2) and first["pid"] == second["pid"]


def test_a_handler_that_raises_is_reported_and_the_host_keeps_serving(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, TOPICS)
    deploy(core, tmp_path, host_config("boom"))
    publish_from_component(
        core, tmp_path, "test.Send", [("test/events/x", {"fail": "this"}), ("test/events/x", {"ok": 1})]
    )
    assert results(listener, 1)[0]["result"] == {"ok": 1}
    (error,) = listener.wait("edgeway/errors", lambda r: len(r) >= 1)
    assert (error["errorType"], error["error"], error["function"]) == (
        "ValueError",
        "cannot handle this",
        "probe",
    )
    assert "invocation-failed" in core.log_text(HOST)
    assert core.state(HOST) == "RUNNING"


def test_a_handler_past_its_timeout_is_stopped_and_the_next_event_is_served(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, TOPICS)
    deploy(core, tmp_path, host_config("slow", TimeoutInSeconds=0.5))
    publish_from_component(
        core,
        tmp_path,
        "test.Send",
        [("test/events/s", {"seconds": 30, "n": 1}), ("test/events/s", {"seconds": 0, "n": 2})],
    )
    (done,) = results(listener, 1)
    assert done["result"]["n"] == 2
    (error,) = listener.wait("edgeway/errors", lambda r: len(r) >= 1)
    assert error["errorType"] == "Timeout" and "0.5 s" in error["error"]


def test_a_full_queue_refuses_new_events_counts_them_and_serves_the_queued_ones(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, TOPICS)
    deploy(core, tmp_path, host_config("slow", MaxQueueSize=2, TimeoutInSeconds=5))
    events = [("test/events/q", {"seconds": 0.5, "n": n}) for n in range(8)]
    publish_from_component(core, tmp_path, "test.Send", events)
    overflow = listener.wait("edgeway/errors", lambda r: len(r) >= 4, what="refusals")
    assert {e["errorType"] for e in overflow} == {"QueueFull"}
    served = results(listener, 8 - len(overflow))
    served_ns = [r["result"]["n"] for r in served]
    assert served_ns == sorted(served_ns) and served_ns[0] == 0  # FIFO, oldest kept
    assert len(served_ns) + len(listener.records("edgeway/errors")) == 8  # each event served or refused


def test_an_on_demand_worker_stops_when_idle_and_starts_again_for_the_next_event(start_core, tmp_path):
    core = start_core()
    listener = Listener(core, tmp_path, TOPICS)
    deploy(core, tmp_path, host_config("echo", Pinned=False, MaxIdleTimeInSeconds=0.3))
    publish_from_component(core, tmp_path, "test.Send1", [("test/events/a", {"n": 1})])
    first = results(listener, 1)[0]["result"]
    from tests.waiting import wait_for

    wait_for(lambda: "worker-idle-stopped" in core.log_text(HOST), 20, "the idle worker to stop")
    publish_from_component(core, tmp_path, "test.Send2", [("test/events/a", {"n": 2})])
    second = results(listener, 2)[1]["result"]
    assert second["pid"] != first["pid"] and second["calls"] == 1  # a fresh process: module state is new
