"""The stand-in's jobs rules with a fake clock, and the discovery answer as the official SDK parses it."""

from __future__ import annotations

import pytest
from awsiot.greengrass_discovery import DiscoverResponse

from cloud_backend.broker.jobs_store import JobError, JobsStore
from cloud_backend.local.greengrass_registry import Core, Endpoint, discover_response


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def jobs(tmp_path):
    clock = Clock()
    store = JobsStore(tmp_path / "jobs.sqlite3", clock)
    yield store, clock
    store.close()


def test_a_things_jobs_come_in_order_and_the_job_completes_when_every_execution_ends(jobs):
    store, clock = jobs
    store.create("first", ["arn:aws:iot:us-east-1:000000000000:thing/d1", "d2"], {"operation": "a"}, "", None)
    clock.now += 1
    store.create("second", ["d1"], {"operation": "b"}, "", None)
    started = store.start_next("d1", {"step": "1"})
    assert started is not None and started.job_id == "first" and started.status == "IN_PROGRESS"
    assert store.start_next("d1", {}).job_id == "first"  # the one in progress, again
    done = store.update("first", "d1", "SUCCEEDED", {"result": "ok"}, started.version)
    assert done.status_details == {"step": "1", "result": "ok"} and done.version == started.version + 1
    assert store.next_for("d1").job_id == "second"
    assert store.job("first").status == "IN_PROGRESS"  # d2 has not run it
    store.update("first", "d2", "FAILED", {"reason": "no disk"}, None)
    assert store.job("first").status == "COMPLETED"


def test_updates_that_break_the_rules_are_refused_with_iots_codes(jobs):
    store, _ = jobs
    store.create("j", ["d"], {}, "", None)
    store.start_next("d", {})
    with pytest.raises(JobError) as wrong_version:
        store.update("j", "d", "SUCCEEDED", None, 99)
    assert wrong_version.value.code == "VersionMismatch"
    store.update("j", "d", "SUCCEEDED", None, None)
    with pytest.raises(JobError) as ended:
        store.update("j", "d", "FAILED", None, None)
    assert ended.value.code == "InvalidStateTransitionException"
    with pytest.raises(JobError) as unknown:
        store.update("j", "d", "TIMED_OUT", None, None)
    assert unknown.value.code in ("InvalidRequestException", "InvalidStateTransitionException")
    with pytest.raises(JobError) as duplicate:
        store.create("j", ["d"], {}, "", None)
    assert duplicate.value.code == "ResourceAlreadyExistsException"


def test_an_execution_in_progress_past_its_timeout_times_out(jobs):
    store, clock = jobs
    store.create("slow", ["d"], {}, "", 2)
    store.start_next("d", {})
    clock.now += 119
    assert store.time_out() == []
    clock.now += 1
    assert store.time_out() == ["d"]
    assert store.execution("slow", "d").status == "TIMED_OUT" and store.job("slow").status == "COMPLETED"


def test_the_discovery_answer_parses_with_the_official_sdk():
    core = Core(
        "gateway-1", (Endpoint("a", "127.0.0.1", 8883, "local"), Endpoint("b", "10.0.0.5", 8883)), "PEM"
    )
    parsed = DiscoverResponse.from_payload(discover_response([core]))
    (group,) = parsed.gg_groups
    (sdk_core,) = group.cores
    assert sdk_core.thing_arn == "arn:aws:iot:us-east-1:000000000000:thing/gateway-1"
    assert [(c.host_address, c.port) for c in sdk_core.connectivity] == [
        ("127.0.0.1", 8883),
        ("10.0.0.5", 8883),
    ]
    assert group.certificate_authorities == ["PEM"]


def test_a_rollout_releases_executions_at_its_rate_and_a_group_target_reaches_every_member(jobs):
    store, clock = jobs
    members = {"fleet": ["a", "b", "c"]}
    _, things = store.create(
        "roll", ["arn:aws:iot:us-east-1:000000000000:thinggroup/fleet"], {}, "", None,
        members=members.__getitem__, per_minute=2,
    )  # fmt: skip
    assert things == ["a", "b", "c"]
    assert [store.next_for(t) is not None for t in things] == [True, False, False]
    clock.now += 30  # 2 a minute: the second one 30 s after the first
    assert store.released() == ["b"] and store.next_for("b") is not None and store.next_for("c") is None
    clock.now += 30
    assert store.released() == ["c"] and store.released() == []  # each told once


def test_the_abort_criteria_cancel_what_is_still_queued(jobs):
    store, _ = jobs
    criteria = [
        {
            "failureType": "FAILED",
            "action": "CANCEL",
            "thresholdPercentage": 50,
            "minNumberOfExecutedThings": 2,
        }
    ]
    store.create("risky", ["a", "b", "c", "d"], {}, "", None, abort=criteria)
    for thing in ("a", "b"):
        store.start_next(thing, {})
    store.update("risky", "a", "FAILED", {"reason": "Install exited with code 3"}, None)
    assert store.job("risky").status == "IN_PROGRESS"  # one executed: below the minimum
    store.update("risky", "b", "FAILED", None, None)
    assert store.job("risky").status == "CANCELED" and "aborted" in store.job("risky").description
    assert {store.execution("risky", t).status for t in ("c", "d")} == {"CANCELED"}
