"""The device's failover across discovered cores: when no endpoint answers it asks discovery again and
tries what that finds, so a device that discovered before its core had registered its CA connects
without a restart."""

from __future__ import annotations

import pytest

from device_client.discovery import Candidate, FailoverTransport
from device_client.errors import ConnectError, DiscoveryError
from device_client.transport import Endpoint, TransportEvents
from tests.fakes.device_transport import FakeBroker, FakeTransport

UP, DOWN = FakeBroker(up=True), FakeBroker(up=False)


class Events(TransportEvents):
    def __init__(self) -> None:
        self.connections: list[bool] = []

    def on_connection(self, connected: bool, reason: str) -> None:
        self.connections.append(connected)

    def on_acknowledged(self, token: int) -> None:
        pass

    def on_message(self, topic: str, payload: bytes) -> None:
        pass


def candidate(host: str) -> Candidate:
    return Candidate(Endpoint(host, 8883, "sensor-1"), f"core-{host}")


def make(endpoint: Endpoint) -> FakeTransport:
    return FakeTransport(UP if endpoint.host.startswith("up") else DOWN)


def test_when_no_core_answers_discovery_is_asked_again_and_what_it_finds_is_tried():
    asked: list[int] = []
    good: list[Candidate] = []

    def rediscover() -> list[Candidate]:
        asked.append(1)
        return [candidate("down-b"), candidate("up-c")]

    transport = FailoverTransport(
        [candidate("down-a")], make=make, on_good=good.append, rediscover=rediscover
    )
    events = Events()
    transport.connect(events)
    assert asked == [1] and events.connections == [True]
    assert transport.connected_to == candidate("up-c") and good == [candidate("up-c")]
    transport.connect(events)  # the core found the second time is the one tried first from now on
    assert asked == [1]


def test_discovery_is_not_asked_again_while_a_core_answers():
    def rediscover() -> list[Candidate]:
        raise AssertionError("asked again while a core answered")

    transport = FailoverTransport([candidate("down-a"), candidate("up-b")], make=make, rediscover=rediscover)
    transport.connect(Events())
    assert transport.connected_to == candidate("up-b")


def test_when_discovery_fails_too_the_error_names_every_failure():
    def rediscover() -> list[Candidate]:
        raise DiscoveryError("discovery for sensor-1 at 127.0.0.1:8443 failed: HTTP 503")

    transport = FailoverTransport([candidate("down-a")], make=make, rediscover=rediscover)
    with pytest.raises(ConnectError) as raised:
        transport.connect(Events())
    assert "fake broker is down" in str(raised.value) and "HTTP 503" in str(raised.value)
    assert transport.candidates == [candidate("down-a")]  # kept for the next try
