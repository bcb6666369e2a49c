"""The device client with its real SQLite outbox and an in-process broker: nothing lost, order per
topic kept, bounds and their drops counted and kept, backoff with jitter, subscriptions restored."""

from __future__ import annotations

import json
import random
import threading

import pytest

from device_client.backoff import Backoff
from device_client.client import DeviceClient
from device_client.errors import OutboxFullError
from device_client.outbox import FullPolicy, Outbox
from tests.fakes.device_transport import FakeBroker, FakeTransport
from tests.waiting import wait_for


def no_sleep(event: threading.Event, seconds: float) -> bool:
    """Backoff and idle waits cut to a millisecond: the test does not wait out a reconnect delay."""
    return event.wait(min(seconds, 0.001))


def ids_in_order(delivered, topic=None):
    """What a backend that drops seen record ids keeps, in arrival order."""
    seen, kept = set(), []
    for t, payload in delivered:
        if topic is not None and t != topic:
            continue
        record_id = json.loads(payload)["id"]
        if record_id not in seen:
            seen.add(record_id)
            kept.append(record_id)
    return kept


def test_a_day_offline_at_one_reading_a_second_drains_with_none_lost_across_random_disconnects(tmp_path):
    day = 86_400
    now = [1_700_000_000.0]
    outbox = Outbox(tmp_path / "outbox.sqlite3", "sensor-1", synchronous="NORMAL", clock=lambda: now[0])
    broker = FakeBroker(up=False)
    transport = FakeTransport(broker)
    client = DeviceClient(transport, outbox, window=50, rng=random.Random(7), wait=no_sleep)
    client.start()
    stored = []
    for second in range(day):  # the broker is down the whole day
        now[0] += 1
        topic = "dt/sensor-1/temperature" if second % 2 else "dt/sensor-1/humidity"
        stored.append((topic, client.publish(topic, {"t": now[0], "v": second % 40}).id))
    assert len(outbox) == day and client.counters.connect_failures > 0
    rng = random.Random(11)
    broker.up = True
    for _ in range(10):  # each drop happens before the next is arranged
        before = client.counters.disconnects
        transport.drop_after(rng.randint(100, 5000), lose_acks=rng.randint(0, 40))
        wait_for(lambda before=before: client.counters.disconnects > before, 120, "the arranged disconnect")
    assert client.wait_until_drained(300)
    client.stop()
    assert client.counters.disconnects == 10
    assert client.counters.sent > day  # the unacknowledged ones were sent again
    for topic in ("dt/sensor-1/temperature", "dt/sensor-1/humidity"):
        expected = [record_id for t, record_id in stored if t == topic]
        assert ids_in_order(broker.delivered, topic) == expected  # none lost, none twice, in order
    assert len(outbox) == 0 and outbox.stats().dropped_total == 0


def test_backoff_grows_to_its_cap_with_full_jitter():
    backoff = Backoff(base=0.5, cap=8.0, rng=random.Random(3))
    delays = [backoff.next_delay() for _ in range(12)]
    steps = [min(8.0, 0.5 * 2**i) for i in range(12)]
    assert all(0.0 <= d <= s for d, s in zip(delays, steps, strict=True))
    assert max(delays[6:]) > 4.0  # it does reach far up the capped step
    assert len(set(delays)) == len(delays)  # jittered, not a fixed ladder
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_subscriptions_are_restored_on_every_connection_and_the_state_listener_hears_both_ways(tmp_path):
    broker = FakeBroker()
    transport = FakeTransport(broker)
    states = []
    client = DeviceClient(
        transport,
        Outbox(tmp_path / "o.sqlite3", "d"),
        wait=no_sleep,
        on_state=lambda up, why: states.append(up),
    )
    client.subscribe("$aws/things/d/jobs/notify-next", lambda t, p: None)
    client.start()
    client.publish("dt/d/x", {"v": 1})
    assert client.wait_until_drained(10)
    transport.drop_after(1)
    client.publish("dt/d/x", {"v": 2})
    assert client.wait_until_drained(10)
    client.stop()
    assert broker.subscriptions.count("$aws/things/d/jobs/notify-next") == broker.connects >= 2
    assert states[:3] == [True, False, True]


def test_the_refuse_policy_refuses_and_counts_and_the_count_survives_a_restart(tmp_path):
    path = tmp_path / "o.sqlite3"
    outbox = Outbox(path, "d", max_count=3, policy=FullPolicy.REFUSE)
    for i in range(3):
        outbox.append("dt/d/x", {"v": i})
    with pytest.raises(OutboxFullError, match=r"holds 3 readings.*policy refuse"):
        outbox.append("dt/d/x", {"v": 3})
    outbox.close()
    reopened = Outbox(path, "d", max_count=3, policy=FullPolicy.REFUSE)
    assert len(reopened) == 3 and reopened.stats().dropped == {0: 1}
    assert [json.loads(r.payload)["v"] for r in reopened.pending()] == [0, 1, 2]


def test_drop_oldest_takes_the_lowest_priority_class_first_and_never_a_higher_one_for_a_lower(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", "d", max_count=4, policy=FullPolicy.DROP_OLDEST)
    outbox.append("alerts", {"n": "a1"}, priority=5)
    for n in ("t1", "t2", "t3"):
        outbox.append("telemetry", {"n": n}, priority=0)
    outbox.append("telemetry", {"n": "t4"}, priority=0)  # t1 goes
    outbox.append("alerts", {"n": "a2"}, priority=5)  # t2 goes
    assert [json.loads(r.payload)["n"] for r in outbox.pending()] == ["a1", "t3", "t4", "a2"]
    outbox.append("alerts", {"n": "a3"}, priority=5)  # t3 goes
    outbox.append("alerts", {"n": "a4"}, priority=5)  # t4 goes
    with pytest.raises(OutboxFullError, match="higher priority than 0"):
        outbox.append("telemetry", {"n": "t5"}, priority=0)  # everything left matters more
    assert [json.loads(r.payload)["n"] for r in outbox.pending()] == ["a1", "a2", "a3", "a4"]
    assert outbox.stats().dropped == {0: 5}


def test_the_byte_bound_holds_as_well_as_the_count(tmp_path):
    outbox = Outbox(tmp_path / "o.sqlite3", "d", max_bytes=200, policy=FullPolicy.DROP_OLDEST)
    for i in range(20):
        outbox.append("t", {"v": "x" * 20, "i": i})
    assert outbox.stats().bytes <= 200 and outbox.stats().dropped_total > 0
    assert [json.loads(r.payload)["i"] for r in outbox.pending()][-1] == 19


def test_ids_are_unique_across_restarts_even_after_the_outbox_emptied(tmp_path):
    path = tmp_path / "o.sqlite3"
    first = Outbox(path, "d")
    a = first.append("t", {"v": 1})
    first.remove([a.seq])
    first.close()
    second = Outbox(path, "d")
    b = second.append("t", {"v": 1})
    assert a.id != b.id and a.id.startswith("d-") and b.id.startswith("d-")
