"""The benchmark's receivers count what they read without parsing it, and know when the last is whole.

A broker's PUBLISH packets (encoded by the stand-in's own encoder) cut into reads at arbitrary points:
after every read the count is the packets begun, `last_is_whole` says whether the bytes read end at a
packet's end, and the parse after the run finds every payload's id at the read that completed it.
"""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from bench.receivers import WINDOW, Stream
from edgeway_common.mqtt_publish_codec import encode_publish_qos0

TOPIC = "chat/pub/lobby"


def payload(n: int, text: str) -> bytes:
    return json.dumps({"id": f"m{n}", "text": text, "user": "bench"}).encode()


texts = st.text(max_size=300)  # any text, a topic's name included: JSON escapes nothing that matters here


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, min_size=1, max_size=30), st.lists(st.integers(1, 400), min_size=1, max_size=200))
def test_counts_and_wholeness_follow_the_packets_whatever_the_reads(messages, cuts):
    packets = [encode_publish_qos0(TOPIC, payload(n, text)) for n, text in enumerate(messages)]
    stream = b"".join(packets)
    starts, ends, at = [], [], 0
    for packet in packets:
        starts.append(at)
        at += len(packet)
        ends.append(at)
    reads, at = Stream(TOPIC), 0
    sizes = iter(cuts)
    stamp = 0
    while at < len(stream):
        size = next(sizes, len(stream))
        data, at, stamp = stream[at : at + size], at + size, stamp + 1
        begun = reads.take(stamp, data)
        read = min(at, len(stream))
        # a packet counts once its topic field is read whole: 1 byte of type, 1-2 of length, then the field
        assert begun == sum(1 for start in starts if start + len(packet_head(stream, start)) <= read)
        if begun:
            assert reads.last_is_whole() == (read in ends)
    assert reads.publishes == len(messages) and reads.last_is_whole()
    assert [found for _, found in reads.arrivals()] == [f"m{n}" for n in range(len(messages))]


def packet_head(stream: bytes, start: int) -> bytes:
    """A packet's bytes up to the end of its topic field."""
    at = start + 1
    while stream[at] & 0x80:
        at += 1
    return stream[start : at + 1 + 2 + len(TOPIC)]


def test_a_last_packet_larger_than_the_window_is_judged_by_parsing_everything():
    big = encode_publish_qos0(TOPIC, payload(1, "x" * (2 * WINDOW)))
    stream = encode_publish_qos0(TOPIC, payload(0, "first")) + big
    reads = Stream(TOPIC)
    half = len(stream) - WINDOW // 2
    for at in range(0, half, 1000):
        reads.take(at, stream[at : min(at + 1000, half)])
    assert reads.publishes == 2 and not reads.last_is_whole()
    reads.take(half, stream[half:])
    assert reads.last_is_whole()
    assert [found for _, found in reads.arrivals()] == ["m0", "m1"]
