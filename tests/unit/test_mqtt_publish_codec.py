"""The brokers' own PUBLISH decoding (`mqtt_publish_codec`) reads what amqtt's encoder writes, field for
field, and refuses what MQTT 3.1.1 says a client must not send; its QoS 0 encoding is amqtt's, byte for
byte."""

from __future__ import annotations

import re

import pytest
from amqtt.mqtt.publish import PublishPacket
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeway_common.mqtt_publish_codec import MalformedPublish, Publish, decode_publish, encode_publish_qos0

TOPICS = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00#+"), min_size=1, max_size=60
)


def split(packet: bytes) -> tuple[int, bytes]:
    """(flags, body) of an encoded packet: the fixed header's low bits and what follows it."""
    at = 1
    while packet[at] & 0x80:
        at += 1
    return packet[0] & 0x0F, packet[at + 1 :]


@settings(max_examples=300, deadline=None)
@given(
    topic=TOPICS,
    data=st.binary(max_size=300),
    qos=st.sampled_from([0, 1, 2]),
    packet_id=st.integers(1, 65535),
    dup=st.booleans(),
    retain=st.booleans(),
)
def test_what_amqtt_encodes_decodes_to_the_same_fields(topic, data, qos, packet_id, dup, retain):
    given_id = packet_id if qos else None
    flags, body = split(PublishPacket.build(topic, data, given_id, dup, qos, retain).to_bytes())
    assert decode_publish(flags, body) == Publish(topic, qos, given_id, data, dup, retain)


@settings(max_examples=300, deadline=None)
@given(
    topic=TOPICS,
    # short ones, and ones about where the remaining length takes a third byte (past 16,383)
    data=st.one_of(st.binary(max_size=300), st.binary(min_size=16_300, max_size=16_500)),
)
def test_a_qos_0_publish_encodes_as_amqtt_encodes_it(topic, data):
    assert (
        encode_publish_qos0(topic, data) == PublishPacket.build(topic, data, None, False, 0, False).to_bytes()
    )


def test_a_publish_past_three_length_bytes_encodes_as_amqtt_encodes_it():
    data = bytes(2_097_200)  # a remaining length of four bytes
    assert encode_publish_qos0("t", data) == PublishPacket.build("t", data, None, False, 0, False).to_bytes()


@pytest.mark.parametrize(
    ("flags", "body", "reason"),
    [
        (0x06, b"\x00\x01a\x00\x01", "QoS 3"),
        (0x00, b"\x00", "no topic length"),
        (0x00, b"\x00\x05ab", "shorter than its topic"),
        (0x02, b"\x00\x01a\x00", "shorter than its topic and packet id"),
        (0x00, b"\x00\x02\xc3\x28", "not UTF-8"),
        (0x00, b"\x00\x03a\x00b", "U+0000"),
        (0x02, b"\x00\x01a\x00\x00", "packet id 0"),
    ],
)
def test_what_a_client_must_not_send_is_refused_naming_the_rule(flags, body, reason):
    with pytest.raises(MalformedPublish, match=re.escape(reason)):
        decode_publish(flags, body)


def test_an_empty_payload_and_an_empty_topic_decode():
    assert decode_publish(0, b"\x00\x00") == Publish("", 0, None, b"", False, False)  # the broker refuses ""
